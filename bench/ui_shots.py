"""Screenshots of the Dagster UI for the README (`make ui-shots`; not a benchmark, not a test).

Starts `microcks-pipeline demo` in a temporary folder (bench/sync_latency.py's `running_demo`),
edits petstore's example and breaks users-api (its `empty` mock's examples file is removed, a
permanent error), waits until Dagster shows both, then drives headless Chromium over the
DevTools protocol (Page.navigate, Runtime.evaluate, Page.captureScreenshot) and saves PNGs into
docs/. Needs `chromium` on PATH (Debian's package; the Makefile target installs it).
Usage: python bench/ui_shots.py [--out docs]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import subprocess
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
from sync_latency import _free_port, banner_value, running_demo  # noqa: E402

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


def prepare(workdir: Path, lines: list[str]) -> str:
    """Make the demo show an edit and a failed entity; returns the Dagster UI URL."""
    ui = banner_value(lines, "Dagster UI")
    # The UI's "Join the Dagster community" dialog would cover every picture.
    httpx.post(f"{ui}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=30)
    with dg.DagsterInstance.from_config(str(workdir / "dagster_home")) as instance:
        # Break users-api after its first sync, as an edit would: its view then has a past.
        _wait(
            lambda: _latest(instance, "sync_status_report").get("count/completed") == 9,
            120,
            "the first sync",
        )
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


class Page:
    """One Chromium tab over the DevTools protocol."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, script: str) -> object:
        result = await self.call("Runtime.evaluate", expression=script, returnByValue=True)
        return result.get("result", {}).get("value")

    async def wait_text(self, text: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        script = f"document.body && document.body.innerText.includes({json.dumps(text)})"
        while not await self.evaluate(script):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.5)
        return True

    async def save(self, path: Path) -> None:
        picture = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(picture["data"]))

    async def click(self, text: str) -> None:
        """Click, as a mouse would, the first button or link of a table showing `text`."""
        script = (
            f"(() => {{ const t = {json.dumps(text)};"
            " const el = [...document.querySelectorAll('td button, td a')]"
            ".find(e => e.textContent.trim() === t);"
            " if (!el) return null; const r = el.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        deadline = time.monotonic() + 30
        while not (where := await self.evaluate(script)):  # the table may come after the header
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing to click named {text!r}")
            await asyncio.sleep(0.5)
        x, y = where
        for kind in ("mousePressed", "mouseReleased"):
            await self.call(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )


async def take(ui: str, port: int, out: Path) -> None:
    tabs = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
    target = next(t for t in tabs if t.get("type") == "page")
    async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
        page = Page(ws)
        for shot in SHOTS:
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=1440,
                height=shot.height,
                deviceScaleFactor=1,
                mobile=False,
            )
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    browser = shutil.which("chromium")
    if browser is None:
        parser.error("chromium is not on PATH (Debian: apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ui-shots-") as tmp:
        workdir = Path(tmp) / "demo"
        with running_demo(workdir) as (lines, _):
            ui = prepare(workdir, lines)
            port = _free_port()
            chrome = subprocess.Popen(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
                + [f"--remote-debugging-port={port}", f"--user-data-dir={tmp}/chrome"]
                + ["about:blank"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _wait(lambda: _answers(f"http://127.0.0.1:{port}/json/version"), 30, "chromium")
                asyncio.run(take(ui, port, args.out))
            finally:
                chrome.terminate()
                chrome.wait(timeout=30)
    return 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
