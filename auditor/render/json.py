"""findings.json: the machine-readable result (schema ``entra-auditor/findings/v1``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.findings import AuditResult
from auditor.render.atomic import atomic_write

SCHEMA_ID = "entra-auditor/findings/v1"


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def findings_document(result: AuditResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "tenant": {"name": result.tenant.get("name"), "tenant_id": result.tenant.get("tenant_id")},
        "run": result.run.to_dict(),
        "coverage": [
            {"source": c["source"], "status": c["status"], "items": int(c.get("items") or 0),
             "reason": c.get("reason")}
            for c in result.coverage
        ],
        "rules": [r.to_dict() for r in result.rules],
        "findings": [f.to_dict() for f in result.findings],
        "resolved": list(result.resolved),
        "expired_waivers": list(result.expired_waivers),
        "summary": result.summary(),
    }


def dumps(result: AuditResult) -> str:
    return json.dumps(findings_document(result), default=_json_default, indent=1, ensure_ascii=False)


def render_json(result: AuditResult, path: Path) -> Path:
    return atomic_write(path, dumps(result))
