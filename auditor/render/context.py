"""The report context: everything every renderer (HTML, workbook, JSON, e-mail) reads, built once per run.

``build_report_context(result, model)`` re-arranges what the engine computed: findings grouped by rule
and by headline risk, counts, coverage warnings, changes since the previous run, rule outcomes with all
their metadata, and the entity projections (users, Conditional Access policies, IP ranges) taken from the
model tables as plain rows. It never decides whether something is a finding, and no pandas table travels
past it: renderers read only the context, never the ``AuditResult`` or the model.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from auditor.findings import (
    SEVERITIES,
    SEVERITY_RANK,
    AuditResult,
    Finding,
    Headline,
    Review,
    RuleOutcome,
    RunInfo,
)
from auditor.gcpause import gc_paused
from auditor.history.trend import TrendPoint
from auditor.render.entities import CaPolicyRow, IpRangeRow, UserRow, ca_rows, directory_names, ip_rows, user_rows
from auditor.render.trend import Trend

if TYPE_CHECKING:
    from auditor.history.plans import RecordedPlan
    from auditor.model.tenant import TenantModel
    from auditor.plan import MigrationPlan

DEFAULT_FALLBACK_CAP = 200  # findings per rule listed in the no-JavaScript part of report.html


def finding_sort_key(f: Finding) -> tuple[int, int, str, str]:
    """Worst first, new before persisting, then by rule and entity."""
    return (-SEVERITY_RANK.get(f.severity, 0), 0 if f.change == "new" else 1, f.rule_id, f.entity_name)


@dataclass
class RuleSection:
    """One rule with its open and waived findings (each sorted worst first)."""

    outcome: RuleOutcome
    open: list[Finding]
    waived: list[Finding]

    @property
    def id(self) -> str:
        return self.outcome.id

    @property
    def anchor(self) -> str:
        return f"rule-{self.outcome.id}"

    @property
    def detection(self) -> str:
        return self.outcome.detection

    @property
    def escalation(self) -> str:
        return self.outcome.escalation

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


@dataclass(frozen=True)
class RollupLine:
    """One finding that stands for many entities (its rule declares a ``RollUp``): "71,083 mailboxes inherit
    the organisation's SMTP AUTH setting" and the one fix that covers them all."""

    rule_id: str
    severity: str
    headline: str | None
    entity_name: str
    count: int
    text: str
    fix: str

    @property
    def anchor(self) -> str:
        return f"rule-{self.rule_id}"


def _rollups(sections: list[RuleSection]) -> list[RollupLine]:
    """The roll-up lines of the open findings whose rule declares one (a count that is not a number, such as
    "unknown", is no roll-up), largest first within each severity."""
    out = []
    for section in sections:
        spec = section.outcome.rollup
        if spec is None:
            continue
        for f in section.open:
            count = (f.evidence or {}).get(spec.key)
            if type(count) is int and count > 0:
                out.append(
                    RollupLine(
                        rule_id=section.id,
                        severity=f.severity,
                        headline=section.outcome.headline,
                        entity_name=f.entity_name,
                        count=count,
                        text=spec.text(count),
                        fix=spec.fix,
                    )
                )
    out.sort(key=lambda r: (-SEVERITY_RANK.get(r.severity, 0), -r.count, r.rule_id))
    return out


@dataclass
class CoverageWarning:
    source: str
    reason: str
    rules: list[str]


@dataclass
class ReportContext:
    """One run, arranged for presentation. Lists are shared with the ``AuditResult`` (not copied)."""

    tenant: dict[str, Any]
    tenant_name: str
    tenant_label: str
    run: RunInfo
    previous_run_id: str | None
    coverage: list[dict[str, Any]]
    rules: list[RuleOutcome]  # as the engine returned them (findings.json keeps this order)
    findings: list[Finding]
    open_findings: list[Finding]  # sorted worst first
    waived_findings: list[Finding]  # sorted worst first
    counts: dict[str, int]  # open findings per severity
    waived: int
    open_total: int
    coverage_warnings: list[CoverageWarning]
    not_assessed: list[RuleOutcome]
    rule_sections: list[RuleSection]  # assessed with findings first, then by worst severity
    headlines: list[HeadlineSection]
    new: list[Finding]
    resolved: list[dict[str, Any]]
    expired_waivers: list[dict[str, Any]]
    has_history: bool
    by_rule: list[tuple[str, str, int]]  # (rule id, title, open findings), most first
    users: list[UserRow] = field(default_factory=list)
    ca_policies: list[CaPolicyRow] = field(default_factory=list)
    ip_ranges: list[IpRangeRow] = field(default_factory=list)
    directory_names: dict[str, str] = field(default_factory=dict)  # group/role/location/user id -> name
    migration_plan: MigrationPlan | None = None  # per-user MFA → Conditional Access waves (auditor.plan)
    rollups: list[RollupLine] = field(default_factory=list)  # findings that stand for many entities, one fix each
    previous_plan: RecordedPlan | None = None  # the baseline run's recorded plan (history); None: nothing to compare
    trend: Trend | None = None  # open findings per severity over the last runs; None: no trend section
    reviews: dict[str, Review] = field(default_factory=dict)
    """Reviewer entries carried forward from earlier workbooks (``auditor.review``), by finding fingerprint."""

    @property
    def rule_index(self) -> list[str]:
        return [s.id for s in self.rule_sections]

    @property
    def started(self) -> datetime:
        return self.run.started

    def rollups_for(self, headline: str) -> list[RollupLine]:
        """The roll-up lines of one headline group's rules."""
        return [r for r in self.rollups if r.headline == headline]

    def summary(self) -> dict[str, Any]:
        return {"open": dict(self.counts), "waived": self.waived}

    def top_findings(self, limit: int = 10) -> list[Finding]:
        return self.open_findings[:limit]

    def open_sorted(self) -> list[Finding]:
        return self.open_findings


def tenant_label(tenant: dict[str, Any]) -> str:
    name = tenant.get("name") or tenant.get("tenant_id") or "tenant"
    display = tenant.get("display_name") or ""
    domain = tenant.get("default_domain") or ""
    extra = " · ".join(x for x in (display, domain) if x and x != name)
    return f"{name} ({extra})" if extra else str(name)


def _rule_sections(
    result: AuditResult, open_by_rule: dict[str, list[Finding]], waived_by_rule: dict[str, list[Finding]]
) -> list[RuleSection]:
    outcomes = list(result.rules)
    known = {r.id for r in outcomes}
    for rid in sorted(set(open_by_rule) | set(waived_by_rule)):  # findings of a rule without an outcome
        if rid not in known:
            sample = (open_by_rule.get(rid) or waived_by_rule[rid])[0]
            outcomes.append(
                RuleOutcome(
                    id=rid,
                    title=sample.title or rid,
                    severity=sample.severity,
                    status="assessed",
                    remediation=sample.remediation,
                )
            )
    sections = [
        RuleSection(outcome=o, open=open_by_rule.get(o.id, []), waived=waived_by_rule.get(o.id, [])) for o in outcomes
    ]
    status_rank = {"assessed": 0, "not_assessed": 1, "disabled": 2}
    sections.sort(
        key=lambda s: (
            status_rank.get(s.outcome.status, 3),
            0 if s.open else 1,
            -SEVERITY_RANK.get(s.worst, 0),
            -len(s.open),
        )
    )
    return sections


def _coverage_warnings(result: AuditResult, not_assessed: list[RuleOutcome]) -> list[CoverageWarning]:
    # A failed source explains the not-assessed rules that need it, or whose reason names it (derived
    # sources such as legacy_mfa_settings fall back on mfa_service_policy). A partial source is warned about
    # too; the rules reading it were assessed and their reasons say what they were assessed without.
    return [
        CoverageWarning(
            source=c["source"],
            reason=c.get("reason") or "not collected",
            rules=sorted(r.id for r in not_assessed if c["source"] in r.needs or c["source"] in (r.reason or "")),
        )
        for c in result.failed_sources()
    ] + [
        CoverageWarning(source=c["source"], reason=f"partial: {c.get('reason') or 'incomplete'}", rules=[])
        for c in result.coverage
        if c["status"] == "partial"
    ]


def build_report_context(
    result: AuditResult,
    model: TenantModel | None = None,
    *,
    earlier_runs: list[TrendPoint] | None = None,
    trend_runs: int = 0,
) -> ReportContext:
    """Arrange an ``AuditResult`` (and the model's entity tables) for every renderer.

    ``model`` supplies the Users, Conditional Access and IP range projections; without it those are
    empty (the e-mail, for one, needs none of them). ``earlier_runs`` (the tenant's recorded runs before
    this one, oldest first, from ``HistoryStore.trend``) and this run make the trend of the last
    ``trend_runs`` runs; ``earlier_runs`` None or ``trend_runs`` 0: no trend.
    """
    with gc_paused():  # hundreds of thousands of rows; none of them forms a cycle
        context = _build(result, model)
    if earlier_runs is not None and trend_runs > 0:
        context.trend = _trend(context, earlier_runs, trend_runs)
    return context


def _trend(context: ReportContext, earlier: list[TrendPoint], runs: int) -> Trend:
    this_run = TrendPoint(
        run_id=context.run.id,
        started=context.run.started,
        status=context.run.status,
        open=dict(context.counts),
        current=True,
    )
    kept = [p for p in earlier if p.run_id != context.run.id][-(runs - 1) :] if runs > 1 else []
    return Trend(points=[*kept, this_run], runs=runs)


def _build(result: AuditResult, model: TenantModel | None) -> ReportContext:
    open_sorted = sorted((f for f in result.findings if f.status != "waived"), key=finding_sort_key)
    waived_sorted = sorted((f for f in result.findings if f.status == "waived"), key=finding_sort_key)
    open_by_rule: dict[str, list[Finding]] = defaultdict(list)
    waived_by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in open_sorted:
        open_by_rule[f.rule_id].append(f)
    for f in waived_sorted:
        waived_by_rule[f.rule_id].append(f)
    sections = _rule_sections(result, open_by_rule, waived_by_rule)
    by_id = {s.id: s for s in sections}

    counts = dict.fromkeys(SEVERITIES, 0)
    for f in open_sorted:
        counts[f.severity] += 1
    not_assessed = result.not_assessed()
    titles = {s.id: s.outcome.title for s in sections}
    by_rule = Counter(f.rule_id for f in open_sorted).most_common()
    open_by_entity = Counter(f.entity_id for f in open_sorted) if model is not None else Counter()
    return ReportContext(
        tenant=result.tenant,
        tenant_name=str(result.tenant.get("name") or result.tenant.get("tenant_id") or "tenant"),
        tenant_label=tenant_label(result.tenant),
        run=result.run,
        previous_run_id=result.previous_run_id,
        coverage=result.coverage,
        rules=result.rules,
        findings=result.findings,
        open_findings=open_sorted,
        waived_findings=waived_sorted,
        counts=counts,
        waived=len(waived_sorted),
        open_total=len(open_sorted),
        coverage_warnings=_coverage_warnings(result, not_assessed),
        not_assessed=not_assessed,
        rule_sections=sections,
        headlines=[HeadlineSection(h, [by_id[r] for r in h.rule_ids if r in by_id]) for h in result.headlines],
        new=sorted((f for f in result.findings if f.change == "new"), key=finding_sort_key),
        resolved=result.resolved,
        expired_waivers=result.expired_waivers,
        has_history=result.previous_run_id is not None,
        by_rule=[(rid, titles.get(rid, rid), n) for rid, n in by_rule],
        users=user_rows(model, open_by_entity) if model is not None else [],
        ca_policies=ca_rows(model) if model is not None else [],
        ip_ranges=ip_rows(model) if model is not None else [],
        directory_names=directory_names(model) if model is not None else {},
        migration_plan=result.migration_plan,
        rollups=_rollups(sections),
        previous_plan=result.previous_plan,
    )
