"""Helpers for the demo tests: free ports, a line reader for a subprocess, and a /proc process view
written apart from microcks_pipeline.cli.demo so the tests do not only agree with the code."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


def free_ports(count: int) -> list[int]:
    """Ports free right now on 127.0.0.1 (held together while picking, so all distinct)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class LineReader:
    """Collects a stream's lines in a thread so waiting for one never blocks the test."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        """The first new line matching `predicate`, or None at end of stream or timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            if predicate(line):
                return line
        return None

    def text(self, join_timeout: float = 5.0) -> str:
        self._thread.join(join_timeout)
        return "".join(self.lines)


@dataclass(frozen=True)
class Proc:
    pid: int
    start_ticks: int  # start time since boot: a reused pid has another one
    cmdline: str


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # state, ppid, ... (the name may hold spaces)


def process_tree(root: int) -> list[Proc]:
    """`root` and every live process below it."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := _stat_fields(int(name))) is not None:
            parents[int(name)] = int(fields[1])
    wanted, found = {root}, True
    while found:
        found = False
        for pid, ppid in parents.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                found = True
    tree = []
    for pid in sorted(wanted):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        tree.append(Proc(pid, int(fields[19]), cmdline))
    return tree


def still_running(proc: Proc) -> bool:
    """The same process is alive (zombies count as gone: they only wait to be reaped)."""
    fields = _stat_fields(proc.pid)
    return (
        fields is not None and fields[0] not in ("Z", "X") and int(fields[19]) == proc.start_ticks
    )


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        items = f.read().split(b"\0")
    pairs = (item.decode(errors="replace").split("=", 1) for item in items if b"=" in item)
    return dict(pairs)


class Tracker:
    """Remembers every process seen below a subprocess, so a failed test can still end them all
    (once the root is gone, its children are no longer found under it)."""

    def __init__(self, root: subprocess.Popen) -> None:
        self.root = root
        self.seen: dict[int, Proc] = {}

    def snapshot(self) -> list[Proc]:
        tree = process_tree(self.root.pid)
        self.seen.update((p.pid, p) for p in tree)
        return tree

    def kill_survivors(self, timeout: float = 10.0) -> None:
        """SIGKILL, by pid, every remembered process still running (the test started them)."""
        if self.root.poll() is None:
            self.snapshot()
        for proc in self.seen.values():
            if still_running(proc):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.root.wait(timeout)
