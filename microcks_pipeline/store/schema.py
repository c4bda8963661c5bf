"""Table definitions of the status store (SQLAlchemy Core), as the queries see them.

The DDL itself is owned by the Alembic migrations in `migrations/versions/`; a test checks that a
migrated database matches these definitions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

STATUS_TABLE = "csit_microcks_sync_status"
EVENTS_TABLE = "csit_microcks_sync_events"
STATE_TABLE = "csit_microcks_sync_state"

STATUSES = ("pending", "leased", "completed", "error")
ACTIONS = ("reconcile", "delete")
LEVELS = ("info", "warn", "error")

# Column sizes, checked before writing so PostgreSQL never rejects a value SQLite would accept.
REF_LEN = 255
MOCK_ID_LEN = 64
HASH_LEN = 128
OWNER_LEN = 128
EVENT_TYPE_LEN = 64
CAUSE_LEN = 32
KIND_LEN = 16


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so values are stored as naive UTC
    text (which also sorts and compares correctly) and come back aware. Naive input is refused:
    guessing its zone is how lease expiry goes wrong.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Events ids grow without bound; SQLite needs INTEGER for an auto-incrementing rowid alias.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

status_table = sa.Table(
    STATUS_TABLE,
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity_ref", sa.String(REF_LEN), nullable=False),
    sa.Column("mock_id", sa.String(MOCK_ID_LEN), nullable=False),
    sa.Column("entity_hash", sa.String(HASH_LEN), nullable=False),
    sa.Column("desired_action", sa.String(16), nullable=False),
    sa.Column("microcks_version_id", sa.String(HASH_LEN), nullable=False),
    sa.Column("fingerprint_hash", sa.String(HASH_LEN), nullable=False),
    sa.Column("applied_fingerprint", sa.String(HASH_LEN), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
    sa.Column("lease_owner", sa.String(OWNER_LEN), nullable=True),
    sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("microcks_service_id", sa.String(OWNER_LEN), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # lifecycle.Cause: why the row is in its state (migration 0002).
    sa.Column("failure_cause", sa.String(CAUSE_LEN), nullable=True),
    # converge.AppliedRecord.to_json() of the last verified apply (migration 0003).
    sa.Column("applied_artifacts", sa.JSON, nullable=True),
    # What the last successful sync left served, for the status service (migration 0004);
    # mock_url is NULL unless the mock's last completion was a reconcile.
    sa.Column("api_kind", sa.String(KIND_LEN), nullable=True),
    sa.Column("include_in_swagger", sa.Boolean, nullable=True),
    sa.Column("service_name", sa.String(REF_LEN), nullable=True),
    sa.Column("mock_url", sa.Text, nullable=True),
    sa.Column("last_success_at", UtcDateTime(), nullable=True),
    # Its index also serves every lookup by entity_ref (leading column).
    sa.UniqueConstraint("entity_ref", "mock_id", name="uq_csit_microcks_sync_status_entity_mock"),
    sa.CheckConstraint(
        "status IN ('pending', 'leased', 'completed', 'error')",
        name="ck_csit_microcks_sync_status_status",
    ),
    sa.CheckConstraint(
        "desired_action IN ('reconcile', 'delete')",
        name="ck_csit_microcks_sync_status_action",
    ),
    sa.Index("ix_csit_microcks_sync_status_due", "status", "next_attempt_at"),
)

events_table = sa.Table(
    EVENTS_TABLE,
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("entity_ref", sa.String(REF_LEN), nullable=False),
    sa.Column("mock_id", sa.String(MOCK_ID_LEN), nullable=True),
    # No foreign key: the log outlives forgotten rows and must never fail on a stale id.
    sa.Column("sync_status_id", sa.Integer, nullable=True),
    sa.Column("event_type", sa.String(EVENT_TYPE_LEN), nullable=False),
    sa.Column("level", sa.String(8), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("run_id", sa.String(OWNER_LEN), nullable=True),
    sa.Column("details", sa.JSON, nullable=True),
    sa.CheckConstraint(
        "level IN ('info', 'warn', 'error')", name="ck_csit_microcks_sync_events_level"
    ),
    sa.Index("ix_csit_microcks_sync_events_entity", "entity_ref", "id"),
    sa.Index("ix_csit_microcks_sync_events_created", "created_at"),
)

state_table = sa.Table(
    STATE_TABLE,
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("until", UtcDateTime(), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
