"""The trend query: open findings per severity of a tenant's last recorded runs.

Every recorded run stores its open counts per severity in ``runs.counts`` (``{"open": {severity: n}}``),
so the series is one indexed read of the ``runs`` table (``ix_runs_tenant_started``), however many
findings the runs hold. A run whose counts lack the per-severity numbers (written by another tool or
edited by hand) is counted from its ``findings`` rows with one ``GROUP BY`` over all such runs at once.
Partial runs are included and keep their status (their counts may be low: rules were not assessed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from auditor.findings import SEVERITIES
from auditor.history.models import findings, runs


@dataclass(frozen=True)
class TrendPoint:
    """One run of the series: when it started, its status and its open findings per severity."""

    run_id: str
    started: datetime
    status: str
    open: dict[str, int] = field(default_factory=dict)
    current: bool = False  # the run the report is about (not recorded yet while the report is rendered)

    @property
    def total(self) -> int:
        return sum(self.open.values())


def _per_severity(raw: Any) -> dict[str, int] | None:
    """``counts["open"]`` as ``{severity: int}`` for every severity, or None when it is not there."""
    if not isinstance(raw, dict):
        return None
    try:
        return {sev: int(raw.get(sev) or 0) for sev in SEVERITIES}
    except (TypeError, ValueError):
        return None


def recent_open_counts(conn: Connection, tenant: str, limit: int, *, exclude: str | None = None) -> list[TrendPoint]:
    """The newest ``limit`` recorded runs of ``tenant`` (not ``exclude``), oldest first."""
    if limit < 1:
        return []
    query = (
        select(runs.c.id, runs.c.started, runs.c.status, runs.c.counts)
        .where(runs.c.tenant == tenant)
        .order_by(runs.c.started.desc(), runs.c.recorded_at.desc())
        .limit(limit)
    )
    if exclude:
        query = query.where(runs.c.id != exclude)
    rows = conn.execute(query).all()
    stored = {r.id: _per_severity((r.counts or {}).get("open") if isinstance(r.counts, dict) else None) for r in rows}
    missing = [run_id for run_id, counts in stored.items() if counts is None]
    counted = _count_findings(conn, missing) if missing else {}
    return [
        TrendPoint(run_id=r.id, started=r.started, status=r.status, open=stored[r.id] or counted[r.id])
        for r in reversed(rows)
    ]


def _count_findings(conn: Connection, run_ids: list[str]) -> dict[str, dict[str, int]]:
    """Open (not waived) findings per severity of ``run_ids``, counted in the database."""
    out = {run_id: dict.fromkeys(SEVERITIES, 0) for run_id in run_ids}
    query = (
        select(findings.c.run_id, findings.c.severity, func.count())
        .where(findings.c.run_id.in_(run_ids), findings.c.status != "waived")
        .group_by(findings.c.run_id, findings.c.severity)
    )
    for run_id, severity, count in conn.execute(query):
        if severity in out[run_id]:
            out[run_id][severity] = int(count)
    return out
