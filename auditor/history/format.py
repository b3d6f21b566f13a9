"""Text tables for ``entra-auditor history`` and ``history diff``.

Entity names come from the tenant and are untrusted: control characters (which could drive the
terminal) are replaced before printing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from auditor.history.diff import DiffItem
from auditor.history.rows import RunDiff, RunRow
from auditor.terminal import clean

SHORT_ID = 12
_SEV_COLS = (("critical", "CRIT"), ("high", "HIGH"), ("medium", "MED"), ("low", "LOW"), ("info", "INFO"))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(out).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def _delivery_failed(run: RunRow) -> bool:
    """Whether the run's report could not be e-mailed (the pipeline records that in the run's errors)."""
    return any(str(error).startswith("email delivery failed") for error in run.errors or [])


def format_runs(rows: Sequence[RunRow]) -> str:
    """One line per run, newest first as given: id prefix, tenant, start (UTC), status and counts."""
    if not rows:
        return "No runs recorded."
    header = [
        "RUN",
        "TENANT",
        "STARTED (UTC)",
        "STATUS",
        *(c for _, c in _SEV_COLS),
        "WAIVED",
        "NEW",
        "RESOLVED",
        "NOT ASSESSED",
    ]
    body = []
    for run in rows:
        opened = run.counts.get("open") or {}
        body.append(
            [
                run.id[:SHORT_ID],
                clean(run.tenant, 40),
                _when(run.started),
                run.status + (" (e-mail failed)" if _delivery_failed(run) else ""),
                *(str(opened.get(sev, 0)) for sev, _ in _SEV_COLS),
                str(run.counts.get("waived", 0)),
                str(run.counts.get("new", 0)),
                str(run.counts.get("resolved", 0)),
                str(run.counts.get("not_assessed", 0)),
            ]
        )
    return _table(header, body, right=set(range(4, len(header))))


def _items(title: str, items: Sequence[DiffItem], explain: str = "") -> list[str]:
    out = [f"{title} ({len(items)}){explain}"]
    if items:
        body = [[i.severity or "-", clean(i.rule_id, 60), clean(i.entity_name or i.entity_id)] for i in items]
        table = _table(["SEVERITY", "RULE", "ENTITY"], body, set())
        out.append("\n".join("  " + ln for ln in table.splitlines()))
    return out


def format_diff(diff: RunDiff, *, show_persisting: bool = False) -> str:
    """New, resolved (and unknown) findings of ``run_b`` against ``run_a``; persisting ones as a count
    unless ``show_persisting``."""
    a, b = diff.run_a, diff.run_b
    lines = [
        f"Tenant {clean(a.tenant, 40)}: run {a.id[:SHORT_ID]} ({_when(a.started)} UTC, {a.status})"
        f" -> run {b.id[:SHORT_ID]} ({_when(b.started)} UTC, {b.status})",
        "",
    ]
    lines += _items("New", diff.new)
    lines.append("")
    lines += _items("Resolved", diff.resolved)
    lines.append("")
    if show_persisting:
        lines += _items("Persisting", diff.persisting)
    else:
        lines.append(f"Persisting ({len(diff.persisting)})")
    if diff.unknown:
        lines.append("")
        lines += _items("Unknown", diff.unknown, " - rule not assessed in one of the runs")
    return "\n".join(lines)
