"""The Migration plan sheet: one row per per-user-MFA user, in wave order, with reviewer columns
(Owner, Target date, Status) for tracking the move to Conditional Access."""

from __future__ import annotations

from typing import Any

from auditor.render import xlsx_stream as xs
from auditor.render.context import ReportContext
from auditor.render.workbook import values as v
from auditor.render.workbook.sheet import Col, ColumnCheck, TableSheet

TITLE = "Migration plan"
STATUSES = ("Not started", "In progress", "Done", "Blocked")

COLUMNS = [
    Col("Wave", 7),
    Col("Wave title", 26),
    Col("Then wave", 9),
    Col("UPN", 34),
    Col("Display name", 24),
    Col("Per-user MFA", 11),
    Col("Classification", 18),
    Col("Admin roles", 30, "wrap"),
    Col("Covered today", 10),
    Col("Covered by", 30, "wrap"),
    Col("Why not covered", 44, "wrap"),
    Col("Methods", 28, "wrap"),
    Col("Phone only", 9),
    Col("Legacy sign-ins", 10),
    Col("Legacy protocols", 30, "wrap"),
    Col("Legacy IPs", 22, "wrap"),
    Col("Mailbox protocols on", 18),
    Col("Next action", 50, "wrap"),
    Col("Steps", 60, "wrap"),
    Col("Notes", 36, "wrap"),
    Col("User ID", 38),
    Col("Owner", 18),
    Col("Target date", 12),
    Col("Status", 13),
]


CHECKS = [
    ColumnCheck("Status", "list", '"' + ",".join(STATUSES) + '"', error="Choose " + ", ".join(STATUSES) + "."),
    ColumnCheck("Target date", "date", "1", operator="greaterThan", error="Enter a date."),
]


def _covered(value: bool | None) -> str:
    return "Unknown" if value is None else "Yes" if value else "No"


def plan_rows(ctx: ReportContext) -> list[list[Any]]:
    """The sheet's rows (reviewer columns empty); tenant text is neutralised by the sheet writer."""
    plan = ctx.migration_plan
    if plan is None:
        return []
    titles = {w.wave: w.title for w in plan.waves}
    rows = []
    for u in plan.users:
        rows.append(
            [
                u.wave,
                titles.get(u.wave, ""),
                u.then_wave,
                u.upn,
                u.display_name,
                v.label(v.PER_USER_MFA, u.per_user_mfa),
                u.classification,
                ", ".join(u.roles),
                _covered(u.covered),
                ", ".join(u.covered_by),
                "; ".join(u.not_covered_because),
                v.labels(v.METHOD_LIST, u.methods),
                v.YES_NO.get(u.phone_only),
                "Unknown" if u.legacy_sign_ins is None else u.legacy_sign_ins,
                ", ".join(f"{p}: {n}" for p, n in u.legacy_protocols.items()),
                ", ".join(u.legacy_ips),
                ", ".join(u.mailbox_protocols),
                u.next_action,
                "\n".join(f"{i}. {s.action}" for i, s in enumerate(u.steps, start=1)),
                "; ".join(u.notes),
                u.user_id,
                None,
                None,
                None,
            ]
        )
    return rows


def migration_plan_sheet(wb: xs.Workbook, ctx: ReportContext) -> None:
    """Write the sheet (a header only when the plan was not computed or has nobody; a not-assessed plan says why
    in its first row)."""
    plan = ctx.migration_plan
    sheet = TableSheet(wb, TITLE, COLUMNS, CHECKS if plan is not None and plan.users else ())
    if plan is not None and plan.status != "assessed":
        sheet.append([None, "Not assessed", None, plan.reason or "data unavailable"] + [None] * (len(COLUMNS) - 4))
    for row in plan_rows(ctx):
        sheet.append(row)
    sheet.finish()
