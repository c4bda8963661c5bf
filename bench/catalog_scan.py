"""Benchmark: the catalog sensor's pass over a large catalog, against the raw cost of reading it.

Generates N API entities (catalog-info.yaml, microcks.yaml, an OpenAPI file and an APIExamples
file each), then measures in one run:
  raw      read + sha256 of every file (the floor any change detection must pay)
  first    the first full pass: catalog listing, desired state, status-store upsert
  second   the same pass again with nothing changed (what every sensor tick costs)
and prints the ratio second/raw, the rows and events the second pass wrote (must be 0) and the
peak RSS. Usage: python bench/catalog_scan.py [--entities 10000] [--db-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import tempfile
import time
from pathlib import Path

from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog import FilesystemCatalog
from microcks_pipeline.sources.filestat import RACY_SECONDS
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.processor import ScanCache, process_catalog

OPENAPI = """openapi: 3.0.3
info:
  title: Orders {i}
  version: 1.0.0
paths:
  /orders/{{id}}:
    get:
      operationId: getOrder
      parameters:
        - name: id
          in: path
          required: true
          schema: {{type: string}}
      responses:
        "200":
          description: one order
          content:
            application/json:
              examples:
                first: {{value: {{id: "1", total: {i}}}}}
"""

EXAMPLES = """apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {{name: Orders {i}, version: 1.0.0}}
operations:
  'GET /orders/{{id}}':
    second:
      request: {{parameters: {{id: "2"}}}}
      response: {{status: "200", mediaType: application/json, body: {{id: "2", total: {i}}}}}
"""

CATALOG_INFO = """apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: orders-{i}
  annotations:
    bcgov/microcks-config-ref: dir:.
spec:
  type: openapi
  lifecycle: production
  owner: team-{team}
  definition:
    $text: ./openapi.yaml
"""

MICROCKS = """apiVersion: bcgov.dev/v1alpha1
kind: MicrocksSync
spec:
  mocks:
    - mockId: default
      artifacts:
        - kind: examples
          path: ./examples.yaml
"""


def generate(root: Path, count: int) -> list[Path]:
    files = []
    for i in range(count):
        folder = root / f"api-{i:05d}"
        folder.mkdir(parents=True)
        for name, text in (
            ("catalog-info.yaml", CATALOG_INFO.format(i=i, team=i % 17)),
            ("microcks.yaml", MICROCKS),
            ("openapi.yaml", OPENAPI.format(i=i)),
            ("examples.yaml", EXAMPLES.format(i=i)),
        ):
            path = folder / name
            path.write_text(text)
            files.append(path)
    return files


def raw_read(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        hashlib.sha256(path.read_bytes()).hexdigest()
    return time.perf_counter() - start


def timed_pass(source, reader, store, cache):
    start = time.perf_counter()
    result = process_catalog(source, reader, store, cache=cache)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument(
        "--db-url", default=None, help="status store URL (default: SQLite in a temp dir)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="catalog-scan-") as tmp:
        root = Path(tmp) / "catalog"
        files = generate(root, args.entities)
        store = StatusStore(args.db_url or f"sqlite:///{Path(tmp) / 'status.db'}")
        store.migrate()
        source = FilesystemCatalog(root)
        reader = ArtifactReader()

        # Files written in the last RACY_SECONDS are never trusted unchanged (filestat); a real
        # catalog's files are older than that, so let the generated ones age first.
        time.sleep(RACY_SECONDS)
        raw_read(files)  # warm the page cache so every measurement below reads from memory
        raw = raw_read(files)
        cache = ScanCache()  # what the sensor's long-lived code server keeps between ticks
        first, first_result = timed_pass(source, reader, store, cache)
        second, second_result = timed_pass(source, reader, store, cache)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        ratio = second / raw
        print(f"entities                       {args.entities}")
        print(f"files                          {len(files)}")
        print(f"raw read + sha256              {raw:8.2f} s   (baseline 1.00x)")
        print(
            f"first pass (desired + upsert)  {first:8.2f} s   ({first / raw:.2f}x)  rows {first_result.rows_written}"
        )
        print(f"second pass (unchanged)        {second:8.2f} s   ({ratio:.2f}x)")
        print(f"second pass rows written       {second_result.rows_written}")
        print(f"second pass events written     {second_result.events_written}")
        print(f"peak RSS                       {peak_mb:8.1f} MB")
        ok = (
            ratio <= 1.5
            and peak_mb <= 300
            and second_result.rows_written == 0
            and second_result.events_written == 0
        )
        print(
            "targets (ratio <= 1.5, RSS <= 300 MB, 0 rows, 0 events):", "met" if ok else "NOT met"
        )
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
