"""findings.json: the machine-readable result (schema ``entra-auditor/findings/v1``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.render.atomic import atomic_write
from auditor.render.context import ReportContext
from auditor.render.controls import controls_section, keys_by_rule
from auditor.render.registry import renderer

SCHEMA_ID = "entra-auditor/findings/v1"


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def findings_document(ctx: ReportContext) -> dict[str, Any]:
    controls = keys_by_rule(ctx)  # each finding carries its rule's control keys; ``controls`` describes them
    return {
        "schema": SCHEMA_ID,
        "tenant": {"name": ctx.tenant.get("name"), "tenant_id": ctx.tenant.get("tenant_id")},
        "run": ctx.run.to_dict(),
        "coverage": [
            {"source": c["source"], "status": c["status"], "items": int(c.get("items") or 0), "reason": c.get("reason")}
            for c in ctx.coverage
        ],
        "rules": [r.to_dict() for r in ctx.rules],
        "controls": controls_section(ctx),
        "findings": [{**f.to_dict(), "references": controls.get(f.rule_id, [])} for f in ctx.findings],
        "resolved": list(ctx.resolved),
        "expired_waivers": list(ctx.expired_waivers),
        "summary": ctx.summary(),
        **({"migration_plan": ctx.migration_plan.to_dict()} if ctx.migration_plan is not None else {}),
    }


def dumps(ctx: ReportContext) -> str:
    return json.dumps(findings_document(ctx), default=_json_default, indent=1, ensure_ascii=False)


@renderer("json", filename="findings.json", content_type="application/json", order=30)
def render_json(ctx: ReportContext, path: Path) -> Path:
    return atomic_write(path, dumps(ctx))
