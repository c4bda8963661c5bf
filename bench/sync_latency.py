"""Benchmark: edit-to-mock latency of the demo, and syncing a large catalog through Dagster.

(a) latency  Starts `microcks-pipeline demo` in a temporary work directory (demo intervals, real
             `dagster dev`), then --edits times edits the example behind the printed mock URL
             and times until that URL serves the new body. Prints p50, min and max.
(b) sync     Generates --entities API entities (bench/catalog_scan.py's generator), then, each
             against a fresh local Microcks-compatible server process (auth on):
               plain   one process, no Dagster: list the catalog, load each entity's desired
                       state and `reconcile_entity` it with a `MicrocksClient`, in a loop;
               dagster `dagster-daemon run` with the demo's instance and env, from an empty
                       instance and status store until every status row is completed and the
                       last entity's mock answers: cold (timed from the daemon's start) and
                       warm (daemon running and synced on one warm-up entity; timed from the
                       moment the entities appear in the folder it watches). The target
                       applies to warm: a deployed pipeline meets a mass change running.
               worker  in between, for the breakdown: the same catalog pass and `sync_entity`
                       (status store, events, compare-and-set) in one process, no Dagster.
             Prints the wall times and the ratio dagster/plain.
Targets: latency p50 <= 6 s (one catalog tick and one run); sync ratio <= 3.
Usage: python bench/sync_latency.py [--entities 1000] [--edits 5] [--skip-latency] [--skip-sync]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_scan import generate  # noqa: E402 - the same generated entities as that bench

from microcks_pipeline.cli import demo, demo_workdir  # noqa: E402
from microcks_pipeline.cli import processes as demo_processes  # noqa: E402
from microcks_pipeline.core.identity import service_version  # noqa: E402
from microcks_pipeline.defs.run_requests import BATCH_JOB  # noqa: E402
from microcks_pipeline.microcks import MicrocksClient, TokenProvider  # noqa: E402
from microcks_pipeline.sources.artifacts import ArtifactReader  # noqa: E402
from microcks_pipeline.sources.catalog import FilesystemCatalog  # noqa: E402
from microcks_pipeline.sources.filestat import RACY_SECONDS  # noqa: E402
from microcks_pipeline.store import StatusStore  # noqa: E402
from microcks_pipeline.sync.loader import load_entity_desired  # noqa: E402
from microcks_pipeline.sync.processor import process_catalog  # noqa: E402
from microcks_pipeline.sync.reconcile import reconcile_entity  # noqa: E402
from microcks_pipeline.sync.worker import sync_entity  # noqa: E402

SAMPLE_FILE = Path("petstore/mocks/default/petstore-examples.yaml")
EXAMPLE = ("GET /pets/{petId}", "spike")  # the example behind the demo's printed mock URL
TARGET_LATENCY, TARGET_RATIO = 6.0, 3.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> list[str]:
    """Lines of `proc`'s stdout up to the first matching `pattern` (raises on timeout or exit)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited before {pattern!r}:\n{''.join(lines)}")
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise RuntimeError(f"no {pattern!r} within {timeout} s")


def _poll_until(check, timeout: float, interval: float = 0.1) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `check()` is true (raises on timeout)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"not done within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - start


# -- (a) edit-to-mock latency through the demo ------------------------------------------------


@contextmanager
def running_demo(workdir: Path) -> Iterator[tuple[list[str], subprocess.Popen[str]]]:
    """`microcks-pipeline demo` in `workdir` on free ports, from "ready" until the block ends:
    its banner lines (Dagster UI, mock URL, ...) and its process."""
    command = [sys.executable, "-m", "microcks_pipeline.cli", "demo"]
    command += ["--workdir", str(workdir), "--port", str(_free_port())]
    proc = subprocess.Popen(
        [*command, "--microcks-port", str(_free_port())],
        cwd=workdir.parent,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield _wait_for_line(proc, r"^ready", timeout=240), proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def banner_value(lines: list[str], label: str) -> str:
    """The value of a `label:` line of the demo's banner, e.g. "mock URL"."""
    return next(x.split(":", 1)[1].strip().split("  ")[0] for x in lines if f"{label}:" in x)


def measure_latency(edits: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="sync-latency-") as tmp:
        workdir = Path(tmp) / "demo"
        with running_demo(workdir) as (lines, _):
            url = banner_value(lines, "mock URL")
            path = workdir / "catalog" / SAMPLE_FILE
            seconds = []
            with httpx.Client(timeout=5, trust_env=False) as client:
                for i in range(edits):
                    name = f"edit-{i}-{secrets.token_hex(3)}"
                    doc = yaml.safe_load(path.read_text())
                    operation, example = EXAMPLE
                    doc["operations"][operation][example]["response"]["body"]["name"] = name
                    path.write_text(yaml.safe_dump(doc, sort_keys=False))
                    took = _poll_until(lambda n=name: client.get(url).json().get("name") == n, 60)
                    seconds.append(took)
                    print(f"  edit {i + 1}: {took:.2f} s", flush=True)
            return seconds


# -- (b) syncing N entities: Dagster vs a plain loop ------------------------------------------


@contextmanager
def microcks_server(secret: str, log: Path, *, faults: bool = False) -> Iterator[str]:
    """A fresh local Microcks-compatible server in its own process (no GIL shared with the
    measured code), auth on; yields its base URL. `faults`: its /_faults endpoints (the
    request log) on."""
    port = _free_port()
    env = {**os.environ, "MICROCKS_CLIENT_SECRET": secret}
    command = [sys.executable, "-m", "microcks_pipeline.cli", "serve-microcks"]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--client-id", demo.CLIENT_ID]
        + (["--faults"] if faults else []),
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(log, "ab"),  # noqa: SIM115 - closed with the process
        text=True,
        start_new_session=True,
    )
    try:
        url = _wait_for_line(proc, r"^http://", timeout=60)[-1].strip()
        yield url
    finally:
        demo_processes.stop_group(proc, grace=5)  # type: ignore[arg-type]


def _mock_answers(base_url: str, name: str, version: str) -> bool:
    try:
        # The generated APIExamples answer id 2 (the OpenAPI example has no parameter value).
        reply = httpx.get(demo.mock_url(base_url, name, version, "/orders/2"), timeout=5)
    except httpx.HTTPError:
        return False
    return reply.status_code == 200


def plain_loop(catalog: Path, microcks: str, secret: str) -> float:
    start = time.monotonic()
    source = FilesystemCatalog(str(catalog))
    entities = source.list_entities().entities
    tokens = TokenProvider(microcks, demo.CLIENT_ID, secret)
    with ArtifactReader() as reader, MicrocksClient(microcks, token_provider=tokens) as client:
        for entity in entities:
            desired = load_entity_desired(entity, reader)
            result = reconcile_entity(
                client, desired.entity_ref, desired.entity_name, upsert=desired.mocks
            )
            if result.failed or desired.failures:
                raise RuntimeError(f"plain loop: {entity.ref} failed: {result.failed}")
    return time.monotonic() - start


def worker_loop(catalog: Path, microcks: str, secret: str, db_url: str) -> float:
    """The pipeline's own work without Dagster: catalog pass into the status store, then
    `sync_entity` (claim, reconcile, events, compare-and-set) per entity, in one process."""
    store = StatusStore(url=db_url)
    store.migrate()
    start = time.monotonic()
    source = FilesystemCatalog(str(catalog))
    tokens = TokenProvider(microcks, demo.CLIENT_ID, secret)
    with ArtifactReader() as reader, MicrocksClient(microcks, token_provider=tokens) as client:
        refs = process_catalog(source, reader, store).entity_refs
        for ref in refs:
            sync_entity(ref, source=source, reader=reader, store=store, client=client, owner="b")
    seconds = time.monotonic() - start
    counts = store.counts()
    store.dispose()
    if counts["completed"] != len(refs) or sum(counts.values()) != len(refs):
        raise RuntimeError(f"worker loop: unexpected status rows: {counts}")
    return seconds


def _warm_up_entity(catalog: Path, into: Path) -> tuple[str, str]:
    """A copy of the catalog's first entity under another name; returns (name, version)."""
    source = sorted(p for p in catalog.iterdir() if p.is_dir())[0]
    target = into / "warm-up"
    shutil.copytree(source, target)
    info = target / "catalog-info.yaml"
    info.write_text(re.sub(r"name: orders-\d+", "name: warm-up", info.read_text()))
    return "warm-up", service_version("api:default/warm-up", "default")


def _run_timeline(dagster_home: Path, since: float) -> str:
    """When the batch runs were requested, all started and last finished, from `since` (epoch)."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(job_name=BATCH_JOB))
    runs = [r for r in records if r.create_timestamp.timestamp() >= since]
    if not runs:
        return "no batch run"
    requested = min(r.create_timestamp.timestamp() for r in runs) - since
    started = max(r.start_time or since for r in runs) - since
    ended = max(r.end_time or since for r in runs) - since
    return (
        f"{len(runs)} batch run(s) requested at +{requested:.1f} s, "
        f"all started by +{started:.1f} s, the last finished at +{ended:.1f} s"
    )


def _dagster_run(
    catalog: Path, microcks: str, secret: str, count: int, work: Path, *, warm_up: bool
) -> tuple[float, float, str]:
    """(seconds until synced, seconds until the first status row, timeline of the batch runs)"""
    paths = demo_workdir.DemoPaths(work)
    paths.dagster_home.mkdir(parents=True)  # an empty instance, as the demo's
    (paths.dagster_home / "dagster.yaml").write_text(demo_workdir.instance_yaml())
    root = work / "catalog"
    root.mkdir()
    if warm_up:
        first = _warm_up_entity(catalog, root)
        time.sleep(RACY_SECONDS)  # as in a real catalog, files older than filestat's racy window
    else:
        root.rmdir()
        shutil.copytree(catalog, root)
    env = demo.demo_env(
        os.environ, paths=paths, microcks_url=microcks, client_secret=secret, catalog_root=root
    )
    store = StatusStore(url=env["MICROCKS_PIPELINE_DB_URL"])
    store.migrate()  # so the bench can read it from the first poll
    last = f"orders-{count - 1}"  # catalog_scan's entity names
    version = service_version(f"api:default/{last}", "default")
    expected = count + (1 if warm_up else 0)
    daemon = str(Path(sys.executable).parent / "dagster-daemon")
    start, since = time.monotonic(), time.time()
    proc = demo_processes.start_group(
        [daemon, "run", "-w", str(demo_workdir.WORKSPACE)], env=env, cwd=work, log=paths.log
    )
    try:
        if warm_up:
            _poll_until(lambda: _mock_answers(microcks, *first), 300, 0.2)
            staged = work / "staged"
            shutil.copytree(catalog, staged)
            time.sleep(RACY_SECONDS)
            start, since = time.monotonic(), time.time()
            for folder in sorted(staged.iterdir()):
                folder.rename(root / folder.name)  # the entities appear, as a merged commit would
        before = expected - count  # the warm-up entity's row
        first_rows = _poll_until(lambda: sum(store.counts().values()) > before, 300, 0.2)
        _poll_until(
            lambda: (
                store.counts()["completed"] == expected and _mock_answers(microcks, last, version)
            ),
            1800,
            0.5,
        )
        done = time.monotonic()
        counts = store.counts()
        if sum(counts.values()) != expected:
            raise RuntimeError(f"unexpected status rows: {counts}")
        return done - start, first_rows, _run_timeline(paths.dagster_home, since)
    finally:
        store.dispose()
        demo_processes.stop_group(proc)


def measure_sync(count: int) -> tuple[float, float, float]:
    """(plain loop, Dagster cold, Dagster warm) seconds; also prints the worker loop."""
    with tempfile.TemporaryDirectory(prefix="sync-latency-") as tmp:
        root = Path(tmp)
        catalog = root / "catalog"
        generate(catalog, count)
        secret = secrets.token_urlsafe(24)
        with microcks_server(secret, root / "plain-server.log") as microcks:
            plain = plain_loop(catalog, microcks, secret)
        print(f"  plain loop:  {plain:.1f} s (client + loader + reconcile_entity)", flush=True)
        with microcks_server(secret, root / "worker-server.log") as microcks:
            worker = worker_loop(catalog, microcks, secret, f"sqlite:///{root / 'worker.db'}")
        print(f"  worker loop: {worker:.1f} s (+ status store and events, no Dagster)", flush=True)
        with microcks_server(secret, root / "cold-server.log") as microcks:
            cold, boot, runs = _dagster_run(
                catalog, microcks, secret, count, root / "cold", warm_up=False
            )
        print(f"  dagster cold: {cold:.1f} s from daemon start ({boot:.1f} s before the first row)")
        print(f"    {runs}")
        with microcks_server(secret, root / "warm-server.log") as microcks:
            warm, boot, runs = _dagster_run(
                catalog, microcks, secret, count, root / "warm", warm_up=True
            )
        print(f"  dagster warm: {warm:.1f} s from the entities appearing under a running daemon")
        print(f"    first status row at +{boot:.1f} s; {runs}", flush=True)
        return plain, cold, warm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000, help="entities to sync in (b)")
    parser.add_argument("--edits", type=int, default=5, help="edits timed in (a)")
    parser.add_argument("--skip-latency", action="store_true", help="only run (b)")
    parser.add_argument("--skip-sync", action="store_true", help="only run (a)")
    args = parser.parse_args(argv)
    # Interrupts must unwind through the cleanups that stop the servers, also in the background.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.entities < 1 or args.edits < 1:
        parser.error("--entities and --edits must be at least 1")

    ok = True
    if not args.skip_latency:
        print(f"(a) edit -> mock serves it, {args.edits} edits through `microcks-pipeline demo`")
        seconds = measure_latency(args.edits)
        p50 = statistics.median(seconds)
        ok &= p50 <= TARGET_LATENCY
        print(
            f"latency p50 {p50:.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f}); "
            f"target <= {TARGET_LATENCY:g} s: {'met' if p50 <= TARGET_LATENCY else 'MISSED'}"
        )
    if not args.skip_sync:
        print(f"(b) sync {args.entities} entities from empty")
        plain, cold, warm = measure_sync(args.entities)
        ratio = warm / plain
        ok &= ratio <= TARGET_RATIO
        print(
            f"sync {args.entities}: dagster {warm:.1f} s with the daemon running "
            f"({cold:.1f} s from a cold start, {cold / plain:.2f}x), plain loop {plain:.1f} s, "
            f"ratio {ratio:.2f}; target <= {TARGET_RATIO:g}: "
            f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
