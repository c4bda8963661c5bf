"""Benchmark: what the catalog sensor's passes cost a Git host when the entities live there.

N API entities (default 2,000) spread over R repositories (default 100) of a local stand-in of
a Git host (tests/githost.py: GitHub Enterprise's or GitLab's commit, tree and raw endpoints
with their ETags), listed by a fake Backstage (tests/catalog_fixtures.py) the way a real one
locates them (`backstage.io/managed-by-location: url:<host>/<repo>/blob/main/...`). Each entity
reads three files from its repository: microcks.yaml, an OpenAPI file and an APIExamples file.
Measured in one run, as the host counts them:
  first      the first pass (nothing known): the baseline
  unchanged  the same pass again with nothing changed
  edit       one example file changed: what the next pass asks, and which entities it re-plans
and prints requests, 200s, 304s and body bytes (artifact bytes apart) beside the number of
files and repositories, with ratios against the first pass.
Usage: python bench/remote_scan.py [--entities 2000] [--repos 100] [--flavor github|gitlab]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from catalog_fixtures import TOKEN, FakeBackstage, api_entity, serve  # noqa: E402
from catalog_scan import EXAMPLES, OPENAPI  # noqa: E402 - the same files as the local bench
from githost import GitHost  # noqa: E402

from microcks_pipeline.sources.artifacts import ArtifactReader  # noqa: E402
from microcks_pipeline.sources.catalog import BackstageCatalog  # noqa: E402
from microcks_pipeline.sources.urls import UrlPolicy  # noqa: E402
from microcks_pipeline.store import StatusStore  # noqa: E402
from microcks_pipeline.sync.processor import ScanCache, process_catalog  # noqa: E402

FILES_PER_ENTITY = 3
PAGE_SIZE = 100  # Backstage listing page

MICROCKS = """spec:
  mocks:
    - mockId: default
      openapi: {path: ./openapi.yaml}
      artifacts:
        - kind: examples
          path: ./examples.yaml
"""


def repo_name(r: int, flavor: str) -> str:
    return f"group/team/repo-{r:03d}" if flavor == "gitlab" else f"org/repo-{r:03d}"


def populate(host: GitHost, entities: int, repos: int, flavor: str) -> dict[int, list[int]]:
    """Entity i lives in repository i % repos, under apis/orders-<i>/."""
    by_repo: dict[int, list[int]] = {}
    for i in range(entities):
        by_repo.setdefault(i % repos, []).append(i)
    for r, members in by_repo.items():
        files: dict[str, str] = {}
        for i in members:
            folder = f"apis/orders-{i}"
            files[f"{folder}/catalog-info.yaml"] = f"# orders-{i}\n"
            files[f"{folder}/microcks.yaml"] = MICROCKS
            files[f"{folder}/openapi.yaml"] = OPENAPI.format(i=i)
            files[f"{folder}/examples.yaml"] = EXAMPLES.format(i=i)
        host.push(repo_name(r, flavor), files, flavor=flavor)
    return by_repo


def listing(host_url: str, entities: int, repos: int, flavor: str) -> list[dict]:
    blob = "-/blob" if flavor == "gitlab" else "blob"
    return [
        api_entity(
            f"orders-{i}",
            location=f"url:{host_url}/{repo_name(i % repos, flavor)}/{blob}/main/"
            "apis/{name}/catalog-info.yaml",
        )
        for i in range(entities)
    ]


def measure(label, host, fake, run):
    host.reset_stats()
    fake.requests.clear()
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    totals = host.stats.total()
    return label, totals, dict(host.stats.requests), len(fake.requests), seconds, result


def ratio(value: int, base: int) -> str:
    return f"{value / base:.3f}x" if base else "-"


def report(rows, files: int, repos: int) -> None:
    print(
        f"{'pass':<10} {'requests':>9} {'200':>6} {'304':>6} {'body bytes':>11} "
        f"{'artifact bytes':>15} {'listing pages':>14} {'seconds':>8}  by kind"
    )
    base = rows[0][1]
    for label, totals, kinds, pages, seconds, _ in rows:
        print(
            f"{label:<10} {totals['requests']:>9} {totals['200']:>6} {totals['304']:>6} "
            f"{totals['bytes']:>11} {totals['raw_bytes']:>15} {pages:>14} {seconds:>8.2f}  "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        )
    for label, totals, *_ in rows[1:]:
        print(
            f"{label} vs first: requests {ratio(totals['requests'], base['requests'])}, "
            f"body bytes {ratio(totals['bytes'], base['bytes'])} "
            f"(baseline 1.00x = the first pass)"
        )
    print(f"files {files}, repositories {repos}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entities", type=int, default=2000)
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--flavor", choices=("github", "gitlab"), default="github")
    args = parser.parse_args(argv)
    repos = min(args.repos, args.entities)
    host = GitHost()
    by_repo = populate(host, args.entities, repos, args.flavor)
    policy = UrlPolicy(
        allowed_hosts=frozenset({"127.0.0.1"}),
        allow_http=True,
        allow_private=True,
        github_enterprise_hosts=frozenset({"127.0.0.1"}),
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(host.app()) as host_url,
    ):
        fake = FakeBackstage(entities=listing(host_url, args.entities, repos, args.flavor))
        with serve(fake.app()) as backstage_url:
            store = StatusStore(f"sqlite:///{tmp}/status.db")
            store.migrate()
            source = BackstageCatalog(backstage_url, token=TOKEN, page_size=PAGE_SIZE)
            reader, cache = ArtifactReader(policy), ScanCache()

            def run():
                return process_catalog(source, reader, store, cache=cache)

            rows = [measure("first", host, fake, run), measure("unchanged", host, fake, run)]
            edited = 7 % args.entities
            name = repo_name(edited % repos, args.flavor)
            changed = EXAMPLES.format(i=edited).replace("total:", "total: 1000 +")
            host.push(name, {f"apis/orders-{edited}/examples.yaml": changed}, flavor=args.flavor)
            before = {r.entity_ref: r.fingerprint_hash for r in store.rows()}
            rows.append(measure("edit", host, fake, run))
            after = {r.entity_ref: r.fingerprint_hash for r in store.rows()}
            store.dispose()
            source.close()
    report(rows, args.entities * FILES_PER_ENTITY, len(by_repo))
    first, unchanged, edit = (r[1] for r in rows)
    replanned = sorted(ref for ref in after if after[ref] != before.get(ref))
    print(f"first pass rows written         {rows[0][5].rows_written}")
    print(f"unchanged pass rows written     {rows[1][5].rows_written}")
    print(f"unchanged pass artifact bytes   {unchanged['raw_bytes']}")
    per_repo = unchanged["requests"] / len(by_repo)
    print(f"unchanged pass requests/repo    {per_repo:.2f}")
    print(f"edit pass re-planned entities   {len(replanned)} {replanned}")
    print(f"edit pass artifact requests     {edit_raw(rows[2][2])}")
    met = (
        unchanged["raw_bytes"] == 0
        and per_repo <= 1
        and replanned == [f"api:default/orders-{edited}"]
    )
    print(f"targets met: {'yes' if met else 'NO'}")
    return 0 if met else 1


def edit_raw(kinds: dict[str, int]) -> int:
    return kinds.get("raw", 0)


if __name__ == "__main__":
    sys.exit(main())
