"""`microcks-pipeline plan`: gather what `dryrun` compares, read-only, and print the report.

The configuration is resolved exactly as the Dagster code location resolves it
(`resources_from_env`, EnvVars included), the desired state is loaded by the processor's
`ScanCache.desired`, and the status store is only read: no migration, no row, no event, and a
SQLite file that does not exist yet is not created. With `--live` Microcks is read through the
client's entity search (GET only).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from microcks_pipeline.core.errors import CatalogUnavailable, PipelineError
from microcks_pipeline.core.identity import ENTITY_LABEL, entity_hash
from microcks_pipeline.sources.catalog.entity import CatalogSnapshot
from microcks_pipeline.store import StatusStore, StoreNotMigrated
from microcks_pipeline.store.engine import resolve_url
from microcks_pipeline.store.rows import StatusRow
from microcks_pipeline.sync.dryrun import EXIT_ERRORS, DryRun, as_json, as_text, dry_run
from microcks_pipeline.sync.processor import ScanCache


def run(args: argparse.Namespace) -> int:
    """Print the plan (text or JSON); the exit code is the report's (0, 3 or 1)."""
    try:
        report = _report(live=args.live)
    except (PipelineError, ValueError) as exc:
        # Configuration that cannot be used at all (bad env value, store unreachable).
        report = DryRun((), (str(exc),), args.live)
    if args.json:
        print(json.dumps(as_json(report), indent=2))
    else:
        for line in as_text(report):
            print(line)
    return report.exit_code


def _report(*, live: bool) -> DryRun:
    import dagster as dg

    from microcks_pipeline.defs.resources import resources_from_env

    with dg.build_resources(resources_from_env()) as resources:
        rows = store_rows(resources.status_store.db_url)
        with resources.catalog.open() as (source, reader):
            try:
                snapshot = source.list_entities()
            except CatalogUnavailable as exc:
                return dry_run(None, {}, rows, listing_error=str(exc))
            cache = ScanCache()
            desired = {e.ref: cache.desired(e, reader) for e in snapshot.entities}
        if not live:
            return dry_run(snapshot, desired, rows)
        reason = resources.microcks.not_configured_reason
        if reason is not None:
            return DryRun((), (f"--live: {reason}",), True)
        with resources.microcks.client() as client:
            services = {
                ref: client.services_of_entity(name, entity_hash(ref))
                + client.search_labelled(ENTITY_LABEL, ref)  # named by their proto (gRPC)
                for ref, name in _entity_names(snapshot, rows).items()
            }
        return dry_run(snapshot, desired, rows, services=services)


def store_rows(db_url: str) -> list[StatusRow]:
    """Every status row, read without writing: a store not created or migrated yet has none."""
    url = resolve_url(db_url or None)
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
        return []
    store = StatusStore(db_url or None)
    try:
        return store.rows()
    except StoreNotMigrated:
        return []
    finally:
        store.dispose()


def _entity_names(snapshot: CatalogSnapshot, rows: list[StatusRow]) -> dict[str, str]:
    """Entity ref → service name to search for: the listed entity's name, else the ref's."""
    names = {e.ref: e.name for e in snapshot.entities}
    for row in rows:
        names.setdefault(row.entity_ref, row.entity_ref.split("/", 1)[-1])
    return names


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "plan",
        help="dry run: what the next sync would create, update or delete, and why",
        epilog=(
            "Reads the catalog and status store configured by the same environment variables "
            "as the Dagster code location; never writes. Exit codes: 0 nothing to do, "
            f"3 changes pending, {EXIT_ERRORS} errors."
        ),
    )
    p.add_argument("--live", action="store_true", help="also read Microcks and show drift")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run)
