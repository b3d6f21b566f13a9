"""The migration plan per run: ``runs.plan`` (status, users on per-user MFA, per wave) and ``plan_users``.

The next run compares its plan with the baseline's to say how many users moved off per-user MFA. Runs
recorded before this revision keep ``plan`` NULL and have no ``plan_users`` rows ("no plan recorded").

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("plan", sa.JSON, nullable=True))
    op.create_table(
        "plan_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("upn", sa.Text, nullable=False),
        sa.Column("wave", sa.Integer, nullable=False),
    )
    op.create_index("ix_plan_users_run", "plan_users", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_plan_users_run", table_name="plan_users")
    op.drop_table("plan_users")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("plan")
