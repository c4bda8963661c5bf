"""What a mock's last successful sync left served: kind, includeInSwagger, service name, mock
URL and time, for the status service (issue 17).

Existing rows get NULLs: their mocks count as served again after their next successful sync.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = ("api_kind", "include_in_swagger", "service_name", "mock_url", "last_success_at")


def upgrade() -> None:
    with op.batch_alter_table("csit_microcks_sync_status") as batch:
        batch.add_column(sa.Column("api_kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("include_in_swagger", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("service_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("mock_url", sa.Text, nullable=True))
        batch.add_column(sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("csit_microcks_sync_status") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
