"""The `demo` command: the local Microcks and `dagster dev` on a copy of the sample catalog.

Layout of the work directory (`.demo/` by default, gitignored):

    .microcks-pipeline-demo   marker: only a directory holding it is ever cleaned
    demo.lock                 locked (flock) by the running demo and its dagster dev, with its pid
    catalog/                  copy of examples/catalog, made once (edits survive restarts)
    status.db                 the status store (SQLite), fresh at every start
    dagster_home/             DAGSTER_HOME with the demo dagster.yaml, fresh at every start
    dagster.log               output of `dagster dev`

Beside them, in this process: the local Microcks and the status service (`serve-status`'s
API over the demo's status store), both on 127.0.0.1.

The local Microcks keeps its services in memory, so every start syncs from scratch: the status
store and Dagster's history are recreated with it, only the catalog copy is kept. That is
why a second demo must never start in a folder a running one uses: the lock refuses it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from urllib.parse import quote

from microcks_pipeline.cli.demo_workdir import (
    EXIT_CANNOT_START,
    EXIT_FAILED,
    EXIT_STOPPED,
    WORKSPACE,
    DemoError,
    DemoPaths,
    lock_workdir,
    prepare_workdir,
)
from microcks_pipeline.cli.processes import log_tail, start_group, stop_group
from microcks_pipeline.core.identity import entity_ref, service_version
from microcks_pipeline.defs import settings as s

CLIENT_ID = "microcks-serviceaccount"
CLIENT_ROLES = ["user", "manager"]
HOST = "127.0.0.1"
DEMO_INTERVAL_SECONDS = 2  # the daemon loop ticks every 5 s at best anyway

# The mock printed to try: petstore's `default` mock answers GET /pets/3 with the `spike`
# example of examples/catalog/petstore/mocks/default/petstore-examples.yaml.
SAMPLE_ENTITY = "petstore"
SAMPLE_MOCK_ID = "default"
SAMPLE_PATH = "/pets/3"


def demo_env(
    base: Mapping[str, str],
    *,
    paths: DemoPaths,
    microcks_url: str,
    client_secret: str,
    catalog_root: Path | None = None,
    grpc_endpoint: str | None = None,
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
    if grpc_endpoint:
        env[s.MICROCKS_GRPC_ENDPOINT] = grpc_endpoint
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


# -- processes ------------------------------------------------------------------------------


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


def _banner(
    paths: DemoPaths,
    *,
    copied: bool,
    ui_url: str,
    microcks: str,
    url: str,
    status: str,
    grpc: str = "",
) -> str:
    what = "copied from examples/catalog" if copied else "kept from the last run"
    return (
        "microcks-pipeline demo\n"
        f"  catalog:     {_shown(paths.catalog)}  ({what}; --reset starts over)\n"
        f"  Dagster UI:  {ui_url}\n"
        f"  Microcks:    {microcks}  (local Microcks-compatible server, auth on)\n"
        f"  Status API:  {status}/api/v1/entities  (what Backstage's module reads)\n"
        + (f"  gRPC mocks:  {grpc}\n" if grpc else "")
        + f"  mock URL:    {url}\n"
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
    grpc_port = getattr(args, "grpc_port", None)
    config = ServerConfig(
        auth_enabled=True, clients={CLIENT_ID: (secret, CLIENT_ROLES)}, grpc_port=grpc_port
    )
    try:
        server = stack.enter_context(running_server(config, host=HOST, port=args.microcks_port))
    except RuntimeError:  # taken since the port check
        raise DemoError(
            f"port {args.microcks_port} on {HOST} is busy; choose another with --microcks-port N"
        ) from None
    status = _start_status(args, paths, stack)
    grpc = f"{HOST}:{server.grpc_port}" if server.grpc_port else ""
    env = demo_env(
        os.environ,
        paths=paths,
        microcks_url=server.base_url,
        client_secret=secret,
        grpc_endpoint=grpc or None,
    )
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
    banner = _banner(
        paths,
        copied=copied,
        ui_url=ui_url,
        microcks=server.base_url,
        url=url,
        status=status,
        grpc=grpc,
    )
    print(banner)
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


def _start_status(args: argparse.Namespace, paths: DemoPaths, stack: contextlib.ExitStack) -> str:
    """The status service over the demo's store (migrated now, so it answers from the start);
    its base URL. Stopped by `stack`."""
    from microcks_pipeline.status import running_status_server
    from microcks_pipeline.store import StatusStore

    store = StatusStore(f"sqlite:///{paths.status_db}")
    store.migrate()
    stack.callback(store.dispose)
    try:
        return stack.enter_context(running_status_server(store, host=HOST, port=args.status_port))
    except RuntimeError:  # taken since the port check
        raise DemoError(
            f"port {args.status_port} on {HOST} is busy; choose another with --status-port N"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C or SIGTERM: 0 when stopped so, 1 when it failed, 2 when it
    could not start (busy port, unusable work directory)."""
    paths = DemoPaths(Path(args.workdir).resolve())
    try:
        ports = {
            "--port": args.port,
            "--microcks-port": args.microcks_port,
            "--status-port": args.status_port,
        }
        if getattr(args, "grpc_port", None):
            ports["--grpc-port"] = args.grpc_port
        check_ports_free(HOST, ports)
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
    p.add_argument("--status-port", type=int, default=8090, help="status API port (default 8090)")
    p.add_argument(
        "--grpc-port", type=int, default=9595, help="local Microcks' gRPC mocks port (default 9595)"
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
