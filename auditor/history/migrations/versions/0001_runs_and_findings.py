"""Runs and their findings.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auditor.history.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("started", UTCDateTime(), nullable=False),
        sa.Column("finished", UTCDateTime(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tool_version", sa.String(32), nullable=False),
        sa.Column("coverage", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("previous_run_id", sa.String(64), nullable=True),
        sa.Column("report_dir", sa.Text, nullable=True),
    )
    op.create_index("ix_runs_tenant_started", "runs", ["tenant", "started"])
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("entity_name", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("change", sa.String(16), nullable=True),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_findings_run_fingerprint", "findings", ["run_id", "fingerprint"])


def downgrade() -> None:
    op.drop_index("ix_findings_run_fingerprint", table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_runs_tenant_started", table_name="runs")
    op.drop_table("runs")
