"""Runs the status service with uvicorn: blocking for the CLI and the demo, in a thread for tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn

from microcks_pipeline.status.app import create_app
from microcks_pipeline.store import StatusStore


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return sock.getsockname()[1]
    raise RuntimeError("uvicorn did not bind a socket")


def _server(store: StatusStore, token: str | None, host: str, port: int) -> uvicorn.Server:
    app = create_app(store, token=token)
    return uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
    )


def serve_status(
    store: StatusStore,
    *,
    host: str,
    port: int,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted; on_ready gets the base URL once the socket is bound."""
    server = _server(store, token, host, port)
    if on_ready is not None:
        original_startup = server.startup

        async def startup(sockets: list | None = None) -> None:
            await original_startup(sockets=sockets)
            if server.started:
                on_ready(_url(host, _bound_port(server)))

        server.startup = startup  # type: ignore[method-assign]
    server.run()


@contextmanager
def running_status_server(
    store: StatusStore, *, token: str | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """The service in a daemon thread (port 0: a free one); yields its base URL, stops on exit."""
    server = _server(store, token, host, port)

    def run() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; reported below
            pass

    thread = threading.Thread(target=run, name="microcks-pipeline-status", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the status service could not start on {_url(host, port)}")
        thread.join(0.01)
    try:
        yield _url(host, _bound_port(server))
    finally:
        server.should_exit = True
        thread.join(10)
