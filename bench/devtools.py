"""Headless Chromium driven over the DevTools protocol, for `make ui-shots`: start it (the
flags known to work here), and one tab's calls (navigate, evaluate, click, screenshot)."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import websockets

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@contextmanager
def running_chromium(browser: str, port: int, profile: Path) -> Iterator[str]:
    """Chromium with its DevTools endpoint on 127.0.0.1:`port` and a fresh profile folder;
    yields the WebSocket URL of its first tab."""
    chrome = subprocess.Popen(
        [browser, *FLAGS, f"--remote-debugging-port={port}", f"--user-data-dir={profile}"]
        + ["about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"http://127.0.0.1:{port}/json/version"):
            if chrome.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("chromium did not start its DevTools endpoint")
            time.sleep(0.5)
        tabs = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        yield next(t for t in tabs if t.get("type") == "page")["webSocketDebuggerUrl"]
    finally:
        chrome.terminate()
        chrome.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


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

    async def resize(self, width: int, height: int) -> None:
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def wait_text(self, text: str, timeout: float = 60) -> bool:
        script = f"document.body && document.body.innerText.includes({json.dumps(text)})"
        return await self.wait_true(script, timeout)

    async def wait_true(self, script: str, timeout: float = 60) -> bool:
        """Poll `script` until it evaluates truthy; False on timeout."""
        deadline = time.monotonic() + timeout
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
