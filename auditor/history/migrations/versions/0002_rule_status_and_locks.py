"""Per-rule status and errors on runs; the tenant lock table.

``runs.rules`` records which rules were assessed so that a finding of a rule that was not assessed is
never reported resolved. Runs recorded before this revision keep ``rules`` NULL ("unknown").

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auditor.history.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("rules", sa.JSON, nullable=True))
        batch.add_column(sa.Column("errors", sa.JSON, nullable=True))
    op.create_table(
        "tenant_locks",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("thread", sa.String(64), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_locks")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("errors")
        batch.drop_column("rules")
