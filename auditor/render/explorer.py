"""The findings explorer's data: every finding once, column by column, gzip-compressed into report.html.

report.html lists each finding in one place, the explorer (headline and rule sections summarise and
link into it). Its rows travel as one JSON document, compressed with gzip and base64-encoded into a
``<script type="application/octet-stream">`` block that the browser never executes; report.js decodes
it with ``DecompressionStream('gzip')`` and renders every value with ``textContent`` only. Columns (one
list per field) compress far better than rows, so a 1,000,000-finding tenant stays well under 50 MB.

Layout of the decoded document::

    sev, types, statuses, changes, days   lookup tables (sorted: sorting by index sorts by label)
    rules                                  [[rule id, title], ...] in the report's rule order
    evidence                               distinct evidence, each a flat [label, text, label, text, ...]
    cols                                   {"sev": [...], "rule": [...], "name": [...], "type": [...],
                                            "status": [...], "change": [...], "first": [...], "ev": [...]}
                                           one entry per finding; all but "name" are indexes
    waivers, waived                        [[reason, approved by, expires], ...] and {row: waiver index}
    controls, rulectl                      the control filter (``auditor.render.controls``)
    file                                   a harmless stem for the CSV export's file name
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import date, datetime
from typing import Any

from auditor.findings import SEVERITIES
from auditor.render.context import ReportContext
from auditor.render.controls import control_filter
from auditor.render.evidence import flatten_evidence
from auditor.render.safe import file_component, visible_deep

EVIDENCE_TEXT_CHARS = 1000  # per evidence value in the explorer (report.xlsx has every character)
EVIDENCE_VALUES = 40  # evidence values per finding in the explorer
GZIP_LEVEL = 6  # level 9 saves ~3% more for twice the time


def day_text(value: Any) -> str:
    """A date or datetime (or ISO text) as ``YYYY-MM-DD``; empty for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def _evidence(evidence: dict[str, Any] | None) -> tuple[str, ...]:
    flat: list[str] = []
    for label, text in flatten_evidence(evidence)[:EVIDENCE_VALUES]:
        if text != "":
            flat += (label, text if len(text) <= EVIDENCE_TEXT_CHARS else text[: EVIDENCE_TEXT_CHARS - 1] + "…")
    return tuple(flat)


def _index(values: set[str]) -> tuple[list[str], dict[str, int]]:
    table = sorted(values)
    return table, {v: i for i, v in enumerate(table)}


def findings_data(view: ReportContext) -> dict[str, Any]:
    """Every finding (open and waived) as the explorer reads it; see the module docstring for the layout.

    Tenant text is already ``visible`` (bidi overrides and NUL shown as ``[U+XXXX]`` markers).
    """
    sev_index = {s: i for i, s in enumerate(SEVERITIES)}
    rule_ids = list(view.rule_index)
    rule_index = {rid: i for i, rid in enumerate(rule_ids)}
    titles = {s.id: s.outcome.title for s in view.rule_sections}
    findings = view.findings
    first_seen = {f.first_seen for f in findings}  # a few distinct values: format each once
    day_of = {value: day_text(value) for value in first_seen}
    types, type_ix = _index({f.entity_type for f in findings})
    statuses, status_ix = _index({f.status for f in findings} | {"open", "waived"})
    changes, change_ix = _index({f.change or "" for f in findings})
    days, day_ix = _index(set(day_of.values()))
    first_ix = {value: day_ix[day] for value, day in day_of.items()}
    evidence: dict[tuple[str, ...], int] = {}
    waivers: dict[tuple[str, str, str], int] = {}
    waived: dict[str, int] = {}
    cols: dict[str, list[Any]] = {k: [] for k in ("sev", "rule", "name", "type", "status", "change", "first", "ev")}
    sev_c, rule_c, name_c, type_c = cols["sev"], cols["rule"], cols["name"], cols["type"]
    status_c, change_c, first_c, ev_c = cols["status"], cols["change"], cols["first"], cols["ev"]
    last = len(SEVERITIES) - 1
    for row, f in enumerate(findings):
        if f.rule_id not in rule_index:
            rule_index[f.rule_id] = len(rule_ids)
            rule_ids.append(f.rule_id)
        sev_c.append(sev_index.get(f.severity, last))
        rule_c.append(rule_index[f.rule_id])
        name_c.append(visible_deep(f.entity_name))
        type_c.append(type_ix[f.entity_type])
        status_c.append(status_ix[f.status])
        change_c.append(change_ix[f.change or ""])
        first_c.append(first_ix[f.first_seen])
        ev_c.append(evidence.setdefault(_evidence(f.evidence), len(evidence)))
        if f.waiver:
            w = f.waiver
            key = (str(w.get("reason") or ""), str(w.get("approved_by") or ""), day_text(w.get("expires")) or "never")
            waived[str(row)] = waivers.setdefault(key, len(waivers))
    return {
        "sev": list(SEVERITIES),
        "rules": visible_deep([[rid, titles.get(rid, rid)] for rid in rule_ids]),
        "types": visible_deep(types),
        "statuses": statuses,
        "changes": changes,
        "days": visible_deep(days),
        "evidence": [visible_deep(list(e)) for e in evidence],
        "cols": cols,
        "waivers": visible_deep([list(w) for w in waivers]),
        "waived": waived,
        "file": file_component(view.tenant_name),
        **control_filter(view, rule_ids),
    }


def packed(data: dict[str, Any]) -> str:
    """``data`` as JSON, gzip-compressed, base64-encoded.

    The base64 alphabet cannot close a ``<script>`` element, so the text goes into the page as is.
    ``mtime=0`` keeps the output identical for identical data.
    """
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)).decode("ascii")


def unpacked(text: str) -> dict[str, Any]:
    """The inverse of ``packed`` (tests and tools read the embedded data with it)."""
    value: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(text)).decode("utf-8"))
    return value
