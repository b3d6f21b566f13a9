"""The rule catalog for people and tools: ``entra-auditor rules --format json|csv|md``, ``rules show ID``
and ``rules -c FILE`` (the configured state of every rule).

Pure formatting of the registry (and, for the configured state, of a loaded configuration); the CLI
only prints what these functions return.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from auditor.config import AuditorConfig
from auditor.rules.catalog import markdown_table
from auditor.rules.registry import REGISTRY, RuleSpec

EXPORT_FORMATS = ("json", "csv", "md")
CATALOG_SCHEMA = "entra-auditor/rules/v1"
CSV_COLUMNS = (
    "id",
    "title",
    "severity",
    "needs",
    "params",
    "rationale",
    "remediation",
    "references",
    "reference_urls",
)


def rule_document(spec: RuleSpec) -> dict[str, Any]:
    """One rule as plain data: metadata, how it decides, parameters and references."""
    return {
        "id": spec.id,
        "title": spec.title,
        "severity": spec.severity,
        "escalation": spec.escalation,
        "needs": list(spec.needs),
        "optional_needs": list(spec.optional_needs),
        "params": dict(spec.params),
        "headline": spec.headline,
        "detection": " ".join(spec.detection.split()),
        "rationale": spec.rationale,
        "remediation": spec.remediation,
        "references": [{k: v for k, v in asdict(r).items() if k != "verified"} for r in spec.references],
    }


def _ref_label(ref: Any) -> str:
    return f"{ref.framework} {ref.id}" + (" (adjacent)" if ref.relation == "adjacent" else "")


def export_catalog(fmt: str, registry: Mapping[str, RuleSpec] = REGISTRY) -> str:
    """The whole catalog with references as JSON, CSV (one row per rule) or a Markdown table."""
    if fmt == "json":
        doc = {"schema": CATALOG_SCHEMA, "rules": [rule_document(s) for s in registry.values()]}
        return json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for s in registry.values():
            writer.writerow(
                [
                    s.id,
                    s.title,
                    s.severity,
                    "; ".join(s.needs),
                    "; ".join(f"{k}={v}" for k, v in s.params.items()),
                    s.rationale,
                    s.remediation,
                    "; ".join(_ref_label(r) for r in s.references if r.framework != "Microsoft Learn"),
                    "; ".join(r.url for r in s.references if r.url),
                ]
            )
        return buffer.getvalue()
    if fmt == "md":
        return markdown_table() + "\n"
    raise ValueError(f"unknown catalog format {fmt!r}")


def show_rule(spec: RuleSpec) -> str:
    """``rules show ID``: everything a reviewer needs about one rule, as text."""
    lines = [f"{spec.id} — {spec.title}", f"severity: {spec.severity}"]
    if spec.escalation:
        lines.append(f"  {spec.escalation}")
    lines.append(f"needs: {', '.join(spec.needs)}")
    if spec.optional_needs:
        lines.append(f"uses when present: {', '.join(spec.optional_needs)}")
    lines += ["", "How it decides:", f"  {' '.join(spec.detection.split())}"]
    lines += ["", "Why it matters:", f"  {spec.rationale}", "", "Remediation:", f"  {spec.remediation}", ""]
    if spec.params:
        lines.append("Parameters (default; set under rules.<id>.params):")
        lines += [f"  {k} = {v!r}" for k, v in spec.params.items()]
    else:
        lines.append("Parameters: none")
    lines += ["", "References:"]
    for r in spec.references:
        relation = f" [adjacent: {r.note}]" if r.relation == "adjacent" else ""
        title = f" — {r.title}" if r.framework != "Microsoft Learn" else f" {r.title}"
        label = r.framework if r.framework == "Microsoft Learn" else f"{r.framework} {r.id}"
        lines.append(f"  {label}{title}{relation}")
        if r.url:
            lines.append(f"    {r.url}")
    return "\n".join(lines)


def configured_state(config: AuditorConfig, registry: Mapping[str, RuleSpec] = REGISTRY) -> list[dict[str, Any]]:
    """Per rule: enabled, the effective severity (and whether the configuration overrides it), and the
    effective parameters with the ones the configuration sets."""
    rows = []
    for spec in registry.values():
        rc = config.rules.get(spec.id)
        params = dict(spec.params)
        overridden = dict(rc.params) if rc else {}
        params.update(overridden)
        rows.append(
            {
                "id": spec.id,
                "enabled": rc.enabled if rc else True,
                "severity": (rc.severity if rc and rc.severity else spec.severity),
                "severity_default": spec.severity,
                "severity_overridden": bool(rc and rc.severity and rc.severity != spec.severity),
                "params": params,
                "params_overridden": sorted(overridden),
                "waivers": sum(1 for w in config.waivers if w.rule == spec.id),
            }
        )
    return rows


def format_configured_state(rows: list[dict[str, Any]], origin: str) -> str:
    """The configured state as a table: one line per rule, overrides marked with ``*``."""
    lines = [f"Rules as configured in {origin} (* = set by the configuration)", ""]
    lines.append(f"{'id':40} {'enabled':8} {'severity':26} {'waivers':7} params")
    for r in rows:
        severity = r["severity"] + (f"* (default {r['severity_default']})" if r["severity_overridden"] else "")
        params = ", ".join(f"{k}={v!r}" + ("*" if k in r["params_overridden"] else "") for k, v in r["params"].items())
        enabled = "yes" if r["enabled"] else "NO*"
        lines.append(f"{r['id']:40} {enabled:8} {severity:26} {r['waivers']:<7} {params or '-'}")
    return "\n".join(lines)
