"""The production topology on one machine, as Dagster's Helm chart runs it: a code server
(`dagster api grpc`, checked with `dagster api grpc-health-check`), `dagster-daemon` and
`dagster-webserver` reading a workspace that points at it over gRPC, the production
`dagster.yaml`, Dagster storage and the status store on PostgreSQL (a database of its own,
created and dropped here). Used by the topology test and the 10,000-entity benchmark.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from microcks_pipeline.cli.processes import log_tail, start_group, stop_group
from microcks_pipeline.defs import settings as s

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_INSTANCE = PROJECT_ROOT / "dagster.yaml"
CODE_MODULE = "microcks_pipeline.definitions"
LOCATION = "microcks_pipeline"
BIN = Path(sys.executable).parent


class TopologyError(RuntimeError):
    """A process of the topology did not come up; the message carries its log's tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL database: host, port, user (trust or password auth), name."""

    host: str
    port: int
    user: str
    name: str
    password: str = ""

    @classmethod
    def from_url(cls, url: str) -> Postgres:
        """The server and database of a SQLAlchemy URL (`postgresql+psycopg2://user@host/db`)."""
        parsed = make_url(url)
        return cls(
            parsed.host or "127.0.0.1",
            parsed.port or 5432,
            parsed.username or "postgres",
            parsed.database or "postgres",
            parsed.password or "",
        )

    def url(self, database: str | None = None) -> str:
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgresql+psycopg2://{auth}@{self.host}:{self.port}/{database or self.name}"

    def dagster_env(self) -> dict[str, str]:
        """The variables the production dagster.yaml reads."""
        return {
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_DB": self.name,
            "DAGSTER_PG_PORT": str(self.port),
        }


@contextmanager
def fresh_database(server: Postgres) -> Iterator[Postgres]:
    """A new, uniquely named database on `server` (connecting to `server.name`), dropped after."""
    name = f"mp_topology_{secrets.token_hex(6)}"
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield Postgres(server.host, server.port, server.user, name, server.password)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Topology:
    """The processes of one deployment; `start()` brings them up, `stop()` takes them down."""

    workdir: Path
    database: Postgres
    env: dict[str, str]
    grpc_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    code_server: subprocess.Popen[bytes] | None = None
    daemon: subprocess.Popen[bytes] | None = None
    webserver: subprocess.Popen[bytes] | None = None
    # Earlier code servers (killed, restarted): their sessions may still hold run workers.
    retired: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.workdir / "dagster_home"

    @property
    def workspace(self) -> Path:
        return self.workdir / "workspace.yaml"

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def prepare(self) -> None:
        """DAGSTER_HOME with the production dagster.yaml; a workspace naming the gRPC server."""
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PRODUCTION_INSTANCE, self.home / "dagster.yaml")
        self.workspace.write_text(
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {self.grpc_port}\n      location_name: {LOCATION}\n"
        )

    def _start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        return start_group(command, env=self.env, cwd=self.workdir, log=self.log(name))

    def start_code_server(self, timeout: float = 90.0) -> None:
        """The chart's command, then its readiness probe until it answers."""
        if self.code_server is not None:
            self.retired.append(self.code_server)
        self.code_server = self._start(
            "code-server",
            [str(BIN / "dagster"), "api", "grpc", "-h", "127.0.0.1", "-p", str(self.grpc_port)]
            + ["-m", CODE_MODULE],
        )
        probe = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(self.grpc_port)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.code_server.poll() is not None:
                break
            done = subprocess.run(probe, env=self.env, capture_output=True, timeout=30)
            if done.returncode == 0:
                return
            time.sleep(0.5)
        raise TopologyError(f"code server not healthy:\n{log_tail(self.log('code-server'))}")

    def start(self) -> None:
        """The code server (unless one runs already), then the daemon and the webserver."""
        self.prepare()
        if self.code_server is None or self.code_server.poll() is not None:
            self.start_code_server()
        workspace = ["-w", str(self.workspace)]
        self.daemon = self._start("daemon", [str(BIN / "dagster-daemon"), "run", *workspace])
        self.webserver = self._start(
            "webserver",
            [str(BIN / "dagster-webserver"), *workspace, "-h", "127.0.0.1"]
            + ["-p", str(self.web_port)],
        )

    def graphql(self, query: str, timeout: float = 90.0) -> dict[str, object]:
        """The webserver's answer to a GraphQL query (waiting for it to come up)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = httpx.post(
                    f"http://127.0.0.1:{self.web_port}/graphql", json={"query": query}, timeout=10
                )
                if reply.status_code == 200:
                    return reply.json()
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TopologyError(f"webserver not answering:\n{log_tail(self.log('webserver'))}")
            time.sleep(0.5)

    def stop(self) -> None:
        for proc in (self.webserver, self.daemon, self.code_server, *self.retired):
            if proc is not None:
                stop_group(proc, grace=5)
        self.webserver = self.daemon = self.code_server = None
        self.retired = []


def pipeline_env(
    base: Mapping[str, str],
    *,
    database: Postgres,
    home: Path,
    microcks_url: str,
    client_id: str,
    client_secret: str,
    catalog_root: Path,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every process's environment: the caller's minus pipeline and Dagster settings, plus the
    deployment's (Dagster and the status store on `database`)."""
    env = {k: v for k, v in base.items() if not k.startswith(("MICROCKS_", "DAGSTER_"))}
    path = [str(PROJECT_ROOT), *filter(None, [base.get("PYTHONPATH")])]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(path),
            "DAGSTER_HOME": str(home),
            **database.dagster_env(),
            s.DB_URL: database.url(),
            s.MICROCKS_URL: microcks_url,
            s.MICROCKS_CLIENT_ID: client_id,
            s.MICROCKS_CLIENT_SECRET: client_secret,
            s.CATALOG_ROOT: str(catalog_root),
            **(extra or {}),
        }
    )
    return env


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of `run_id`'s worker process, from the engine event its worker logs at start
    ("Started process for run (pid: N).")."""
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
    ).records:
        message = record.event_log_entry.dagster_event.message or ""
        if message.startswith("Started process for run (pid: "):
            return int(message.split("pid: ")[1].rstrip(").").strip())
    return None


def process_tree(root: int) -> list[int]:
    """The pids below `root` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
