"""Per mock, the artifacts last applied and what the service showed (converge.AppliedRecord).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON as text on both backends: read and written whole, never queried inside.
    with op.batch_alter_table("csit_microcks_sync_status") as batch:
        batch.add_column(sa.Column("applied_artifacts", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("csit_microcks_sync_status") as batch:
        batch.drop_column("applied_artifacts")
