"""findings.csv: one row per finding, for Power BI, spreadsheets and ticketing systems.

Every text cell is neutralised like a workbook cell (``auditor.render.safe``): a display name such as
``=cmd|' /C calc'!A0`` becomes literal text in Excel and LibreOffice instead of a formula (CSV injection).
The file starts with a UTF-8 byte-order mark so Excel opens non-ASCII names correctly; rows end with
CRLF (RFC 4180). The evidence is flattened into one ``key=value; key=value`` cell (lists joined with
", ", nested objects as compact JSON), so the column set is the same for every rule.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.findings import Finding
from auditor.render.atomic import atomic_write
from auditor.render.registry import renderer
from auditor.render.safe import neutralise

if TYPE_CHECKING:
    from auditor.render.context import ReportContext

COLUMNS = (
    "tenant",
    "run_id",
    "run_started",
    "rule",
    "title",
    "severity",
    "entity_type",
    "entity_id",
    "entity",
    "status",
    "change",
    "first_seen",
    "waiver_reason",
    "evidence",
    "remediation",
)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def flatten_evidence(evidence: dict[str, Any] | None) -> str:
    """``key=value; key=value`` in the evidence's own key order."""
    return "; ".join(f"{key}={_scalar(value)}" for key, value in (evidence or {}).items())


def _row(context: ReportContext, finding: Finding) -> list[str]:
    waiver = finding.waiver or {}
    values = [
        context.tenant_name,
        context.run.id,
        context.run.started.isoformat(),
        finding.rule_id,
        finding.title,
        finding.severity,
        finding.entity_type,
        finding.entity_id,
        finding.entity_name,
        finding.status,
        finding.change,
        finding.first_seen.isoformat() if finding.first_seen else None,
        waiver.get("reason"),
        flatten_evidence(finding.evidence),
        finding.remediation,
    ]
    return [neutralise(_scalar(v)) for v in values]


def dumps(context: ReportContext) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for finding in context.findings:
        writer.writerow(_row(context, finding))
    return buffer.getvalue()


@renderer("csv", filename="findings.csv", content_type="text/csv", order=40, default=False)
def render_csv(context: ReportContext, path: Path) -> Path:
    """Write findings.csv (UTF-8 with BOM, mode 0600, atomic). Not written unless asked for
    (``--format csv`` or ``reports.formats``)."""
    return atomic_write(path, "\ufeff".encode() + dumps(context).encode("utf-8"))
