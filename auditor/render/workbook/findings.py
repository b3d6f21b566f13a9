"""Findings sheets: every finding with reviewer columns, and one sheet per rule that declares one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from auditor.findings import Finding
from auditor.render import xlsx_stream as xs
from auditor.render.context import ReportContext
from auditor.render.evidence import evidence_cell, evidence_label, flatten_evidence
from auditor.render.workbook.sheet import Col, ColumnCheck, TableSheet

DECISIONS = ("Accept risk", "Remediate", "False positive")
REVIEWER_CHECKS = (
    ColumnCheck(
        "Decision", "list", '"' + ",".join(DECISIONS) + '"', error="Choose Accept risk, Remediate or False positive."
    ),
    ColumnCheck("Due date", "date", "1", operator="greaterThan", error="Enter a date."),
)
MAX_EVIDENCE_COLUMNS = 24


def _evidence_keys(findings: Iterable[Finding], limit: int = MAX_EVIDENCE_COLUMNS) -> list[str]:
    keys: dict[str, None] = {}
    for f in findings:
        for key in f.evidence or {}:
            if key not in keys:
                keys[key] = None
    return list(keys)[:limit]


def _evidence_cells(f: Finding, keys: list[str], key_set: frozenset[str]) -> tuple[list[Any], str]:
    """One cell per evidence key (numbers and dates stay typed), the rest as readable text."""
    evidence = f.evidence or {}
    cells: list[Any] = []
    for key in keys:
        raw = evidence.get(key)
        if raw is None or (isinstance(raw, int | float | datetime | date) and not isinstance(raw, bool)):
            cells.append(raw)
        else:
            cells.append(evidence_cell(key, raw))
    if len(evidence) == sum(1 for k in evidence if k in key_set):
        return cells, ""
    other = {k: v for k, v in evidence.items() if k not in key_set}
    return cells, "; ".join(f"{k}: {v}" for k, v in flatten_evidence(other))


def _waiver(f: Finding) -> list[Any]:
    w = f.waiver or {}
    return [w.get("reason"), w.get("approved_by"), w.get("expires")]


def _columns(keys: list[str], *, reviewer: bool, with_rule: bool) -> list[Col]:
    cols = [Col("Rule", 30), Col("Rule title", 36)] if with_rule else []
    cols += [
        Col("Severity", 11, "severity"),
        Col("Entity type", 13),
        Col("Entity", 34),
        Col("Entity ID", 38),
        Col("Status", 9),
        Col("Change", 11),
        Col("First seen", 17),
    ]
    cols += [Col(evidence_label(key), 22) for key in keys]
    cols += [
        Col("Other evidence", 30),
        Col("Waiver reason", 28),
        Col("Waiver approved by", 22),
        Col("Waiver expires", 14),
    ]
    if reviewer:
        cols += [Col("Owner", 18), Col("Decision", 16), Col("Due date", 12), Col("Notes", 40)]
    return cols


def findings_sheet(wb: xs.Workbook, title: str, findings: list[Finding], *, reviewer: bool, with_rule: bool) -> None:
    """One row per finding; evidence keys become columns. Reviewer columns get drop-down/date validation."""
    keys = _evidence_keys(findings)
    key_set = frozenset(keys)
    checks = REVIEWER_CHECKS if reviewer and findings else ()  # on every part of a split sheet
    sheet = TableSheet(wb, title, _columns(keys, reviewer=reviewer, with_rule=with_rule), checks)
    for f in findings:
        evidence, other = _evidence_cells(f, keys, key_set)
        row: list[Any] = [f.rule_id, f.title] if with_rule else []
        row += [f.severity, f.entity_type, f.entity_name, f.entity_id, f.status, f.change, f.first_seen]
        row += [*evidence, other, *_waiver(f)]
        sheet.append(row)
    sheet.finish()


def all_findings_sheet(wb: xs.Workbook, ctx: ReportContext) -> None:
    """The Findings sheet: open findings worst first, then the waived ones."""
    findings_sheet(wb, "Findings", ctx.open_findings + ctx.waived_findings, reviewer=True, with_rule=True)


def rule_sheets(wb: xs.Workbook, ctx: ReportContext) -> None:
    """One sheet per headline rule that declares a sheet title, in headline order."""
    for headline in ctx.headlines:
        for section in headline.rules:
            if section.outcome.sheet:
                findings_sheet(
                    wb, section.outcome.sheet, section.open + section.waived, reviewer=False, with_rule=False
                )
