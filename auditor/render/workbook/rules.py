"""The Rules sheet (every rule's status and metadata) and the Waivers sheet (active and expired)."""

from __future__ import annotations

from auditor.render import xlsx_stream as xs
from auditor.render.context import ReportContext
from auditor.render.workbook import values as v
from auditor.render.workbook.sheet import Col, TableSheet

RULE_COLUMNS = [
    Col("Rule", 32),
    Col("Title", 40),
    Col("Severity", 11, "severity"),
    Col("Status", 13),
    Col("Not assessed / disabled reason", 50),
    Col("Open findings", 10),
    Col("Waived", 8),
    Col("Data needed", 34),
    Col("Why it matters", 60, "wrap"),
    Col("Remediation", 60, "wrap"),
]
WAIVER_COLUMNS = [
    Col("State", 10),
    Col("Rule", 32),
    Col("Entity", 34),
    Col("Reason", 40),
    Col("Approved by", 24),
    Col("Expires", 12),
]


def rules_sheet(wb: xs.Workbook, ctx: ReportContext) -> None:
    sheet = TableSheet(wb, "Rules", RULE_COLUMNS)
    for s in ctx.rule_sections:
        o = s.outcome
        reason = o.reason or ("disabled in the configuration" if o.status == "disabled" else None)
        sheet.append(
            [
                o.id,
                o.title,
                o.severity,
                v.label(v.RULE_STATUS, o.status),
                reason,
                len(s.open),
                len(s.waived),
                list(o.needs),
                o.rationale,
                o.remediation,
            ]
        )
    sheet.finish()


def waivers_sheet(wb: xs.Workbook, ctx: ReportContext) -> None:
    sheet = TableSheet(wb, "Waivers", WAIVER_COLUMNS)
    for s in ctx.rule_sections:
        for f in s.waived:
            w = f.waiver or {}
            sheet.append(
                ["Active", f.rule_id, f.entity_name, w.get("reason"), w.get("approved_by"), v.as_date(w.get("expires"))]
            )
    for w in ctx.expired_waivers:
        sheet.append(
            [
                "Expired",
                w.get("rule"),
                w.get("entity"),
                w.get("reason"),
                w.get("approved_by"),
                v.as_date(w.get("expires")),
            ]
        )
    sheet.finish()
