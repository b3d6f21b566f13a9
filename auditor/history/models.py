"""SQLAlchemy Core tables of the history database (the shape at Alembic ``head``).

The Alembic scripts in ``migrations/versions`` are the source of truth for the schema; these table
objects mirror ``head`` so the store can build statements. A test checks that a database migrated to
head has exactly these columns.

Timestamps are stored as naive UTC (``UTCDateTime``) so SQLite and PostgreSQL behave the same; they
come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

VERSION_TABLE = "entra_auditor_alembic_version"
JOBS_TABLE = "entra_auditor_jobs"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(128), nullable=False),
    Column("tenant_id", String(64), nullable=False, default=""),
    Column("started", UTCDateTime(), nullable=False),
    Column("finished", UTCDateTime(), nullable=True),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("tool_version", String(32), nullable=False, default=""),
    Column("coverage", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("previous_run_id", String(64), nullable=True),
    Column("report_dir", Text, nullable=True),
    # revision 0002
    Column("rules", JSON, nullable=True),  # {rule_id: assessed|not_assessed|disabled}; NULL = unknown
    Column("errors", JSON, nullable=True),
    # revision 0003: the migration plan's summary {status, total, waves}; NULL = no plan recorded
    Column("plan", JSON, nullable=True),
    Index("ix_runs_tenant_started", "tenant", "started"),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("rule_id", String(128), nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("entity_name", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("change", String(16), nullable=True),
    Column("evidence", JSON, nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
    Index("ix_findings_run_fingerprint", "run_id", "fingerprint"),
)

plan_users = Table(  # revision 0003: who was on per-user MFA in each run's migration plan
    "plan_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Text, nullable=False),
    Column("upn", Text, nullable=False),
    Column("wave", Integer, nullable=False),
    Index("ix_plan_users_run", "run_id"),
)

tenant_locks = Table(  # revision 0002
    "tenant_locks",
    metadata,
    Column("tenant", String(128), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("owner", Text, nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("thread", String(64), nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)
