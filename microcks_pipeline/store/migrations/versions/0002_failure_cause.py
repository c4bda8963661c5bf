"""The cause of a row's state as a column of its own (lifecycle.Cause).

Existing rows get the cause the fingerprints used to encode: a delete row whose fingerprint is
not the plain delete's is a load failure; other delete rows are removals; settled errors were
refused by Microcks; pending rows with an error are retries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STATUS = "csit_microcks_sync_status"


def _plain_delete_fingerprint(entity_ref: str, mock_id: str) -> str:
    # Frozen copy of plan.delete_fingerprint at revision 0001: migrations import no live code.
    return "delete:" + hashlib.sha256(f"{entity_ref}\n{mock_id}".encode()).hexdigest()


def _cause(row: sa.Row) -> str | None:
    if row.desired_action == "delete":
        plain = row.fingerprint_hash == _plain_delete_fingerprint(row.entity_ref, row.mock_id)
        return "removed_from_catalog" if plain else "load_failed"
    if row.status == "error":
        return "rejected_by_microcks"
    if row.status == "pending" and row.last_error:
        return "transient"
    return None


def upgrade() -> None:
    with op.batch_alter_table(_STATUS) as batch:
        batch.add_column(sa.Column("failure_cause", sa.String(32), nullable=True))
    table = sa.table(
        _STATUS,
        sa.column("id", sa.Integer),
        sa.column("entity_ref", sa.String),
        sa.column("mock_id", sa.String),
        sa.column("desired_action", sa.String),
        sa.column("fingerprint_hash", sa.String),
        sa.column("status", sa.String),
        sa.column("last_error", sa.Text),
        sa.column("failure_cause", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            table.c.id,
            table.c.entity_ref,
            table.c.mock_id,
            table.c.desired_action,
            table.c.fingerprint_hash,
            table.c.status,
            table.c.last_error,
        )
    ).all()
    updates = [{"b_id": r.id, "b_cause": c} for r in rows if (c := _cause(r)) is not None]
    if updates:
        conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(failure_cause=sa.bindparam("b_cause")),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table(_STATUS) as batch:
        batch.drop_column("failure_cause")
