"""The Controls sheet: one row per referenced benchmark control, ready to paste into an audit workpaper.

Status and its definition come from :mod:`auditor.render.controls`; every cell goes through the table
sheet's neutralisation (titles and rule ids are ours, but nothing here is trusted to be formula-free).
"""

from __future__ import annotations

from auditor.render import xlsx_stream as xs
from auditor.render.context import ReportContext
from auditor.render.controls import control_rows
from auditor.render.workbook.sheet import Col, TableSheet

CONTROL_COLUMNS = [
    Col("Framework", 26),
    Col("Control", 22),
    Col("Title", 60, "wrap"),
    Col("Status", 13),
    Col("Open findings", 10),
    Col("Waived findings", 10),
    Col("Rules", 44, "wrap"),
    Col("Relation", 12),
    Col("Note", 40, "wrap"),
    Col("URL", 50),
]


def controls_sheet(wb: xs.Workbook, ctx: ReportContext) -> None:
    """Framework, control id, title, status (pass / fail / not assessed / waived / disabled), counts, rules."""
    sheet = TableSheet(wb, "Controls", CONTROL_COLUMNS)
    for row in control_rows(ctx):
        sheet.append(
            [
                row.framework,
                row.id,
                row.title,
                row.status,
                row.open,
                row.waived,
                ", ".join(row.rules),
                row.relation,
                row.note or None,
                row.url,
            ]
        )
    sheet.finish()
