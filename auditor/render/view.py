"""One view model for every renderer (HTML, workbook, e-mail).

It only re-arranges what the engine computed in ``AuditResult``: groups findings by rule and by the
four headline risks, counts them, orders them, and flattens evidence into readable text. It never
decides whether something is a finding.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from auditor.findings import SEVERITY_RANK, AuditResult, Finding, Headline, RuleOutcome, RunInfo

DEFAULT_FALLBACK_CAP = 200  # findings per rule listed in the no-JavaScript part of report.html
SUMMARY_CHARS = 300


def fmt_value(value: Any) -> str:
    """Readable text for one evidence value (lists joined, dates as ISO, None as empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return "; ".join(f"{k}: {fmt_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        parts = [fmt_value(v) for v in value]
        sep = " | " if any(isinstance(v, dict) for v in value) else ", "
        return sep.join(p for p in parts if p)
    return str(value)


def flatten_evidence(evidence: dict[str, Any] | None, prefix: str = "") -> list[tuple[str, str]]:
    """Evidence as (label, text) pairs; nested objects become dotted labels."""
    out: list[tuple[str, str]] = []
    for key, value in (evidence or {}).items():
        label = f"{prefix}{key}"
        if isinstance(value, dict) and value and len(value) <= 8:
            out.extend(flatten_evidence(value, prefix=f"{label}."))
        else:
            out.append((label, fmt_value(value)))
    return out


def evidence_summary(evidence: dict[str, Any] | None, limit: int = SUMMARY_CHARS) -> str:
    text = "; ".join(f"{k}: {v}" for k, v in flatten_evidence(evidence) if v != "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def finding_sort_key(f: Finding) -> tuple[int, int, str, str]:
    return (-SEVERITY_RANK.get(f.severity, 0), 0 if f.change == "new" else 1, f.rule_id, f.entity_name)


@dataclass
class RuleSection:
    outcome: RuleOutcome
    open: list[Finding]
    waived: list[Finding]
    detection: str = ""
    escalation: str = ""

    @property
    def id(self) -> str:
        return self.outcome.id

    @property
    def anchor(self) -> str:
        return f"rule-{self.outcome.id}"

    @property
    def worst(self) -> str:
        sevs = [f.severity for f in self.open] or [self.outcome.severity]
        return max(sevs, key=lambda s: SEVERITY_RANK.get(s, 0))


@dataclass
class HeadlineSection:
    headline: Headline
    rules: list[RuleSection]

    @property
    def open_count(self) -> int:
        return sum(len(r.open) for r in self.rules)

    @property
    def not_assessed(self) -> list[RuleSection]:
        return [r for r in self.rules if r.outcome.status == "not_assessed"]


@dataclass
class CoverageWarning:
    source: str
    reason: str
    rules: list[str]


@dataclass
class ReportView:
    result: AuditResult
    tenant_name: str
    tenant_label: str
    counts: dict[str, int]
    waived: int
    open_total: int
    coverage_warnings: list[CoverageWarning]
    not_assessed: list[RuleOutcome]
    rule_sections: list[RuleSection]
    headlines: list[HeadlineSection]
    new: list[Finding]
    resolved: list[dict[str, Any]]
    has_history: bool
    by_rule: list[tuple[str, str, int]]  # (rule id, title, open findings), most first
    rule_index: list[str] = field(default_factory=list)

    @property
    def run(self) -> RunInfo:
        return self.result.run

    def top_findings(self, limit: int = 10) -> list[Finding]:
        return sorted(self.result.open_findings, key=finding_sort_key)[:limit]

    def open_sorted(self) -> list[Finding]:
        return sorted(self.result.open_findings, key=finding_sort_key)


def tenant_label(tenant: dict[str, Any]) -> str:
    name = tenant.get("name") or tenant.get("tenant_id") or "tenant"
    display = tenant.get("display_name") or ""
    domain = tenant.get("default_domain") or ""
    extra = " · ".join(x for x in (display, domain) if x and x != name)
    return f"{name} ({extra})" if extra else str(name)


def build_view(result: AuditResult) -> ReportView:
    """Arrange an ``AuditResult`` for presentation."""
    by_rule_open: dict[str, list[Finding]] = defaultdict(list)
    by_rule_waived: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        (by_rule_waived if f.status == "waived" else by_rule_open)[f.rule_id].append(f)

    outcomes = list(result.rules)
    known = {r.id for r in outcomes}
    for rid in sorted(set(by_rule_open) | set(by_rule_waived)):  # findings of a rule without an outcome
        if rid not in known:
            sample = (by_rule_open.get(rid) or by_rule_waived[rid])[0]
            outcomes.append(RuleOutcome(id=rid, title=sample.title or rid, severity=sample.severity,
                                        status="assessed", remediation=sample.remediation))
    sections: list[RuleSection] = []
    for outcome in outcomes:
        sections.append(RuleSection(
            outcome=outcome,
            open=sorted(by_rule_open.get(outcome.id, []), key=finding_sort_key),
            waived=sorted(by_rule_waived.get(outcome.id, []), key=finding_sort_key),
            detection=outcome.detection,
            escalation=outcome.escalation,
        ))
    status_rank = {"assessed": 0, "not_assessed": 1, "disabled": 2}
    sections.sort(key=lambda s: (status_rank.get(s.outcome.status, 3), 0 if s.open else 1,
                                 -SEVERITY_RANK.get(s.worst, 0), -len(s.open)))
    by_id = {s.id: s for s in sections}

    summary = result.summary()
    counts = summary["open"]
    # A failed source explains the not-assessed rules that need it, or whose reason names it (derived
    # sources such as legacy_mfa_settings fall back on mfa_service_policy).
    not_assessed = result.not_assessed()
    warnings = [
        CoverageWarning(source=c["source"], reason=c.get("reason") or "not collected",
                        rules=sorted(r.id for r in not_assessed
                                     if c["source"] in r.needs or c["source"] in (r.reason or "")))
        for c in result.failed_sources()
    ]
    rule_counter = Counter(f.rule_id for f in result.open_findings)
    titles = {s.id: s.outcome.title for s in sections}
    return ReportView(
        result=result,
        tenant_name=str(result.tenant.get("name") or result.tenant.get("tenant_id") or "tenant"),
        tenant_label=tenant_label(result.tenant),
        counts=counts,
        waived=summary["waived"],
        open_total=sum(counts.values()),
        coverage_warnings=warnings,
        not_assessed=result.not_assessed(),
        rule_sections=sections,
        headlines=[HeadlineSection(h, [by_id[r] for r in h.rule_ids if r in by_id]) for h in result.headlines],
        new=sorted((f for f in result.findings if f.change == "new"), key=finding_sort_key),
        resolved=list(result.resolved),
        has_history=result.previous_run_id is not None,
        by_rule=[(rid, titles.get(rid, rid), n) for rid, n in rule_counter.most_common()],
        rule_index=[s.id for s in sections],
    )
