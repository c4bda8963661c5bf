"""Command line `microcks-pipeline <command>`: one small function per command, registered below.

To add a command, write `_add_<name>(commands)` that adds its parser and sets `run=` to a
function `(args) -> exit code`, then append it to COMMANDS. Import heavy modules (Dagster, the
server) inside the `run` function so `validate` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from microcks_pipeline.core.config import (
    CONFIG_FILE_NAME,
    ConfigProblems,
    MicrocksConfig,
    parse_config,
)
from microcks_pipeline.core.yamlio import MAX_YAML_BYTES
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.references import reference_problems, repository_root

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _validate(args: argparse.Namespace) -> int:
    """Check microcks.yaml files: 0 all valid, 1 some invalid, 2 a path missing or nothing found."""
    from microcks_pipeline.defs.settings import ALLOWED_HOSTS, artifact_url_policy

    try:
        policy = artifact_url_policy()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.repo is not None and not Path(args.repo).is_dir():
        print(f"error: --repo {args.repo}: not a directory", file=sys.stderr)
        return EXIT_USAGE
    worst = EXIT_OK
    with ArtifactReader(policy) as reader:
        check = _FileCheck(reader, args.repo, check_hosts=bool(os.environ.get(ALLOWED_HOSTS)))
        for given in args.paths:
            files = list(_config_files(Path(given)))
            if not files:
                what = (
                    "path not found" if not os.path.lexists(given) else f"no {CONFIG_FILE_NAME} in"
                )
                print(f"error: {what}: {given}", file=sys.stderr)
                worst = max(worst, EXIT_USAGE)
            for path in files:
                if not check.report(path):
                    worst = max(worst, EXIT_INVALID)
    return worst


class _FileCheck:
    """Checks one microcks.yaml after another with one reader and one repository root rule."""

    def __init__(self, reader: ArtifactReader, repo: str | None, *, check_hosts: bool) -> None:
        self.reader = reader
        self.repo = Path(repo) if repo else None
        self.check_hosts = check_hosts

    def report(self, path: Path) -> bool:
        """Summary on stdout, problems then warnings on stderr; True when the file is valid."""
        name = str(path)
        problems, warnings, config = self.problems(path)
        if problems:
            print(f"invalid {name}: {len(problems)} problem(s)")
        else:
            assert config is not None
            ids = ", ".join(m.mock_id for m in config.mocks)
            print(f"ok {name}: {len(config.mocks)} mock(s): {ids}")
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return not problems

    def problems(self, path: Path) -> tuple[list[str], tuple[str, ...], MicrocksConfig | None]:
        name = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_YAML_BYTES:  # refuse before reading a huge file into memory
                return (
                    [f"{name}: file is {size} bytes, over the {MAX_YAML_BYTES} byte limit"],
                    (),
                    None,
                )
            config = parse_config(path.read_bytes(), name)
        except ConfigProblems as exc:
            return [str(p) for p in exc.problems], exc.warnings, None
        except OSError as exc:
            return [f"{name}: cannot read: {exc.strerror or exc}"], (), None
        root = self.repo or repository_root(path)
        found = list(config.problems) + reference_problems(
            config, path, root, self.reader, check_hosts=self.check_hosts
        )
        found.sort(key=lambda p: p.line or 0)
        return [str(p) for p in found], config.warnings, config


def _config_files(path: Path) -> Iterator[Path]:
    """The path itself if it is a file, else every microcks.yaml below it (hidden dirs skipped)."""
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        return
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if CONFIG_FILE_NAME in files:
            yield Path(root) / CONFIG_FILE_NAME


VALIDATE_EPILOG = f"""\
Checks each file's fields against the JSON Schema, the files it names (they must exist inside
the repository and be what they claim: a main artifact Microcks imports and detects as such
for main.path or openapi.path (OpenAPI, Swagger, AsyncAPI, GraphQL, gRPC proto3, Postman,
SoapUI, HAR), APIExamples (or Postman, HAR) or APIMetadata for artifacts of kind examples or
metadata) and its URLs (https only unless
MICROCKS_PIPELINE_ALLOW_HTTP; hosts from MICROCKS_PIPELINE_ALLOWED_HOSTS when it is set).
Exit codes: {EXIT_OK} every file valid, {EXIT_INVALID} a file invalid, {EXIT_USAGE} a path missing,
no {CONFIG_FILE_NAME} found, or a bad command line."""


def _add_validate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "validate",
        help=f"check {CONFIG_FILE_NAME} files",
        epilog=VALIDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="path", help=f"a {CONFIG_FILE_NAME} or a folder")
    p.add_argument(
        "--repo",
        metavar="DIR",
        help="repository root no referenced path may leave (default: the folder holding .git "
        "above each file, else the file's folder)",
    )
    p.set_defaults(run=_validate)


def _serve_microcks(args: argparse.Namespace) -> int:
    """Run the local Microcks-compatible server until interrupted; prints its base URL."""
    from microcks_pipeline.localserver import ServerConfig, serve

    secret = args.client_secret or os.environ.get("MICROCKS_CLIENT_SECRET", "")
    if not args.no_auth and not secret:
        print(
            "error: give --client-secret or MICROCKS_CLIENT_SECRET (or --no-auth)", file=sys.stderr
        )
        return EXIT_USAGE
    clients = {args.client_id: (secret, ["user", "manager"])} if secret else {}
    try:
        config = ServerConfig(
            auth_enabled=not args.no_auth,
            clients=clients,
            faults_enabled=args.faults,
            grpc_port=args.grpc_port,
            async_frequency_override_seconds=args.async_frequency,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        serve(config, host=args.host, port=args.port, on_ready=lambda url: print(url, flush=True))
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:  # e.g. the gRPC port is taken
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _add_serve_microcks(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve-microcks", help="run the local Microcks-compatible server")
    p.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--no-auth", action="store_true", help="Keycloak disabled: no token needed")
    p.add_argument(
        "--client-id", default="microcks-serviceaccount", help="client of the token endpoint"
    )
    p.add_argument("--client-secret", help="its secret (default: env MICROCKS_CLIENT_SECRET)")
    p.add_argument("--faults", action="store_true", help="enable fault injection (/_faults/...)")
    p.add_argument(
        "--grpc-port", type=int, help="also serve gRPC mocks on this port (Microcks: 9090)"
    )
    p.add_argument(
        "--async-frequency",
        type=float,
        metavar="SECONDS",
        help="publish event mocks every SECONDS instead of each operation's frequency",
    )
    p.set_defaults(run=_serve_microcks)


def _serve_status(args: argparse.Namespace) -> int:
    """Serve the read-only status API over the status store until interrupted."""
    from microcks_pipeline.core.errors import ConfigError
    from microcks_pipeline.status import serve_status
    from microcks_pipeline.status.app import TOKEN_ENV
    from microcks_pipeline.store import StatusStore
    from microcks_pipeline.store.migrate import head_revision

    try:
        store = StatusStore()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        revision = store.schema_revision()
    except Exception as exc:  # the database is down: serve anyway, /healthz says so
        print(f"warning: status database not reachable yet ({type(exc).__name__})", file=sys.stderr)
    else:
        if revision != head_revision():
            print(
                f"warning: {store.url_for_display} is at schema revision {revision or 'none'}, "
                f"not {head_revision()}: the pipeline migrates it when it starts",
                file=sys.stderr,
            )
    token = os.environ.get(TOKEN_ENV) or None
    try:
        serve_status(
            store,
            host=args.host,
            port=args.port,
            token=token,
            on_ready=lambda url: print(
                f"status API on {url}/api/v1/entities"
                + (" (bearer token required)" if token else ""),
                flush=True,
            ),
        )
    except KeyboardInterrupt:
        pass
    return EXIT_OK


SERVE_STATUS_EPILOG = """\
Serves, read-only, what the status store says of every managed entity and its mocks:
  GET /api/v1/entities          every entity (ETag; 304 on If-None-Match)
  GET /api/v1/entities/{ref}    one entity, e.g. /api/v1/entities/api:default/petstore
  GET /healthz                  200 when the status database answers (migrated), else 503
  GET /metrics                  Prometheus metrics
The database is the pipeline's: MICROCKS_PIPELINE_DB_URL (default: microcks-pipeline.db in the
working folder). With MICROCKS_PIPELINE_STATUS_TOKEN set, /api/v1/* and /metrics need
`Authorization: Bearer <token>`. See the README's "Status API" for the contract."""


def _add_serve_status(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "serve-status",
        help="serve the read-only status API (mock URLs and sync status, for Backstage)",
        description="Serve the read-only status API until interrupted.",
        epilog=SERVE_STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port", type=_port, default=8090, help="TCP port (default 8090; 0 picks a free one)"
    )
    p.set_defaults(run=_serve_status)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def _add_plan(commands: argparse._SubParsersAction) -> None:
    from microcks_pipeline.cli.plan_command import add_parser  # light: Dagster loads in run

    add_parser(commands)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    from microcks_pipeline.cli.demo import add_parser  # light: Dagster and the server load in run

    add_parser(commands)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_validate,
    _add_plan,
    _add_serve_microcks,
    _add_serve_status,
    _add_demo,
]


# What `--help` tells a user (the module docstring above is for developers).
DESCRIPTION = (
    "Keep Microcks mocks equal to what a Backstage catalog declares in microcks.yaml files. "
    "The sync itself runs in Dagster (`dagster dev` or a deployment); these commands check "
    "files, preview a sync, serve the status API Backstage reads, and run the local demo."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microcks-pipeline", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return args.run(args)
