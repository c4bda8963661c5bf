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

from microcks_pipeline.config import CONFIG_FILE_NAME, ConfigProblems, parse_config
from microcks_pipeline.yamlio import MAX_YAML_BYTES

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _validate(args: argparse.Namespace) -> int:
    """Check microcks.yaml files: 0 all valid, 1 some invalid, 2 a path missing or nothing found."""
    worst = EXIT_OK
    for given in args.paths:
        files = list(_config_files(Path(given)))
        if not files:
            what = "path not found" if not os.path.lexists(given) else f"no {CONFIG_FILE_NAME} in"
            print(f"error: {what}: {given}", file=sys.stderr)
            worst = max(worst, EXIT_USAGE)
        for path in files:
            if not _validate_file(path):
                worst = max(worst, EXIT_INVALID)
    return worst


def _validate_file(path: Path) -> bool:
    """Report one file (summary on stdout, problems and warnings on stderr); True when valid."""
    name = str(path)
    warnings: tuple[str, ...] = ()
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:  # refuse before reading a huge file into memory
            problems = [f"{name}: file is {size} bytes, over the {MAX_YAML_BYTES} byte limit"]
        else:
            config = parse_config(path.read_bytes(), name)
            problems = [str(p) for p in config.problems]
            warnings = config.warnings
    except ConfigProblems as exc:
        problems, warnings = [str(p) for p in exc.problems], exc.warnings
    except OSError as exc:
        problems = [f"{name}: cannot read: {exc.strerror or exc}"]
    if problems:
        print(f"invalid {name}: {len(problems)} problem(s)")
    else:
        ids = ", ".join(m.mock_id for m in config.mocks)
        print(f"ok {name}: {len(config.mocks)} mock(s): {ids}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return not problems


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


def _add_validate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("validate", help=f"check {CONFIG_FILE_NAME} files")
    p.add_argument("paths", nargs="+", metavar="path", help=f"a {CONFIG_FILE_NAME} or a folder")
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
    config = ServerConfig(
        auth_enabled=not args.no_auth, clients=clients, faults_enabled=args.faults
    )
    try:
        serve(config, host=args.host, port=args.port, on_ready=lambda url: print(url, flush=True))
    except KeyboardInterrupt:
        pass
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
    p.set_defaults(run=_serve_microcks)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    from microcks_pipeline.demo import add_parser  # light: Dagster and the server load in run

    add_parser(commands)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_validate,
    _add_serve_microcks,
    _add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microcks-pipeline", description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    sys.exit(main())
