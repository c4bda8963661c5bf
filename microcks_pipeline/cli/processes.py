"""Process groups for the demo's servers: start, find the whole tree, stop with a grace period."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_SECONDS = 8.0  # dagster dev can ignore SIGTERM for over 10 s: then SIGKILL


@dataclass(frozen=True)
class _ProcInfo:
    ppid: int
    pgrp: int
    session: int
    start: int  # clock ticks since boot: tells a reused pid apart


def _proc_table() -> dict[int, _ProcInfo]:
    """Live processes from Linux /proc (zombies left out: they only wait to be reaped)."""
    table: dict[int, _ProcInfo] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # Fields after the parenthesised command name: state, ppid, pgrp, session, ...
            fields = stat[stat.rindex(b")") + 2 :].split()
            if fields[0] not in (b"Z", b"X"):
                ppid, pgrp, session = int(fields[1]), int(fields[2]), int(fields[3])
                table[int(entry.name)] = _ProcInfo(ppid, pgrp, session, int(fields[19]))
    return table


def _tree(root: int, alive: bool, known: Mapping[int, int]) -> dict[int, int]:
    """pid → start of every live process of `root`'s tree: `root` while `alive` (unreaped, so
    its pid is not reused), processes in its session or group (an orphan is reparented but stays
    there), processes below those, and `known` ones still alive."""
    table = _proc_table()
    found = {
        pid: info.start
        for pid, info in table.items()
        if (pid == root and alive) or (pid != root and root in (info.session, info.pgrp))
    }
    found.update((p, s) for p, s in known.items() if p in table and table[p].start == s)
    todo = list(found)
    while todo:
        parent = todo.pop()
        for pid, info in table.items():
            if info.ppid == parent and pid not in found:
                found[pid] = info.start
                todo.append(pid)
    return found


def start_group(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session and process group (so Ctrl-C reaches only the demo),
    its output appended to `log`; `pass_fds` are inherited (the work directory's lock)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )


def stop_group(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every process of `proc`'s tree, SIGKILL what is left after `grace`.

    The tree is re-read while waiting: dagster dev restarts a code server that dies first, and
    that late process must not outlive the demo. Without /proc only the group is signalled.
    """
    known: dict[int, int] = {}
    for sig, timeout in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        signalled: set[tuple[int, int]] = set()
        deadline = time.monotonic() + timeout
        while True:
            alive = proc.poll() is None  # also reaps our direct child
            known = _tree(proc.pid, alive, known)
            if not alive and not known:
                return
            for member in known.items():
                if member not in signalled:
                    signalled.add(member)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(member[0], sig)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
