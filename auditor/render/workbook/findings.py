"""Findings sheets: every finding, and one sheet per rule that declares one.

Layout of both: Rule, Entity, Severity, then the reviewer columns Owner / Decision / Due date / Notes
(frozen with the header row, so they stay in view while scrolling through evidence), then the rest of the
finding, one column per evidence key the sheet's rules use (grouped by rule; nothing is lumped into a
catch-all column), then the waiver. Reviewer cells are pre-filled from ``ReportContext.reviews``: what
was entered in earlier workbooks (``auditor.review`` reads them back by Rule + Entity ID).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from auditor.findings import DECISIONS, Finding, Review
from auditor.render import xlsx_stream as xs
from auditor.render.context import ReportContext
from auditor.render.evidence import evidence_cell, evidence_label
from auditor.render.workbook.sheet import Col, ColumnCheck, TableSheet

__all__ = ["DECISIONS", "REVIEWER", "all_findings_sheet", "findings_sheet", "rule_sheets"]
REVIEWER = ("Owner", "Decision", "Due date", "Notes")
LEAD = ("Rule", "Entity", "Severity")
FROZEN = len(LEAD) + len(REVIEWER)
REVIEWER_CHECKS = (
    ColumnCheck("Decision", "list", '"' + ",".join(DECISIONS) + '"', error="Choose " + ", ".join(DECISIONS) + "."),
    ColumnCheck("Due date", "date", "1", operator="greaterThan", error="Enter a date."),
)


def _evidence_keys(findings: Iterable[Finding]) -> list[str]:
    """Every evidence key the findings' rules use, a rule's keys together (rules in order of appearance)."""
    by_rule: dict[str, dict[str, None]] = {}
    for f in findings:
        keys = by_rule.setdefault(f.rule_id, {})
        for key in f.evidence or {}:
            keys[key] = None
    out: dict[str, None] = {}
    for keys in by_rule.values():
        out.update(keys)
    return list(out)


def _evidence_cells(f: Finding, keys: list[str]) -> list[Any]:
    """One cell per evidence key (numbers and dates stay typed, so they filter and sort as such)."""
    evidence = f.evidence or {}
    cells: list[Any] = []
    for key in keys:
        raw = evidence.get(key)
        if raw is None or (isinstance(raw, int | float | datetime | date) and not isinstance(raw, bool)):
            cells.append(raw)
        else:
            cells.append(evidence_cell(key, raw))
    return cells


def _waiver(f: Finding) -> list[Any]:
    w = f.waiver or {}
    return [w.get("reason"), w.get("approved_by"), w.get("expires")]


def _columns(keys: list[str], *, with_title: bool) -> list[Col]:
    cols = [Col("Rule", 30), Col("Entity", 34), Col("Severity", 11, "severity")]
    cols += [Col("Owner", 18), Col("Decision", 16), Col("Due date", 12), Col("Notes", 40)]
    cols += [Col("Rule title", 36)] if with_title else []
    cols += [
        Col("Entity type", 13),
        Col("Entity ID", 38),
        Col("Status", 9),
        Col("Change", 11),
        Col("First seen", 17),
    ]
    cols += [Col(evidence_label(key), 22) for key in keys]
    cols += [Col("Waiver reason", 28), Col("Waiver approved by", 22), Col("Waiver expires", 14)]
    return cols


def _review(review: Review | None) -> list[Any]:
    if review is None:
        return [None, None, None, None]
    return [review.owner, review.decision, review.due, review.notes]


def findings_sheet(
    wb: xs.Workbook, title: str, findings: list[Finding], reviews: dict[str, Review], *, with_title: bool
) -> None:
    """One row per finding; evidence keys become columns. Reviewer columns get drop-down/date validation."""
    keys = _evidence_keys(findings)
    checks = REVIEWER_CHECKS if findings else ()  # on every part of a split sheet
    sheet = TableSheet(wb, title, _columns(keys, with_title=with_title), checks, freeze_cols=FROZEN)
    for f in findings:
        row: list[Any] = [f.rule_id, f.entity_name, f.severity, *_review(reviews.get(f.fingerprint))]
        row += [f.title] if with_title else []
        row += [f.entity_type, f.entity_id, f.status, f.change, f.first_seen]
        row += [*_evidence_cells(f, keys), *_waiver(f)]
        sheet.append(row)
    sheet.finish()


def all_findings_sheet(wb: xs.Workbook, ctx: ReportContext) -> None:
    """The Findings sheet: open findings worst first, then the waived ones."""
    findings_sheet(wb, "Findings", ctx.open_findings + ctx.waived_findings, ctx.reviews, with_title=True)


def rule_sheets(wb: xs.Workbook, ctx: ReportContext) -> None:
    """One sheet per headline rule that declares a sheet title, in headline order."""
    for headline in ctx.headlines:
        for section in headline.rules:
            if section.outcome.sheet:
                findings_sheet(wb, section.outcome.sheet, section.open + section.waived, ctx.reviews, with_title=False)
