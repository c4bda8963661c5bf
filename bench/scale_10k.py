"""Benchmark: 10,000 API entities through the production topology on PostgreSQL.

Generates --entities entities (bench/catalog_scan.py's generator) and measures, in one run, each
side against its own fresh local Microcks-compatible server process (auth on):
  plain    a plain client loop in its own process: list the catalog, load each entity and
           `reconcile_entity` it (the same uploads, no status store, no Dagster): the baseline;
  dagster  the production topology (microcks_pipeline/cli/topology.py): `dagster api grpc`,
           `dagster-daemon` and `dagster-webserver` on the production dagster.yaml, Dagster
           storage and the status store on PostgreSQL (fresh databases, dropped after), the
           production sensor intervals; timed from the daemon's start until every status row is
           completed and the last entity's mock answers.
For each: wall time, peak RSS of each process (the plain loop; daemon, code server, webserver,
the largest run worker), and for Dagster the event-log rows and bytes written.

Then an unchanged hour at the production intervals, simulated: the daemon is stopped and every
sensor is evaluated in this process against the same instance, with its cursor carried from
tick to tick as the daemon does, as many times as an hour holds at its interval (catalog 30 s:
120 ticks, sync and status report 10 s: 360 each, the two run-status sensors 10 s: 360 each).
It counts what those ticks wrote: Dagster event-log rows and bytes, status-table rows and
events, Microcks calls. The daemon would also store one tick row per evaluation; their size is
taken from the ticks the real daemon stored during the sync and printed as an estimate.

Targets: the full sync within 2x the plain loop; the unchanged hour writes nothing but ticks.
Figures are printed as ratios against the plain loop measured in the same run.
Usage: python bench/scale_10k.py [--entities 10000] [--hour-fraction 1.0] [--pg-url URL]
       [--batch-size N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import httpx
import sqlalchemy as sa
from dagster._core.scheduler.instigation import TickData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_scan import generate  # noqa: E402 - the same generated entities as that bench
from sync_latency import microcks_server, plain_loop  # noqa: E402

from microcks_pipeline.cli.demo import CLIENT_ID, mock_url  # noqa: E402
from microcks_pipeline.cli.topology import (  # noqa: E402
    Postgres,
    Topology,
    fresh_database,
    pipeline_env,
    process_tree,
)
from microcks_pipeline.core.identity import service_version  # noqa: E402
from microcks_pipeline.definitions import defs  # noqa: E402
from microcks_pipeline.defs import settings as s  # noqa: E402
from microcks_pipeline.defs.resources import (  # noqa: E402
    CatalogResource,
    MicrocksResource,
    StatusStoreResource,
)
from microcks_pipeline.store import StatusStore  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
TARGET_RATIO = 2.0
HOUR = 3600
SENSORS = {  # name → production interval in seconds (defs/settings.py defaults)
    "catalog_sensor": 30,
    "sync_sensor": 10,
    "status_report_sensor": 10,
    "release_leases_of_failed_runs": 10,
    "release_leases_of_canceled_runs": 10,
}


# -- peak memory ------------------------------------------------------------------------------


def _peak_kib(pid: int) -> int:
    """VmHWM (the process's peak resident set) in KiB, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class PeakSampler:
    """Samples the peak RSS of named process trees every half second in a thread."""

    roots: Callable[[], dict[str, int]]  # role → root pid (read again each round)
    peaks: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _round(self) -> None:
        for role, root in self.roots().items():
            if root <= 0:
                continue
            self.peaks[role] = max(self.peaks.get(role, 0), _peak_kib(root))
            if role == "code server":  # its children are the run workers
                for child in process_tree(root):
                    worker = "run worker (largest)"
                    self.peaks[worker] = max(self.peaks.get(worker, 0), _peak_kib(child))

    @contextmanager
    def running(self) -> Iterator[PeakSampler]:
        def loop() -> None:
            while not self._stop.wait(0.5):
                self._round()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self._round()


# -- Dagster's writes ---------------------------------------------------------------------------


def event_log(database: Postgres) -> tuple[int, int]:
    """(rows, bytes of event JSON) in Dagster's event log."""
    engine = sa.create_engine(database.url())
    try:
        with engine.connect() as conn:
            rows, size = conn.execute(
                sa.text("SELECT count(*), coalesce(sum(octet_length(event)), 0) FROM event_logs")
            ).one()
            return int(rows), int(size)
    finally:
        engine.dispose()


def stored_ticks(database: Postgres) -> tuple[int, int]:
    """(rows, bytes) of the sensor ticks the daemon stored."""
    engine = sa.create_engine(database.url())
    try:
        with engine.connect() as conn:
            rows, size = conn.execute(
                sa.text("SELECT count(*), coalesce(sum(octet_length(tick_body)), 0) FROM job_ticks")
            ).one()
            return int(rows), int(size)
    finally:
        engine.dispose()


def status_writes(store: StatusStore) -> tuple[int, int]:
    """(max updated_at as a number, event count) of the status store: changes when it is written."""
    rows = store.rows()
    latest = max((r.updated_at.timestamp() for r in rows), default=0.0)
    return int(latest * 1_000_000), len(store.events(limit=1_000_000))


# -- the two sides ----------------------------------------------------------------------------


def plain_side(catalog: Path, secret: str, log: Path) -> dict[str, float]:
    """The plain loop in its own process: {seconds, peak_kib}."""
    with microcks_server(secret, log) as url:
        done = subprocess.run(
            [sys.executable, __file__, "--plain-child", str(catalog), url, secret],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mock_answers(base_url: str, i: int) -> bool:
    name = f"orders-{i}"
    version = service_version(f"api:default/{name}", "default")
    try:
        reply = httpx.get(mock_url(base_url, name, version, "/orders/2"), timeout=5)
    except httpx.HTTPError:
        return False
    return reply.status_code == 200


def _wait(what: str, done: Callable[[], bool], timeout: float, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval)


@dataclass
class DagsterFigures:
    seconds: float = 0.0
    peaks: dict[str, int] = field(default_factory=dict)
    event_rows: int = 0
    event_bytes: int = 0
    runs: int = 0
    timeline: str = ""
    ticks: str = ""  # the sensors' first ticks that asked for runs
    tick_seconds: str = ""  # each sensor's ticks during the sync and their time
    hour: dict[str, float] = field(default_factory=dict)


def sensor_ticks(database: Postgres, since: float) -> tuple[str, str]:
    """(when the catalog and sync sensors' first ticks that asked for runs began and ended,
    each sensor's ticks during the sync: count and seconds evaluating), from the daemon's start
    (epoch `since`)."""
    engine = sa.create_engine(database.url())
    try:
        with engine.connect() as conn:
            bodies = conn.execute(sa.text("SELECT tick_body FROM job_ticks ORDER BY id")).scalars()
            ticks = [dg.deserialize_value(body, TickData) for body in bodies]
    finally:
        engine.dispose()
    firsts = []
    for name in ("catalog_sensor", "sync_sensor"):
        asked = [t for t in ticks if t.instigator_name == name and t.run_ids]
        if asked:
            first = asked[0]
            end = (first.end_timestamp or since) - since
            firsts.append(
                f"{name} +{first.timestamp - since:.1f}..+{end:.1f} s ({len(first.run_ids)} runs)"
            )
    spent: dict[str, list[float]] = {}
    for tick in ticks:
        if tick.end_timestamp is not None:
            spent.setdefault(tick.instigator_name, []).append(tick.end_timestamp - tick.timestamp)
    totals = "; ".join(
        f"{name} {len(each)} ticks {sum(each):.1f} s (longest {max(each):.1f} s)"
        for name, each in sorted(spent.items(), key=lambda kv: -sum(kv[1]))
    )
    return "; ".join(firsts) or "no sensor asked for runs", totals


def dagster_side(
    catalog: Path,
    count: int,
    secret: str,
    work: Path,
    pg: Postgres,
    hour_fraction: float,
    tuning: dict[str, str],
) -> DagsterFigures:
    figures = DagsterFigures()
    work.mkdir(parents=True, exist_ok=True)
    with (
        microcks_server(secret, work / "dagster-server.log", faults=True) as url,
        fresh_database(pg) as database,
        fresh_database(pg) as status_database,  # Alembic's version table: one per database
    ):
        env = pipeline_env(
            os.environ,
            database=database,
            home=work / "dagster_home",
            microcks_url=url,
            client_id=CLIENT_ID,
            client_secret=secret,
            catalog_root=catalog,
            extra={s.DB_URL: status_database.url(), **tuning},
        )
        store = StatusStore(status_database.url())
        store.migrate()
        topology = Topology(work, database, env)
        try:
            topology.prepare()
            topology.start_code_server()
            before = event_log(database)
            start, since = time.monotonic(), time.time()
            topology.start()  # the daemon and the webserver (the code server runs already)
            roots = {
                "daemon": lambda: topology.daemon.pid if topology.daemon else 0,
                "code server": lambda: topology.code_server.pid if topology.code_server else 0,
                "webserver": lambda: topology.webserver.pid if topology.webserver else 0,
            }
            sampler = PeakSampler(lambda: {k: v() for k, v in roots.items()})
            with sampler.running():
                _wait(
                    f"{count} entities synced",
                    lambda: (
                        store.counts().get("completed") == count and _mock_answers(url, count - 1)
                    ),
                    timeout=max(600, count * 0.5),
                )
            figures.seconds = time.monotonic() - start
            figures.peaks = sampler.peaks
            after = event_log(database)
            figures.event_rows, figures.event_bytes = after[0] - before[0], after[1] - before[1]
            ticks = stored_ticks(database)
            with _instance(env) as instance:
                records = instance.get_run_records()
            figures.runs = len(records)
            figures.timeline = _timeline(records, since)
            figures.ticks, figures.tick_seconds = sensor_ticks(database, since)
            topology.stop()  # the simulated hour evaluates the sensors here instead
            figures.hour = unchanged_hour(env, url, secret, catalog, database, store, hour_fraction)
            figures.hour["tick_bytes_each"] = ticks[1] / ticks[0] if ticks[0] else 0.0
        finally:
            topology.stop()
            store.dispose()
    return figures


def _timeline(records: list[dg.RunRecord], since: float) -> str:
    """When the runs were requested, started and ended, from the daemon's start (epoch `since`)."""
    if not records:
        return "no run"
    created = [r.create_timestamp.timestamp() - since for r in records]
    started = [(r.start_time or since) - since for r in records]
    ended = [(r.end_time or since) - since for r in records]
    spans = sorted((r.end_time or 0) - (r.start_time or 0) for r in records)
    statuses = Counter(r.dagster_run.status.value.lower() for r in records)
    others = Counter(
        f"{r.dagster_run.job_name} by {_requester(r.dagster_run.tags)}"
        for r in records
        if r.dagster_run.job_name != "sync_batch_job"
    )
    return (
        f"requested +{min(created):.1f}..+{max(created):.1f} s, started "
        f"+{min(started):.1f}..+{max(started):.1f} s, ended +{min(ended):.1f}..+{max(ended):.1f} s"
        f" (longest run {spans[-1]:.1f} s; {', '.join(f'{n} {s}' for s, n in statuses.items())})"
        + "".join(f"; {n} {what}" for what, n in others.items())
    )


def _requester(tags: Mapping[str, str]) -> str:
    """The sensor or schedule that asked for a run, or "hand"."""
    return tags.get("dagster/sensor_name") or tags.get("dagster/schedule_name") or "hand"


@contextmanager
def _instance(env: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_")})
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        os.environ.clear()
        os.environ.update(saved)


def unchanged_hour(
    env: dict[str, str],
    url: str,
    secret: str,
    catalog: Path,
    database: Postgres,
    store: StatusStore,
    fraction: float,
) -> dict[str, float]:
    """Evaluate each sensor an hour's worth of times (x `fraction`) on the unchanged catalog,
    cursors carried; what was written."""
    resources = {
        "catalog": CatalogResource(root=str(catalog)),
        "microcks": MicrocksResource(base_url=url, client_id=CLIENT_ID, client_secret=secret),
        "status_store": StatusStoreResource(db_url=env[s.DB_URL]),
    }
    evaluations = 0
    with (
        _instance(env) as instance,
        dg.partition_loading_context(dynamic_partitions_store=instance),
    ):
        # One evaluation each first, not counted: it takes up the cursor the daemon's last tick
        # left (the report's digest, the run-status sensors' position in the event log).
        # This process's catalog sensor starts with nothing read, as a restarted code server:
        # its first ticks read the catalog in parts (MICROCKS_PIPELINE_CATALOG_LOAD_SECONDS).
        cursors = {name: _tick(instance, resources, name, None)[0] for name in SENSORS}
        while "left for the next tick" in _tick(instance, resources, "catalog_sensor", None)[2]:
            pass
        calls_before = _server_calls(url)
        before_log, before_status = event_log(database), status_writes(store)
        start = time.monotonic()
        for name, interval in SENSORS.items():
            for _ in range(max(1, round(HOUR / interval * fraction))):
                cursors[name], asked, _ = _tick(instance, resources, name, cursors[name])
                if asked:
                    raise RuntimeError(f"{name} asked for runs on an unchanged catalog")
                evaluations += 1
        seconds = time.monotonic() - start
    after_log, after_status = event_log(database), status_writes(store)
    return {
        "evaluations": evaluations,
        "seconds": seconds,
        "event_rows": after_log[0] - before_log[0],
        "event_bytes": after_log[1] - before_log[1],
        "status_writes": int(after_status != before_status),
        "microcks_calls": _server_calls(url) - calls_before,
        "fraction": fraction,
    }


def _tick(
    instance: dg.DagsterInstance, resources: dict[str, object], name: str, cursor: str | None
) -> tuple[str | None, int, str]:
    """One evaluation of sensor `name` as the daemon runs it: (its next cursor, runs asked,
    its skip message)."""
    context = dg.build_sensor_context(
        instance=instance, definitions=defs, resources=resources, cursor=cursor
    )
    result = defs.resolve_sensor_def(name).evaluate_tick(context)
    for event in result.asset_events:  # the daemon reports them the same way
        instance.report_runless_asset_event(event)
    cursor = result.cursor if result.cursor is not None else cursor
    return cursor, len(result.run_requests or []), result.skip_message or ""


def _server_calls(url: str) -> int:
    """Microcks API calls the local server answered (its request log, /_faults/calls)."""
    reply = httpx.get(f"{url}/_faults/calls", timeout=30)
    reply.raise_for_status()
    return sum(1 for c in reply.json()["calls"] if c["path"].startswith("/api/"))


# -- main ------------------------------------------------------------------------------------


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument(
        "--hour-fraction",
        type=float,
        default=1.0,
        help="simulate this fraction of the unchanged hour (ticks are scaled back to an hour)",
    )
    parser.add_argument(
        "--pg-url", default=os.environ.get("MICROCKS_PIPELINE_TEST_PG_URL") or DEFAULT_PG_URL
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="MICROCKS_PIPELINE_BATCH_SIZE for the pipeline (default: its own)",
    )
    parser.add_argument("--plain-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_child:
        catalog, url, secret = args.plain_child
        seconds = plain_loop(Path(catalog), url, secret)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"seconds": seconds, "peak_kib": peak}))
        return 0
    if args.entities < 1 or not 0 < args.hour_fraction <= 1 or (args.batch_size or 1) < 1:
        parser.error("--entities and --batch-size must be >= 1 and --hour-fraction in (0, 1]")

    with tempfile.TemporaryDirectory(prefix="scale-10k-") as tmp:
        work = Path(tmp)
        catalog = work / "catalog"
        generate(catalog, args.entities)
        secret = secrets.token_urlsafe(24)
        print(f"first full sync of {args.entities} entities (PostgreSQL)", flush=True)
        plain = plain_side(catalog, secret, work / "plain-server.log")
        print(f"  plain loop      {plain['seconds']:8.1f} s  (baseline 1.00x)", flush=True)
        dagster = dagster_side(
            catalog,
            args.entities,
            secret,
            work / "dagster",
            Postgres.from_url(args.pg_url),
            args.hour_fraction,
            {s.BATCH_SIZE: str(args.batch_size)} if args.batch_size else {},
        )
    ratio = dagster.seconds / plain["seconds"]
    print(f"  dagster         {dagster.seconds:8.1f} s  ({ratio:.2f}x the plain loop)")
    print(f"  runs            {dagster.runs}: {dagster.timeline}")
    print(f"  first ticks     {dagster.ticks}")
    print(f"  sensor ticks    {dagster.tick_seconds}")
    print(f"  peak RSS plain loop process      {_mib(plain['peak_kib'])} (baseline 1.00x)")
    for role, kib in sorted(dagster.peaks.items()):
        print(f"  peak RSS {role:24s} {_mib(kib)} ({kib / plain['peak_kib']:.2f}x)")
    per_entity = dagster.event_bytes / args.entities
    print(
        f"  event log written  {dagster.event_rows} rows, {dagster.event_bytes / 1e6:.2f} MB "
        f"({dagster.event_rows / args.entities:.2f} rows and {per_entity:.0f} bytes per entity)"
    )
    hour = dagster.hour
    scale = 1 / hour["fraction"]
    ticks_per_hour = hour["evaluations"] * scale
    print(
        f"unchanged hour at production intervals (simulated: {hour['evaluations']:.0f} sensor "
        f"evaluations in {hour['seconds']:.1f} s, x{scale:g} for an hour)"
    )
    hour_rows, hour_bytes = hour["event_rows"] * scale, hour["event_bytes"] * scale
    print(f"  event log rows/hour      {hour_rows:.0f}")
    print(f"  event log bytes/hour     {hour_bytes:.0f}")
    print(f"  status store written     {'yes' if hour['status_writes'] else 'no'}")
    print(f"  Microcks calls/hour      {hour['microcks_calls'] * scale:.0f}")
    tick_bytes = hour["tick_bytes_each"]
    print(
        f"  sensor ticks/hour        {ticks_per_hour:.0f} (stored by the daemon: about "
        f"{ticks_per_hour * tick_bytes / 1e3:.0f} kB at {tick_bytes:.0f} bytes each)"
    )
    sync_ok = ratio <= TARGET_RATIO
    quiet_ok = hour_rows == 0 and not hour["status_writes"] and hour["microcks_calls"] == 0
    print(f"target full sync <= {TARGET_RATIO:g}x the plain loop: {'met' if sync_ok else 'MISSED'}")
    print(f"target unchanged hour writes nothing but ticks: {'met' if quiet_ok else 'MISSED'}")
    return 0 if sync_ok and quiet_ok else 1


if __name__ == "__main__":
    sys.exit(main())
