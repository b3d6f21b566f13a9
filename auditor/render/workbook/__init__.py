"""report.xlsx: the security-review workbook, streamed row by row (``auditor.render.xlsx_stream``).

Rows are generated and written one at a time, so a 300,000-user tenant never holds a workbook's worth
of cell objects in memory (openpyxl's write-only mode was too slow for that size; see xlsx_stream).
Sheets, in order: Summary, Findings, one sheet per headline rule, Users, Conditional Access, Named
locations & trusted IPs, Migration plan, Rules, Controls, Waivers. Each group of sheets is one module of this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.render import xlsx_stream as xs
from auditor.render.atomic import atomic_output
from auditor.render.context import ReportContext
from auditor.render.registry import renderer
from auditor.render.safe import one_line
from auditor.render.workbook.controls import controls_sheet
from auditor.render.workbook.entities import entity_sheets
from auditor.render.workbook.findings import DECISIONS, all_findings_sheet, rule_sheets
from auditor.render.workbook.plan import migration_plan_sheet
from auditor.render.workbook.rules import rules_sheet, waivers_sheet
from auditor.render.workbook.sheet import SEVERITY_FILLS
from auditor.render.workbook.summary import summary_sheet

__all__ = ["DECISIONS", "render_xlsx", "write_workbook"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def write_workbook(ctx: ReportContext, handle: Any, *, max_rows: int = xs.MAX_ROWS) -> None:
    """Stream the workbook to an open binary file. ``max_rows``: rows per sheet (Excel's limit; tests inject a
    small one to see tables split)."""
    started = ctx.run.started.strftime("%Y-%m-%d") if ctx.run.started else ""
    wb = xs.Workbook(
        handle,
        dxf_colours=list(SEVERITY_FILLS.values()),
        max_rows=max_rows,
        print_header=one_line(f"Entra Auditor: {ctx.tenant_label[:80]}, run {started}"),
    )
    summary_sheet(wb, ctx)
    all_findings_sheet(wb, ctx)
    rule_sheets(wb, ctx)
    entity_sheets(wb, ctx)
    migration_plan_sheet(wb, ctx)
    rules_sheet(wb, ctx)
    controls_sheet(wb, ctx)
    waivers_sheet(wb, ctx)
    wb.close()


@renderer("xlsx", filename="report.xlsx", attach=True, content_type=XLSX_TYPE, order=20)
def render_xlsx(ctx: ReportContext, path: Path) -> Path:
    """Write report.xlsx atomically (mode 0600) and return its path."""
    with atomic_output(Path(path), "wb") as handle:
        write_workbook(ctx, handle)
    return Path(path)
