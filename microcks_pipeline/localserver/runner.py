"""Runs the server with uvicorn: in a background thread for tests, or blocking for the CLI and demo."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .config import ServerConfig
from .grpc_server import start_grpc_server


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    app: Starlette
    # gRPC mocks' port when ServerConfig.grpc_port is set (the bound one when it was 0).
    grpc_port: int | None = None


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return sock.getsockname()[1]
    raise RuntimeError("uvicorn did not bind a socket")


@contextmanager
def running_server(
    config: ServerConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningServer]:
    """A real uvicorn server in a daemon thread; port 0 picks a free port. Stops on exit."""
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
    )

    def run() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; reported below
            pass

    grpc_server, grpc_port = _start_grpc(app, host)
    thread = threading.Thread(target=run, name="microcks-localserver", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(
                    f"the local Microcks server could not start on {_url(host, port)}"
                )
            thread.join(0.01)
        yield RunningServer(_url(host, _bound_port(server)), app, grpc_port)
    finally:
        server.should_exit = True
        thread.join(10)
        if grpc_server is not None:
            grpc_server.stop(grace=None)


def _start_grpc(app: Starlette, host: str) -> tuple[grpc.Server | None, int | None]:
    """The gRPC mock server beside the HTTP one when the config asks for it."""
    config: ServerConfig = app.state.config
    if config.grpc_port is None:
        return None, None
    return start_grpc_server(app.state.store, host, config.grpc_port)


def serve(
    config: ServerConfig,
    *,
    host: str,
    port: int,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted; on_ready gets the base URL once the socket is bound.

    With `config.grpc_port` set, gRPC mocks are served on that port too.
    """
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
    )
    if on_ready is not None:
        original_startup = server.startup

        async def startup(sockets: list | None = None) -> None:
            await original_startup(sockets=sockets)
            if server.started:
                on_ready(_url(host, _bound_port(server)))

        server.startup = startup  # type: ignore[method-assign]
    grpc_server, _ = _start_grpc(app, host)
    try:
        server.run()
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=None)
