"""The cross-tenant roll-up after a multi-tenant run: one row per tenant (open findings by severity,
new / resolved since its last run, rules not assessed, the run's status and time) as one self-contained
HTML page (``rollup.html``), one workbook sheet (``rollup.xlsx``, sheet *Tenants*) and the MSP summary
e-mail that carries both.

Everything here reads plain values (:class:`RollupRow`); the pipeline builds the rows from the runs'
results (``row_for``), the dispatched workers from the recorded runs in history (``row_from_run``).
Tenant names and error texts are tenant data: escaped in HTML, neutralised in the workbook.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from auditor.errors import UsageError
from auditor.findings import SEVERITIES, AuditResult
from auditor.history.rows import RunRow
from auditor.render.atomic import atomic_write
from auditor.render.safe import visible

HTML_NAME = "rollup.html"
XLSX_NAME = "rollup.xlsx"
SHEET = "Tenants"
HEADERS = (
    "Tenant",
    *(s.capitalize() for s in SEVERITIES),
    "Open",
    "Waived",
    "New",
    "Resolved",
    "Not assessed rules",
    "Status",
    "Run started (UTC)",
    "Problem",
)


@dataclass
class RollupRow:
    tenant: str
    status: str  # complete | partial | failed
    started: datetime | None = None
    open: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    waived: int = 0
    new: int = 0
    resolved: int = 0
    not_assessed: int = 0
    problem: str = ""

    @property
    def open_total(self) -> int:
        return sum(self.open.values())

    def cells(self) -> list[object]:
        started = self.started.astimezone(UTC).replace(tzinfo=None) if self.started else None
        return [
            self.tenant,
            *(self.open[s] for s in SEVERITIES),
            self.open_total,
            self.waived,
            self.new,
            self.resolved,
            self.not_assessed,
            self.status,
            started,
            self.problem,
        ]


def row_for(tenant: str, result: AuditResult | None, errors: Sequence[str] = ()) -> RollupRow:
    """The roll-up row of one tenant's run (``result`` None: the tenant could not be audited)."""
    if result is None:
        return RollupRow(tenant=tenant, status="failed", problem="; ".join(errors))
    row = RollupRow(tenant=tenant, status=result.run.status, started=result.run.started)
    for finding in result.findings:
        if finding.status == "waived":
            row.waived += 1
            continue
        row.open[finding.severity] = row.open.get(finding.severity, 0) + 1
        if finding.change == "new":
            row.new += 1
    row.resolved = len(result.resolved or [])
    row.not_assessed = sum(1 for r in result.rules if r.status == "not_assessed")
    row.problem = "; ".join([*result.run.errors, *errors][:3])
    return row


def row_from_run(tenant: str, run: RunRow | None, problem: str = "") -> RollupRow:
    """The roll-up row of a tenant's recorded run (``run`` None: no run was recorded, ``problem`` says why).

    Reads the counts the history stored with the run, so a roll-up can be built after the runs, in
    another process (the dispatched workers of ``schedule --dispatch``)."""
    if run is None:
        return RollupRow(tenant=tenant, status="failed", problem=problem or "no run recorded")
    counts = run.counts or {}
    stored = counts.get("open")
    stored = stored if isinstance(stored, dict) else {}
    row = RollupRow(tenant=tenant, status=run.status, started=run.started)
    row.open = {sev: int(stored.get(sev) or 0) for sev in SEVERITIES}
    row.waived = int(counts.get("waived") or 0)
    row.new = int(counts.get("new") or 0)
    row.resolved = int(counts.get("resolved") or 0)
    row.not_assessed = int(counts.get("not_assessed") or 0)
    row.problem = "; ".join([*run.errors, *([problem] if problem else [])][:3])
    return row


def row_from_history(tenant: str, history: Any, run_id: str | None, problem: str = "") -> RollupRow:
    """The roll-up row of the run ``run_id`` as ``history`` recorded it; without a run id, or when the run is
    not (or no longer) in the history, a failed row that says why."""
    run = None
    if run_id and history is not None:
        try:
            run = history.get_run(run_id)
        except UsageError:  # pruned or never recorded
            problem = problem or f"run {run_id} is not in the history"
        except Exception as exc:  # history unreadable: the row says so, the roll-up is still written
            problem = problem or f"history could not be read: {exc}"
    elif run_id:
        problem = problem or "no history to read the run from"
    return row_from_run(tenant, run, problem)


def render_rollup_html(rows: Sequence[RollupRow], path: Path, generated: datetime) -> Path:
    """One self-contained page: a table with a row per tenant and a totals row."""

    def esc(value: object) -> str:
        return html.escape(visible(str(value)), quote=True)

    head = "".join(f"<th scope='col'>{esc(h)}</th>" for h in HEADERS)
    body = []
    for row in rows:
        cells = row.cells()
        cells[-2] = row.started.strftime("%Y-%m-%d %H:%M") if row.started else "-"
        tds = [f"<th scope='row'>{esc(cells[0])}</th>"]
        tds += [f"<td class='n'>{c:,}</td>" for c in cells[1:-3]]
        tds += [f"<td class='{esc(row.status)}'>{esc(row.status)}</td>", f"<td>{esc(cells[-2])}</td>"]
        tds.append(f"<td>{esc(cells[-1])}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    totals = [sum(r.cells()[i] for r in rows) for i in range(1, len(HEADERS) - 3)]  # type: ignore[misc]
    foot = "<tr><th scope='row'>All tenants</th>" + "".join(f"<td class='n'>{t:,}</td>" for t in totals)
    foot += "<td colspan='3'></td></tr>"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Entra audit roll-up, {len(rows):,} tenants</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}td.n{{text-align:right}}
td.failed{{color:#b00020;font-weight:bold}}td.partial{{color:#a15c00}}tfoot{{font-weight:bold}}</style>
</head><body>
<h1>Entra audit roll-up: {len(rows):,} tenants</h1>
<p>Generated {esc(generated.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))}. Open findings by severity,
changes since each tenant's previous run, and rules that could not be assessed.</p>
<table><thead><tr>{head}</tr></thead><tbody>
{"".join(body)}
</tbody><tfoot>{foot}</tfoot></table>
</body></html>
"""
    return atomic_write(path, page.encode("utf-8"))


def render_rollup_xlsx(rows: Sequence[RollupRow], path: Path) -> Path:
    """A workbook with one sheet, *Tenants*: a row per tenant, frozen header, filters. Written by the
    project's streaming XLSX writer (openpyxl is not a runtime dependency); cells are neutralised."""
    from io import BytesIO

    from auditor.render import xlsx_stream as xs
    from auditor.render.workbook.sheet import Col, table_sheet

    widths = [
        min(60, max(len(h), *(len(str(r.cells()[i] or "")) for r in rows)) + 2) if rows else len(h) + 2
        for i, h in enumerate(HEADERS)
    ]
    buffer = BytesIO()
    book = xs.Workbook(buffer)
    table_sheet(book, SHEET, [Col(h, w) for h, w in zip(HEADERS, widths, strict=True)], [r.cells() for r in rows])
    book.close()
    return atomic_write(path, buffer.getvalue())


def compose_rollup_email(
    rows: Sequence[RollupRow], attachments: Sequence[Path], *, sender: str, to: Sequence[str], cc: Sequence[str] = ()
) -> EmailMessage:
    """The MSP summary: one line per tenant in the body, the roll-up page and workbook attached."""
    failed = [r for r in rows if r.status != "complete"]
    totals = {s: sum(r.open[s] for r in rows) for s in SEVERITIES}
    subject = f"Entra audit roll-up: {len(rows):,} tenants, {sum(totals.values()):,} open"
    subject += f" ({totals['critical']:,} critical, {totals['high']:,} high)"
    if failed:
        subject += f" - {len(failed)} not complete"
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    lines = ["Entra audit roll-up", ""]
    for row in rows:
        name = " ".join(visible(row.tenant).split())[:64]
        counts = ", ".join(f"{row.open[s]:,} {s}" for s in SEVERITIES if row.open[s]) or "nothing open"
        lines.append(
            f"- {name}: {row.status}; {counts}; {row.new:,} new, {row.resolved:,} resolved; "
            f"{row.not_assessed:,} rules not assessed"
        )
    lines += ["", "The roll-up page and workbook are attached; each tenant's own report went to its recipients."]
    message.set_content("\n".join(lines))
    for path in attachments:
        kind = ("text", "html") if path.suffix == ".html" else ("application", "octet-stream")
        if path.suffix == ".xlsx":
            kind = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        message.add_attachment(path.read_bytes(), maintype=kind[0], subtype=kind[1], filename=path.name)
    return message
