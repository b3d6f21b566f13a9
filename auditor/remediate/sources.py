"""Where the findings to remediate come from: a findings.json document (any past run's), an
``AuditResult`` just evaluated, or the newest run of a tenant in the history database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.errors import UsageError

if TYPE_CHECKING:
    from auditor.findings import AuditResult
    from auditor.history import HistoryStore

SCHEMA_ID = "entra-auditor/findings/v1"


@dataclass
class FindingsInput:
    """The part of a findings document the remediation export reads (plain dicts, untrusted values)."""

    tenant: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # [{id, status, ...}] when known
    source: str = ""


def from_document(doc: Any, source: str = "findings.json") -> FindingsInput:
    """Validate the shape of a findings.json document just enough to read it safely."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_ID:
        raise UsageError(f"{source} is not an entra-auditor findings.json document (schema {SCHEMA_ID}).")
    findings = doc.get("findings")
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        raise UsageError(f"{source}: 'findings' must be a list of objects.")
    tenant = doc["tenant"] if isinstance(doc.get("tenant"), dict) else {}
    run = doc["run"] if isinstance(doc.get("run"), dict) else {}
    rules = [r for r in doc.get("rules") or [] if isinstance(r, dict)] if isinstance(doc.get("rules"), list) else []
    return FindingsInput(tenant=tenant, run=run, findings=findings, rules=rules, source=source)


def from_file(path: str | Path) -> FindingsInput:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}.") from exc
    return from_document(doc, str(path))


def from_result(result: AuditResult, source: str = "audit") -> FindingsInput:
    return FindingsInput(
        tenant={"name": result.tenant.get("name"), "tenant_id": result.tenant.get("tenant_id")},
        run=result.run.to_dict(),
        findings=[f.to_dict() for f in result.findings],
        rules=[r.to_dict() for r in result.rules],
        source=source,
    )


def from_history(store: HistoryStore, tenant: str, *, scan: int = 20) -> FindingsInput:
    """The findings.json of the newest recorded run of ``tenant`` whose report folder still holds one."""
    runs = store.list_runs(tenant=tenant, limit=scan)
    if not runs:
        raise UsageError(f"The history has no run of tenant {tenant!r}; run 'entra-auditor audit' first.")
    for run in runs:
        if run.report_dir is not None and (Path(run.report_dir) / "findings.json").is_file():
            return from_file(Path(run.report_dir) / "findings.json")
    raise UsageError(
        f"No recent run of tenant {tenant!r} kept a findings.json (reports.formats must include "
        "json); pass --findings FILE instead."
    )
