"""report.html: one self-contained file (inline CSS/JS/SVG, no network), readable without JavaScript.

The findings explorer reads its rows from an embedded ``<script type="application/json">`` block,
so 100,000 findings stay responsive (filtered and paged in the browser) while the no-JavaScript part
lists findings per rule up to a cap. A Content-Security-Policy allows only this file's own inline
style and script (by hash) and no fetches at all, as a second line of defence behind autoescaping.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from auditor.findings import SEVERITIES
from auditor.render.atomic import atomic_output
from auditor.render.change import plan_progress
from auditor.render.charts import report_charts
from auditor.render.context import DEFAULT_FALLBACK_CAP, ReportContext
from auditor.render.controls import control_filter
from auditor.render.evidence import evidence_summary, flatten_evidence
from auditor.render.registry import renderer
from auditor.render.safe import visible_deep
from auditor.render.templating import make_environment, template_dir

HEADLINE_CAP = 50
EXPLORER_EVIDENCE_CHARS = 200  # per finding in the embedded data (the workbook has it all)
_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element: ``</script>`` and ``<!--`` cannot appear."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).translate(_JSON_ESCAPES)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.strftime("%Y-%m-%d %H:%M")


def _day(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def findings_data(view: ReportContext) -> dict[str, Any]:
    """The explorer's rows, compact for 100,000+ findings: small lookup tables plus one array per finding.

    row = [severity index, rule index, entity name, type index, status index, change index,
           first seen (YYYY-MM-DD), evidence index]; identical evidence summaries are stored once.
    Lookup tables are sorted so that sorting by index sorts by label.
    """
    sev_index = {s: i for i, s in enumerate(SEVERITIES)}
    rule_ids = list(view.rule_index)
    rule_index = {rid: i for i, rid in enumerate(rule_ids)}
    titles = {s.id: s.outcome.title for s in view.rule_sections}
    findings = view.findings
    types = sorted({f.entity_type for f in findings})
    statuses = sorted({f.status for f in findings} | {"open", "waived"})
    changes = sorted({f.change or "" for f in findings})
    type_ix = {t: i for i, t in enumerate(types)}
    status_ix = {t: i for i, t in enumerate(statuses)}
    change_ix = {t: i for i, t in enumerate(changes)}
    evidence: dict[str, int] = {}
    rows = []
    for f in findings:
        if f.rule_id not in rule_index:
            rule_index[f.rule_id] = len(rule_ids)
            rule_ids.append(f.rule_id)
        summary = evidence_summary(f.evidence, EXPLORER_EVIDENCE_CHARS)
        ev = evidence.setdefault(summary, len(evidence))
        rows.append(
            [
                sev_index.get(f.severity, len(SEVERITIES) - 1),
                rule_index[f.rule_id],
                f.entity_name,
                type_ix[f.entity_type],
                status_ix[f.status],
                change_ix[f.change or ""],
                _day(f.first_seen),
                ev,
            ]
        )
    return {
        "sev": list(SEVERITIES),
        "rules": [[rid, titles.get(rid, rid)] for rid in rule_ids],
        "types": types,
        "statuses": statuses,
        "changes": changes,
        "evidence": list(evidence),
        "rows": rows,
        **control_filter(view, rule_ids),
    }


def _ip_side(view: ReportContext) -> dict[str, list[dict[str, Any]]] | None:
    """Legacy trusted IPs next to IP named-location ranges (the context's IP range rows)."""
    if not view.ip_ranges:
        return None
    legacy, named = [], []
    for row in view.ip_ranges:
        if row.legacy:
            legacy.append({"cidr": row.cidr})
        else:
            named.append({"name": row.location_name, "cidr": row.cidr, "trusted": bool(row.is_trusted)})
    return {"legacy": legacy, "named": named}


def render_html_text(view: ReportContext, *, cap: int = DEFAULT_FALLBACK_CAP) -> str:
    """The report as a string (see ``render_html`` to write it)."""
    env = make_environment({"when": _when, "day": _day, "flatten": flatten_evidence, "summary": evidence_summary})
    folder = template_dir()
    css = (folder / "report.css").read_text(encoding="utf-8")
    js = (folder / "report.js").read_text(encoding="utf-8")
    csp = (
        f"default-src 'none'; img-src data:; style-src '{_csp_hash(css)}'; "
        f"script-src '{_csp_hash(js)}'; base-uri 'none'; form-action 'none'"
    )
    return env.get_template("report.html.j2").render(
        v=view,
        severities=SEVERITIES,
        css=Markup(css),  # noqa: S704 - our own static file, hashed into the CSP
        js=Markup(js),  # noqa: S704 - our own static file, hashed into the CSP
        csp=csp,
        data_json=Markup(script_json(visible_deep(findings_data(view)))),  # noqa: S704 - escaped by script_json
        charts=report_charts(view),
        ip_side=_ip_side(view),
        plan_progress=plan_progress(view),
        cap=cap,
        headline_cap=min(cap, HEADLINE_CAP),
    )


@renderer("html", filename="report.html", attach=True, content_type="text/html", order=10)
def render_html(view: ReportContext, path: Path, *, cap: int = DEFAULT_FALLBACK_CAP) -> Path:
    """Write report.html atomically (mode 0600) and return its path."""
    text = render_html_text(view, cap=cap)
    with atomic_output(Path(path), "w") as handle:
        handle.write(text)
    return Path(path)
