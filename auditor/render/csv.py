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
from typing import Any

from auditor.findings import AuditResult, Finding
from auditor.render.atomic import atomic_write
from auditor.render.safe import neutralise

COLUMNS = ("tenant", "run_id", "run_started", "rule", "title", "severity", "entity_type", "entity_id", "entity",
           "status", "change", "first_seen", "waiver_reason", "evidence", "remediation")


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
        return value.isoformat()
    return str(value)


def flatten_evidence(evidence: dict[str, Any] | None) -> str:
    """``key=value; key=value`` in the evidence's own key order."""
    return "; ".join(f"{key}={_scalar(value)}" for key, value in (evidence or {}).items())


def _row(result: AuditResult, finding: Finding) -> list[str]:
    waiver = finding.waiver or {}
    values = [
        result.tenant.get("name"), result.run.id, result.run.started.isoformat(), finding.rule_id, finding.title,
        finding.severity, finding.entity_type, finding.entity_id, finding.entity_name, finding.status,
        finding.change, finding.first_seen.isoformat() if finding.first_seen else None, waiver.get("reason"),
        flatten_evidence(finding.evidence), finding.remediation,
    ]
    return [neutralise(_scalar(v)) for v in values]


def dumps(result: AuditResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for finding in result.findings:
        writer.writerow(_row(result, finding))
    return buffer.getvalue()


def render_csv(result: AuditResult, path: Path) -> Path:
    """Write findings.csv (UTF-8 with BOM, mode 0600, atomic)."""
    return atomic_write(path, "\ufeff".encode() + dumps(result).encode("utf-8"))
