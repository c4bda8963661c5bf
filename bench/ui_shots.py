"""Screenshots of the Dagster UI and the Backstage API page for the README (`make ui-shots`).
Not a benchmark, not a test.

Starts `microcks-pipeline demo` in a temporary folder (bench/sync_latency.py's `running_demo`),
edits petstore's example and breaks users-api (its `empty` mock's examples file is removed, a
permanent error), waits until Dagster shows both, then drives headless Chromium over the
DevTools protocol (bench/devtools.py) and saves PNGs into docs/. Then, with the demo still
running, the Backstage shots (bench/ui_shots_backstage.py): the test Backstage with the catalog
module reading the demo's status service, seen through a stand-in API page. Needs `chromium` on
PATH (Debian's package; the Makefile target installs it) and, for the Backstage shots, Node.js
with `make backstage-deps` and bench/backstage-api-page installed (the Makefile target does both).
Usage: python bench/ui_shots.py [--out docs] [--only dagster|backstage]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ui_shots_backstage as backstage_shots  # noqa: E402
from devtools import Page, running_chromium  # noqa: E402
from sync_latency import _free_port, banner_value, running_demo  # noqa: E402

PARTS = ("dagster", "backstage")
PETSTORE, USERS = "api:default/petstore", "api:default/users-api"
EDITED = Path("petstore/mocks/default/petstore-examples.yaml")
BROKEN = Path("users/mocks/empty-examples.yaml")  # users-api's `empty` mock loses its examples


@dataclass(frozen=True)
class Shot:
    name: str  # docs/<name>.png
    path: str  # UI path
    wait_for: str  # text the page shows once its data arrived
    click: str | None = None  # text of a table button to click first (opens a dialog)
    height: int = 1000


def _partition(ref: str) -> str:
    return f"/assets/microcks_services?view=partitions&partition={quote(ref, safe='')}"


SHOTS = (
    Shot("ui-partition", _partition(PETSTORE), "2 of 2 mock(s) served", height=1150),
    Shot("ui-failed-entity", _partition(USERS), "in error: empty", height=1150),
    Shot("ui-status-report", "/assets/sync_status_report?view=events", "empty"),
    Shot(
        "ui-sensor-ticks",
        "/locations/microcks_pipeline/sensors/sync_sensor",
        "0 runs requested",
        click="0 runs requested",
    ),
)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def _latest(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> dict:
    where = dg.AssetRecordsFilter(
        asset_key=dg.AssetKey(key), asset_partitions=[partition] if partition else None
    )
    found = [
        *instance.fetch_materializations(where, limit=1).records,
        *instance.fetch_observations(where, limit=1).records,
    ]
    if not found:
        return {}
    record = max(found, key=lambda r: r.storage_id)
    event = record.asset_materialization or record.asset_observation
    return {k: v.value for k, v in event.metadata.items()}


def _synced(report: dict) -> bool:
    """Every mock of the sample catalog completed (whatever their number)."""
    idle = all(report.get(f"count/{status}") == 0 for status in ("pending", "leased", "error"))
    return idle and (report.get("count/completed") or 0) > 0


def prepare(workdir: Path, lines: list[str]) -> str:
    """Make the demo show an edit and a failed entity; returns the Dagster UI URL."""
    ui = banner_value(lines, "Dagster UI")
    # The UI's "Join the Dagster community" dialog would cover every picture.
    httpx.post(f"{ui}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=30)
    with dg.DagsterInstance.from_config(str(workdir / "dagster_home")) as instance:
        # Break users-api after its first sync, as an edit would: its view then has a past.
        _wait(lambda: _synced(_latest(instance, "sync_status_report")), 120, "the first sync")
        examples = workdir / "catalog" / EDITED
        examples.write_text(examples.read_text().replace("name: Spike", "name: Sonic"))
        (workdir / "catalog" / BROKEN).unlink()
        _wait(
            lambda: "empty" in (_latest(instance, "microcks_services", USERS).get("errors") or {}),
            120,
            "users-api to fail",
        )
        _wait(
            lambda: _latest(instance, "sync_status_report").get("count/error") == 1,
            60,
            "the status report to show the error",
        )
    time.sleep(6)  # a few more idle ticks for the ticks table
    return ui


async def take(ui: str, tab: str, out: Path) -> None:
    async with websockets.connect(tab, max_size=None) as ws:
        page = Page(ws)
        for shot in SHOTS:
            await page.resize(1440, shot.height)
            await page.call("Page.navigate", url=ui + shot.path)
            if not await page.wait_text(shot.wait_for):
                await page.save(out / f"{shot.name}-timeout.png")
                raise SystemExit(
                    f"{shot.path} never showed {shot.wait_for!r}: see {shot.name}-timeout.png"
                )
            if shot.click:
                await page.click(shot.click)
            await asyncio.sleep(2)  # let the last requests render
            await page.save(out / f"{shot.name}.png")
            print(f"  {out / shot.name}.png", flush=True)


async def take_backstage(page_url: str, tab: str, out: Path) -> None:
    async with websockets.connect(tab, max_size=None) as ws:
        await backstage_shots.shoot(Page(ws), page_url, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--only", choices=PARTS, help="only the Dagster UI or the Backstage shots")
    args = parser.parse_args(argv)
    parts = [args.only] if args.only else list(PARTS)
    browser = shutil.which("chromium")
    if browser is None:
        parser.error("chromium is not on PATH (Debian: apt-get install chromium)")
    if "backstage" in parts:
        if shutil.which("node") is None:
            parser.error("the Backstage shots need Node.js (node) on PATH")
        if missing := backstage_shots.installed():
            parser.error(missing)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ui-shots-") as tmp:
        workdir = Path(tmp) / "demo"
        with running_demo(workdir) as (lines, _):
            ui = prepare(workdir, lines)
            with running_chromium(browser, _free_port(), Path(tmp) / "chrome") as tab:
                if "dagster" in parts:
                    asyncio.run(take(ui, tab, args.out))
                if "backstage" in parts:
                    status = banner_value(lines, "Status API").removesuffix("/api/v1/entities")
                    catalog = workdir / "catalog"  # with the demo's edit and broken users-api
                    with backstage_shots.running_api_page(
                        Path(tmp) / "backstage", catalog, status
                    ) as page_url:
                        asyncio.run(take_backstage(page_url, tab, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
