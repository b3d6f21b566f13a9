"""report.html: one self-contained file (inline CSS/JS/SVG, no network), readable without JavaScript.

Each finding is listed once, in the findings explorer: the headline and rule sections summarise
(counts, a few entities) and link into it with a filter. The explorer's rows are embedded
gzip-compressed (``auditor.render.explorer``) and decoded by the browser, so 1,000,000 findings fit in
a file under 50 MB and stay responsive (filtered and paged in the browser). Without JavaScript, each
rule lists its findings up to a cap (report.js hides those lists, so nothing shows twice). A
Content-Security-Policy allows only this file's own inline style and script (by hash) and no fetches at
all, as a second line of defence behind autoescaping.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from auditor.findings import SEVERITIES, Finding
from auditor.render.atomic import atomic_output
from auditor.render.change import plan_progress
from auditor.render.charts import report_charts
from auditor.render.context import DEFAULT_FALLBACK_CAP, ReportContext
from auditor.render.evidence import evidence_summary, flatten_evidence
from auditor.render.explorer import day_text, findings_data, packed
from auditor.render.registry import renderer
from auditor.render.templating import make_environment, template_dir

__all__ = ["findings_data", "render_html", "render_html_text"]

HEADLINE_ENTITIES = 3  # entity names a headline summary names per rule


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.strftime("%Y-%m-%d %H:%M")


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def severity_counts(findings: list[Finding]) -> list[tuple[str, int]]:
    """(severity, count) for the severities present, worst first (the headline summaries)."""
    counts = Counter(f.severity for f in findings)
    return [(s, counts[s]) for s in SEVERITIES if counts[s]]


def new_count(findings: list[Finding]) -> int:
    return sum(1 for f in findings if f.change == "new")


def overlaps(findings: list[Finding], cap: int) -> list[tuple[Finding, list[dict[str, Any]]]]:
    """Findings whose evidence lists named-location ``matches`` (the trusted-IP side-by-side table)."""
    out = []
    for f in findings[:cap]:
        matches = f.evidence.get("matches")
        if isinstance(matches, list) and matches and all(isinstance(m, dict) for m in matches):
            out.append((f, matches))
    return out


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
    env = make_environment(
        {
            "when": _when,
            "day": day_text,
            "flatten": flatten_evidence,
            "summary": evidence_summary,
            "sev_counts": severity_counts,
            "new_count": new_count,
            "overlaps": overlaps,
        }
    )
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
        data_packed=packed(findings_data(view)),  # base64: nothing in it can close the element
        charts=report_charts(view),
        ip_side=_ip_side(view),
        plan_progress=plan_progress(view),
        cap=cap,
        headline_entities=HEADLINE_ENTITIES,
    )


@renderer("html", filename="report.html", attach=True, content_type="text/html", order=10)
def render_html(view: ReportContext, path: Path, *, cap: int = DEFAULT_FALLBACK_CAP) -> Path:
    """Write report.html atomically (mode 0600) and return its path."""
    text = render_html_text(view, cap=cap)
    with atomic_output(Path(path), "w") as handle:
        handle.write(text)
    return Path(path)
