"""Benchmark controls as the reports show them: compact keys, the control index, and each control's status.

A *control* is one non-documentation reference of a rule (CIS, CISA SCuBA, Maester, EIDSCA, a Message
Center post); Microsoft Learn pages are documentation and stay on the rules only. Everything here is
derived from the report context (``RuleOutcome.references``), never from the rule registry.

Status of a control, from the rules that reference it (in this order):

* ``fail``: at least one enabled rule behind it has open findings (``open`` counts them);
* ``not assessed``: none fails, and at least one rule behind it was not assessed or is disabled in
  the configuration (a control is never ``pass`` on partial evidence; ``note`` names those rules);
* ``disabled``: every rule behind it is disabled in the configuration;
* ``waived``: all rules assessed, no open finding, and at least one waived finding;
* ``pass``: all rules assessed with no finding at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.render.context import ReportContext, RuleSection

DOCUMENTATION_FRAMEWORKS = frozenset({"Microsoft Learn"})
_PREFIX = {
    "CIS M365 v7.0": "cis",
    "CISA SCuBA": "scuba",
    "Maester": "maester",
    "EIDSCA": "eidsca",
    "Microsoft 365 Message Center": "mc",
}
STATUSES = ("fail", "not assessed", "waived", "pass", "disabled")


def is_control(ref: Mapping[str, Any]) -> bool:
    """True for a benchmark control or advisory; False for a documentation page."""
    return ref.get("framework") not in DOCUMENTATION_FRAMEWORKS


def control_key(ref: Mapping[str, Any]) -> str:
    """The compact key of one control, e.g. ``cis:5.1.2.1``, ``scuba:MS.AAD.3.2v2``, ``maester:MT.1020``."""
    framework = str(ref.get("framework") or "")
    prefix = _PREFIX.get(framework) or framework.lower().replace(" ", "-")
    return f"{prefix}:{ref.get('id')}"


def rule_control_keys(references: Iterable[Mapping[str, Any]]) -> list[str]:
    """The control keys of one rule's references, in the rule's order, without duplicates."""
    return list(dict.fromkeys(control_key(r) for r in references if is_control(r)))


@dataclass(frozen=True)
class ControlRow:
    """One referenced control with the rules behind it and its status in this run."""

    key: str
    framework: str
    id: str
    title: str
    url: str | None
    rules: tuple[str, ...]
    status: str
    open: int
    waived: int
    note: str
    relation: str  # "equivalent" when any rule implements it exactly, else "adjacent"


def _status(sections: list[Any]) -> tuple[str, int, int, str]:
    enabled = [s for s in sections if s.outcome.status != "disabled"]
    disabled = [s.id for s in sections if s.outcome.status == "disabled"]
    not_assessed = [s.id for s in enabled if s.outcome.status == "not_assessed"]
    open_count = sum(len(s.open) for s in enabled)
    waived = sum(len(s.waived) for s in enabled)
    notes = []
    if not_assessed:
        notes.append("not assessed: " + ", ".join(not_assessed))
    if disabled:
        notes.append("disabled in the configuration: " + ", ".join(disabled))
    if open_count:
        status = "fail"
    elif not enabled:
        status = "disabled"
    elif not_assessed or disabled:
        status = "not assessed"
    elif waived:
        status = "waived"
    else:
        status = "pass"
    return status, open_count, waived, "; ".join(notes)


def _sections(ctx: ReportContext | Any) -> list[RuleSection]:
    """The context's rule sections; for an ``AuditResult`` (findings.json is also written from one),
    the same built from its rule outcomes and findings."""
    sections = getattr(ctx, "rule_sections", None)
    if sections is not None:
        return list(sections)
    open_by: dict[str, list[Any]] = defaultdict(list)
    waived_by: dict[str, list[Any]] = defaultdict(list)
    for f in ctx.findings:
        (waived_by if f.status == "waived" else open_by)[f.rule_id].append(f)
    return [RuleSection(outcome=o, open=open_by.get(o.id, []), waived=waived_by.get(o.id, [])) for o in ctx.rules]


def control_rows(ctx: ReportContext) -> list[ControlRow]:
    """Every control referenced by a rule of this run, by framework then id, with its status."""
    refs: dict[str, dict[str, Any]] = {}
    behind: dict[str, dict[str, Any]] = {}  # control key -> {rule id: its section}
    equivalent: set[str] = set()
    for section in _sections(ctx):
        for ref in section.outcome.references:
            if not is_control(ref):
                continue
            key = control_key(ref)
            refs.setdefault(key, dict(ref))
            behind.setdefault(key, {})[section.id] = section
            if ref.get("relation", "equivalent") == "equivalent":
                equivalent.add(key)
    rows = []
    for key, ref in refs.items():
        sections = [behind[key][rid] for rid in sorted(behind[key])]
        status, open_count, waived, note = _status(sections)
        rows.append(
            ControlRow(
                key=key,
                framework=str(ref.get("framework")),
                id=str(ref.get("id")),
                title=str(ref.get("title") or ""),
                url=ref.get("url"),
                rules=tuple(s.id for s in sections),
                status=status,
                open=open_count,
                waived=waived,
                note=note,
                relation="equivalent" if key in equivalent else "adjacent",
            )
        )
    rows.sort(key=lambda r: (r.framework, _natural(r.id)))
    return rows


def _natural(text: str) -> tuple[Any, ...]:
    """Sort 5.2.2.14 after 5.2.2.3."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in text.replace("v", ".v").split("."))


def controls_section(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """findings.json ``controls``: control key -> framework, id, title, url, rules and status."""
    return {
        row.key: {
            "framework": row.framework,
            "id": row.id,
            "title": row.title,
            "url": row.url,
            "rules": list(row.rules),
            "status": row.status,
            "open": row.open,
        }
        for row in control_rows(ctx)
    }


def keys_by_rule(ctx: ReportContext) -> dict[str, list[str]]:
    """Rule id -> the control keys its findings carry."""
    return {r.id: rule_control_keys(r.references) for r in ctx.rules}


def control_filter(ctx: ReportContext, rule_ids: list[str]) -> dict[str, Any]:
    """The HTML explorer's control filter: ``controls`` = [[key, label], ...] for the controls present
    (those of rules listed in ``rule_ids``), ``rulectl`` = per rule index, the indices of its controls."""
    labels: dict[str, str] = {}
    refs_of = {s.id: s.outcome.references for s in ctx.rule_sections}
    for rid in rule_ids:
        for ref in refs_of.get(rid, ()):
            if is_control(ref):
                title = str(ref.get("title") or "")
                labels.setdefault(
                    control_key(ref), f"{ref.get('framework')} {ref.get('id')}" + (f" — {title}" if title else "")
                )
    keys = sorted(labels, key=lambda k: labels[k])
    index = {k: i for i, k in enumerate(keys)}
    return {
        "controls": [[k, labels[k]] for k in keys],
        "rulectl": [[index[k] for k in rule_control_keys(refs_of.get(rid, ()))] for rid in rule_ids],
    }
