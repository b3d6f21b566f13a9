"""The Summary sheet: tenant and run, open findings per severity, changes, and data coverage."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.findings import SEVERITIES
from auditor.render import xlsx_stream as xs
from auditor.render.context import ReportContext
from auditor.render.safe import cell_value


def summary_sheet(wb: xs.Workbook, ctx: ReportContext) -> None:
    sheet = wb.sheet("Summary", [28, 24, 12, 70], freeze=False)

    def pairs(rows: Iterable[tuple[str, Any]]) -> None:
        for key, value in rows:
            count = isinstance(value, int) and not isinstance(value, bool)
            sheet.row([key, cell_value(value)], [xs.BOLD, xs.COUNT if count else xs.NORMAL])

    sheet.row([cell_value(f"Entra Auditor security review: {ctx.tenant_label}")], xs.TITLE)
    pairs(
        [
            ("Tenant", ctx.tenant_name),
            ("Tenant ID", ctx.tenant.get("tenant_id")),
            ("Default domain", ctx.tenant.get("default_domain")),
            ("Run ID", ctx.run.id),
            ("Started (UTC)", ctx.run.started),
            ("Finished (UTC)", ctx.run.finished),
            ("Run status", ctx.run.status),
            ("Tool version", ctx.run.tool_version),
            ("Previous run", ctx.previous_run_id or "none (first run)"),
        ]
    )
    sheet.row([])
    pairs([(f"Open {sev}", ctx.counts[sev]) for sev in SEVERITIES])
    pairs(
        [
            ("Open in total", ctx.open_total),
            ("Waived", ctx.waived),
            ("New since previous run", len(ctx.new) if ctx.has_history else None),
            ("Resolved since previous run", len(ctx.resolved) if ctx.has_history else None),
            ("Rules not assessed", len(ctx.not_assessed)),
            ("Expired waivers", len(ctx.expired_waivers)),
        ]
    )
    if ctx.rollups:
        sheet.row([])
        sheet.row(["Fix once, many fixed: each finding below stands for many entities"], xs.BOLD)
        sheet.row(["Severity", "Rule", "Count", "Finding and the one fix"], xs.HEADER)
        for r in ctx.rollups:
            sheet.row(
                [r.severity, r.rule_id, r.count, cell_value(f"{r.text} — {r.fix}.")],
                [xs.BOLD, xs.NORMAL, xs.COUNT, xs.WRAP],
            )
    sheet.row([])
    if ctx.coverage_warnings or ctx.not_assessed:
        sheet.row(
            ["WARNING: incomplete data. Rules not assessed are NOT a pass; see the Rules sheet for reasons."],
            xs.WARNING,
        )
    sheet.row(["Data source", "Status", "Items", "Reason"], xs.HEADER)
    for c in ctx.coverage:
        sheet.row(
            [
                cell_value(c.get("source")),
                cell_value(c.get("status")),
                cell_value(c.get("items")),
                cell_value(c.get("reason")),
            ]
        )
    for text in ctx.run.errors:
        sheet.row(["Run error", cell_value(text)], [xs.BOLD, xs.NORMAL])
    sheet.close()
