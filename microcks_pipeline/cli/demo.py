"""The `demo` command: the local Microcks and `dagster dev` on a copy of the sample catalog.

Layout of the work directory (`.demo/` by default, gitignored):

    .microcks-pipeline-demo   marker: only a directory holding it is ever cleaned
    demo.lock                 locked (flock) by the running demo and its dagster dev, with its pid
    catalog/                  copy of examples/catalog, made once (edits survive restarts)
    status.db                 the status store (SQLite), fresh at every start
    dagster_home/             DAGSTER_HOME with the demo dagster.yaml, fresh at every start
    dagster.log               output of `dagster dev`

The local Microcks keeps its services in memory, so every start syncs from scratch: the status
store and Dagster's history are recreated with it, only the catalog copy is kept. That is
why a second demo must never start in a folder a running one uses: the lock refuses it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import quote

from microcks_pipeline.core.identity import entity_ref, service_version
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.tags import ENTITY_TAG

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CATALOG = PROJECT_ROOT / "examples" / "catalog"
WORKSPACE = PROJECT_ROOT / "workspace.yaml"
MARKER = ".microcks-pipeline-demo"
LOCK = "demo.lock"
CLIENT_ID = "microcks-serviceaccount"
CLIENT_ROLES = ["user", "manager"]
HOST = "127.0.0.1"
DEMO_INTERVAL_SECONDS = 2  # the daemon loop ticks every 5 s at best anyway
STOP_GRACE_SECONDS = 8.0  # dagster dev can ignore SIGTERM for over 10 s: then SIGKILL

# The mock printed to try: petstore's `default` mock answers GET /pets/3 with the `spike`
# example of examples/catalog/petstore/mocks/default/petstore-examples.yaml.
SAMPLE_ENTITY = "petstore"
SAMPLE_MOCK_ID = "default"
SAMPLE_PATH = "/pets/3"


EXIT_STOPPED, EXIT_FAILED, EXIT_CANNOT_START = 0, 1, 2


class DemoError(Exception):
    """The demo cannot start or stopped working; the message says what to change or look at."""

    def __init__(self, message: str, exit_code: int = EXIT_CANNOT_START) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class DemoPaths:
    workdir: Path

    @property
    def marker(self) -> Path:
        return self.workdir / MARKER

    @property
    def lock(self) -> Path:
        return self.workdir / LOCK

    @property
    def catalog(self) -> Path:
        return self.workdir / "catalog"

    @property
    def status_db(self) -> Path:
        return self.workdir / "status.db"

    @property
    def dagster_home(self) -> Path:
        return self.workdir / "dagster_home"

    @property
    def log(self) -> Path:
        return self.workdir / "dagster.log"


def instance_yaml(max_concurrent_runs: int = 3) -> str:
    """The demo dagster.yaml: SQLite defaults, a fast run queue, one run per entity, no telemetry."""
    return f"""\
# Written by `microcks-pipeline demo`; SQLite storage (no storage block).
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    dequeue_use_threads: true  # a launch waits for its run process to boot: launch in parallel
    dequeue_num_workers: {max_concurrent_runs}
concurrency:
  runs:
    max_concurrent_runs: {max_concurrent_runs}
    tag_concurrency_limits:
      - key: "{ENTITY_TAG}"
        value:
          applyLimitPerUniqueValue: true
        limit: 1
telemetry:
  enabled: false
"""


def demo_env(
    base: Mapping[str, str],
    *,
    paths: DemoPaths,
    microcks_url: str,
    client_secret: str,
    catalog_root: Path | None = None,
) -> dict[str, str]:
    """The environment of `dagster dev`: the caller's, minus any pipeline or Dagster setting of
    its own (the demo must not sync a real catalog or Microcks), plus the demo's."""
    env = {k: v for k, v in base.items() if not k.startswith(("MICROCKS_", "DAGSTER_", "DAGIT_"))}
    env.update(
        {
            "DAGSTER_HOME": str(paths.dagster_home),
            s.CATALOG_ROOT: str(catalog_root or paths.catalog),
            s.DB_URL: f"sqlite:///{paths.status_db}",
            s.MICROCKS_URL: microcks_url,
            s.MICROCKS_CLIENT_ID: CLIENT_ID,
            s.MICROCKS_CLIENT_SECRET: client_secret,
            s.CATALOG_INTERVAL: str(DEMO_INTERVAL_SECONDS),
            s.SYNC_INTERVAL: str(DEMO_INTERVAL_SECONDS),
        }
    )
    return env


def mock_url(microcks_url: str, name: str, version: str, path: str) -> str:
    """A Microcks mock URL: `<base>/rest/<service name>/<version><path>`, names %20-encoded."""
    return f"{microcks_url.rstrip('/')}/rest/{quote(name, safe='')}/{quote(version, safe='')}{path}"


def sample_mock_url(microcks_url: str) -> str:
    version = service_version(entity_ref(SAMPLE_ENTITY), SAMPLE_MOCK_ID)
    return mock_url(microcks_url, SAMPLE_ENTITY, version, SAMPLE_PATH)


def check_ports_free(host: str, ports: Mapping[str, int]) -> None:
    """Refuse busy ports before anything starts, naming the flag that changes each."""
    if len(set(ports.values())) < len(ports):
        raise DemoError(f"the ports must differ: {', '.join(ports)}")
    for flag, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As uvicorn binds: a port whose old connections wait in TIME_WAIT is free to use.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                raise DemoError(
                    f"port {port} on {host} is busy; choose another with {flag} N"
                ) from None


def check_workdir(paths: DemoPaths) -> None:
    """Refuse a work directory that is a file, or a non-empty one the demo did not make, so a
    wrong --workdir never has its files replaced or deleted."""
    workdir = paths.workdir
    if not workdir.exists():
        return
    if not workdir.is_dir():
        raise DemoError(f"{workdir} is not a directory; give another --workdir")
    if not paths.marker.exists() and any(p.name != LOCK for p in workdir.iterdir()):
        raise DemoError(
            f"{workdir} is not empty and was not made by the demo; give another --workdir"
        )


def lock_workdir(paths: DemoPaths) -> int:
    """Hold the work directory's lock for this process (and what inherits the returned fd).

    The kernel drops a flock when its holders exit, so a lock file left by a killed demo is
    stale by construction and simply taken over. Raises DemoError when a running demo holds it.
    """
    check_workdir(paths)
    paths.workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise DemoError(f"cannot lock {paths.lock}: {exc.strerror}") from None
        by = f" (pid {holder})" if holder.isdigit() else ""
        raise DemoError(
            f"{paths.workdir} is in use by another running demo{by}; stop that one first, "
            "or give this one its own folder with --workdir DIR"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def prepare_workdir(paths: DemoPaths, *, reset: bool, sample: Path = SAMPLE_CATALOG) -> bool:
    """Create the work directory; True when the catalog was (re)copied from the sample.

    The caller holds the lock (`lock_workdir`): everything but the lock file may be replaced.
    """
    check_workdir(paths)
    workdir = paths.workdir
    if reset and workdir.exists():
        for entry in workdir.iterdir():
            if entry.name == LOCK:
                continue  # its inode is what a second demo would find locked
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    if not sample.is_dir():
        raise DemoError(f"the sample catalog {sample} is missing; run the demo from a clone")
    workdir.mkdir(parents=True, exist_ok=True)
    paths.marker.write_text("made by microcks-pipeline demo; --reset deletes this directory\n")
    # The local Microcks starts empty: state from an earlier run would claim mocks it lacks.
    for stale in (paths.status_db, Path(f"{paths.status_db}-wal"), Path(f"{paths.status_db}-shm")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(paths.dagster_home, ignore_errors=True)
    paths.dagster_home.mkdir()
    (paths.dagster_home / "dagster.yaml").write_text(instance_yaml())
    copied = not paths.catalog.exists()
    if copied:
        shutil.copytree(sample, paths.catalog)
    return copied


# -- processes ------------------------------------------------------------------------------


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


def wait_until_answers(
    url: str, *, timeout: float, alive: Callable[[], bool], interval: float = 0.5
) -> bool:
    """Poll `url` until it answers 200; False on timeout. Raises DemoError if `alive` turns False."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise DemoError("dagster dev stopped before the first sync", EXIT_FAILED)
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return True
            time.sleep(interval)
    return False


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


# -- the command ----------------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM arrived."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _ignore_signals() -> None:
    """No second Ctrl-C or SIGTERM may cut the cleanup short (it is bounded by the grace)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the current directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _banner(paths: DemoPaths, *, copied: bool, ui_url: str, microcks: str, url: str) -> str:
    what = "copied from examples/catalog" if copied else "kept from the last run"
    return (
        "microcks-pipeline demo\n"
        f"  catalog:     {_shown(paths.catalog)}  ({what}; --reset starts over)\n"
        f"  Dagster UI:  {ui_url}\n"
        f"  Microcks:    {microcks}  (local Microcks-compatible server, auth on)\n"
        f"  mock URL:    {url}\n"
        f"  try:         curl {url}\n"
        f"  Dagster log: {_shown(paths.log)}\n"
        "  walkthrough: README.md, section Demo walkthrough\n"
        "waiting for the first sync (Dagster starting, sensors every 5 s) ..."
    )


def _until_stopped(
    args: argparse.Namespace,
    paths: DemoPaths,
    stack: contextlib.ExitStack,
    *,
    copied: bool,
    lock: int,
) -> None:
    """Start both servers (stopped by `stack`), wait for the first mock, then for a signal."""
    from microcks_pipeline.localserver import ServerConfig, running_server

    secret = secrets.token_urlsafe(24)  # lives only in this process and dagster dev's env
    config = ServerConfig(auth_enabled=True, clients={CLIENT_ID: (secret, CLIENT_ROLES)})
    try:
        server = stack.enter_context(running_server(config, host=HOST, port=args.microcks_port))
    except RuntimeError:  # taken since the port check
        raise DemoError(
            f"port {args.microcks_port} on {HOST} is busy; choose another with --microcks-port N"
        ) from None
    env = demo_env(os.environ, paths=paths, microcks_url=server.base_url, client_secret=secret)
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(WORKSPACE)]
    # dagster dev inherits the lock: the folder stays taken while it runs, even if we die.
    dagster = start_group(
        [*command, "-h", HOST, "-p", str(args.port)],
        env=env,
        cwd=paths.workdir,
        log=paths.log,
        pass_fds=(lock,),
    )
    stack.callback(stop_group, dagster)
    stack.callback(print, "stopping ...", flush=True)
    stack.callback(_ignore_signals)

    url = sample_mock_url(server.base_url)
    ui_url = f"http://{HOST}:{args.port}"
    print(_banner(paths, copied=copied, ui_url=ui_url, microcks=server.base_url, url=url))
    sys.stdout.flush()
    try:
        answered = wait_until_answers(
            url, timeout=args.ready_timeout, alive=lambda: dagster.poll() is None
        )
    except DemoError as exc:
        tail = log_tail(paths.log)
        raise DemoError(f"{exc}; last lines of {_shown(paths.log)}:\n{tail}", EXIT_FAILED) from None
    if not answered:
        raise DemoError(
            f"the mock did not answer within {args.ready_timeout:g} s; see {_shown(paths.log)} "
            "and the UI (catalog edited? --reset starts over)",
            EXIT_FAILED,
        )
    print("ready: the mock answers. Ctrl-C stops everything.", flush=True)
    while dagster.poll() is None:
        time.sleep(0.5)
    raise DemoError(f"dagster dev exited; see {_shown(paths.log)}", EXIT_FAILED)


def run(args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C or SIGTERM: 0 when stopped so, 1 when it failed, 2 when it
    could not start (busy port, unusable work directory)."""
    paths = DemoPaths(Path(args.workdir).resolve())
    try:
        check_ports_free(HOST, {"--port": args.port, "--microcks-port": args.microcks_port})
        lock = lock_workdir(paths)
    except (DemoError, OSError) as exc:
        return _refused(exc, f"cannot use {paths.workdir}")
    try:
        return _run_locked(args, paths, lock)
    finally:
        os.close(lock)


def _refused(exc: DemoError | OSError, doing: str) -> int:
    """One `error:` line saying why the demo cannot start (never a traceback); its exit code."""
    if isinstance(exc, DemoError):
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"error: {doing}: {exc.strerror or exc}", file=sys.stderr)
    return EXIT_CANNOT_START


def _run_locked(args: argparse.Namespace, paths: DemoPaths, lock: int) -> int:
    try:
        copied = prepare_workdir(paths, reset=args.reset)
    except (DemoError, OSError) as exc:
        return _refused(exc, f"cannot prepare {paths.workdir}")

    # Also when started in the background, where a shell leaves SIGINT ignored.
    previous = signal.signal(signal.SIGTERM, _raise_stop), signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = EXIT_STOPPED
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(print, "stopped", flush=True)
            try:
                _until_stopped(args, paths, stack, copied=copied, lock=lock)
            except DemoError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                code = exc.exit_code
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    return code


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo", help="run the local Microcks and Dagster on a copy of the sample catalog"
    )
    p.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    p.add_argument(
        "--microcks-port", type=int, default=8585, help="local Microcks port (default 8585)"
    )
    p.add_argument("--workdir", default=".demo", help="work directory (default .demo)")
    p.add_argument(
        "--reset", action="store_true", help="start over from a fresh copy of the sample catalog"
    )
    p.add_argument(
        "--ready-timeout",
        type=float,
        default=180.0,
        help="seconds to wait for the first mock to answer (default 180)",
    )
    p.set_defaults(run=run)
