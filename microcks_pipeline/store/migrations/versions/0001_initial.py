"""Status, events and state tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision: migrations never import the live schema module.
_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "csit_microcks_sync_status",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity_ref", sa.String(255), nullable=False),
        sa.Column("mock_id", sa.String(64), nullable=False),
        sa.Column("entity_hash", sa.String(128), nullable=False),
        sa.Column("desired_action", sa.String(16), nullable=False),
        sa.Column("microcks_version_id", sa.String(128), nullable=False),
        sa.Column("fingerprint_hash", sa.String(128), nullable=False),
        sa.Column("applied_fingerprint", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("microcks_service_id", sa.String(128), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint(
            "entity_ref", "mock_id", name="uq_csit_microcks_sync_status_entity_mock"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'leased', 'completed', 'error')",
            name="ck_csit_microcks_sync_status_status",
        ),
        sa.CheckConstraint(
            "desired_action IN ('reconcile', 'delete')",
            name="ck_csit_microcks_sync_status_action",
        ),
    )
    op.create_index(
        "ix_csit_microcks_sync_status_due",
        "csit_microcks_sync_status",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "csit_microcks_sync_events",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("entity_ref", sa.String(255), nullable=False),
        sa.Column("mock_id", sa.String(64), nullable=True),
        sa.Column("sync_status_id", sa.Integer, nullable=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("run_id", sa.String(128), nullable=True),
        sa.Column("details", sa.JSON, nullable=True),
        sa.CheckConstraint(
            "level IN ('info', 'warn', 'error')", name="ck_csit_microcks_sync_events_level"
        ),
    )
    op.create_index(
        "ix_csit_microcks_sync_events_entity", "csit_microcks_sync_events", ["entity_ref", "id"]
    )
    op.create_index(
        "ix_csit_microcks_sync_events_created", "csit_microcks_sync_events", ["created_at"]
    )
    op.create_table(
        "csit_microcks_sync_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("until", _TS, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("csit_microcks_sync_state")
    op.drop_index("ix_csit_microcks_sync_events_created", "csit_microcks_sync_events")
    op.drop_index("ix_csit_microcks_sync_events_entity", "csit_microcks_sync_events")
    op.drop_table("csit_microcks_sync_events")
    op.drop_index("ix_csit_microcks_sync_status_due", "csit_microcks_sync_status")
    op.drop_table("csit_microcks_sync_status")
