"""The engine: runs every enabled rule of a registry over the model and applies the rule settings.

It is the only place where a data gap becomes ``not_assessed`` (with its reason), where severity
overrides and waivers apply, and where the run's status is decided. It takes the model built by
``auditor.model.build_model`` and only the configuration's ``rules`` and ``waivers`` slices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from auditor.config import AuditorConfig, RuleConfig, Waiver
from auditor.findings import AuditResult, Finding, RuleOutcome, RunInfo
from auditor.gcpause import gc_paused
from auditor.model import TenantModel, build_model
from auditor.rules import REGISTRY
from auditor.rules.references import Reference
from auditor.rules.registry import NotAssessed, RuleContext, RuleSpec, headlines
from auditor.snapshot import Snapshot


def _missing_reason(model: TenantModel, names: list[str]) -> str:
    parts = []
    for name in names:
        reason = model.source_reasons.get(name, "skipped: not collected")
        parts.append(f"{name} {reason}")
    return "needs " + "; ".join(parts)


def _waiver_matches(waiver: Waiver, finding: Finding, owners: dict[str, str]) -> bool:
    """Match by entity id or name; a mailbox finding also by its owner's UPN (``owners``: user id → UPN)."""
    if waiver.rule != finding.rule_id:
        return False
    entity = waiver.entity.strip().lower()
    if entity == "*":
        return finding.entity_type == "tenant"
    names = {finding.entity_id.lower(), finding.entity_name.lower()}
    owner = finding.evidence.get("user_id") if finding.entity_type == "mailbox" else None
    if isinstance(owner, str) and owner in owners:
        names.add(owners[owner].lower())
    return entity in names


def _waiver_doc(waiver: Waiver, expired: bool) -> dict[str, Any]:
    return {
        "rule": waiver.rule,
        "entity": waiver.entity,
        "reason": waiver.reason,
        "expires": waiver.expires.isoformat() if waiver.expires else None,
        "approved_by": waiver.approved_by,
        "expired": expired,
    }


def apply_waivers(
    findings: list[Finding], waivers: Sequence[Waiver], today: date, owners: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Mark matching findings waived; return the expired waivers (they no longer apply, and say so)."""
    owners = owners or {}
    expired_docs: list[dict[str, Any]] = []
    for waiver in waivers:
        expired = waiver.expires is not None and waiver.expires < today
        matched = 0
        for finding in findings:
            if not _waiver_matches(waiver, finding, owners):
                continue
            matched += 1
            if expired:
                if finding.waiver is None:
                    finding.waiver = _waiver_doc(waiver, True)
            else:
                finding.status = "waived"
                finding.waiver = _waiver_doc(waiver, False)
        if expired:
            expired_docs.append({**_waiver_doc(waiver, True), "matched_findings": matched})
    return expired_docs


def reference_doc(ref: Reference) -> dict[str, Any]:
    """A reference as plain data (RuleOutcome.references, findings.json ``rules[].references``)."""
    return {
        "framework": ref.framework,
        "id": ref.id,
        "title": ref.title,
        "url": ref.url,
        "relation": ref.relation,
        "note": ref.note,
    }


def partial_sources(coverage: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Sources collected only in part (coverage status ``partial``), each with what is missing."""
    return {str(c["source"]): str(c.get("reason") or "incomplete") for c in coverage if c.get("status") == "partial"}


def _partial_caveats(spec: RuleSpec, model: TenantModel, partial: Mapping[str, str]) -> list[str]:
    """What a rule reading a ``partial`` source was assessed without (it is never a silent pass).

    For ``group_members`` the configured classification entries (service-account groups, emergency access)
    that the snapshot does not hold are named: their members may be among the groups that were not listed."""
    out = []
    for name in (*spec.needs, *spec.optional_needs):
        if name not in partial:
            continue
        caveat = f"part of {name} ({partial[name]})"
        unresolved = [*model.service_groups_unresolved, *model.emergency_unresolved] if name == "group_members" else []
        if unresolved:
            caveat = f"the members of groups {', '.join(unresolved)}; {caveat}"
        out.append(caveat)
    return out


def _run_rule(
    spec: RuleSpec, model: TenantModel, rule_config: RuleConfig | None, partial_data: Mapping[str, str] | None = None
) -> tuple[RuleOutcome, list[Finding]]:
    outcome = RuleOutcome(
        id=spec.id,
        title=spec.title,
        severity=spec.severity,
        status="assessed",
        needs=spec.needs,
        rationale=spec.rationale,
        remediation=spec.remediation,
        detection=spec.detection,
        escalation=spec.escalation,
        headline=spec.headline,
        sheet=spec.sheet,
        params=dict(spec.params),
        references=[reference_doc(r) for r in spec.references],
        rollup=spec.rollup,
    )
    if rule_config is not None and not rule_config.enabled:
        outcome.status, outcome.reason = "disabled", "disabled in configuration"
        return outcome, []
    missing = [name for name in spec.needs if name not in model.available]
    if missing:
        outcome.status, outcome.reason = "not_assessed", _missing_reason(model, missing)
        return outcome, []
    params = {**spec.params, **(rule_config.params if rule_config else {})}
    outcome.params = params
    ctx = RuleContext(spec=spec, params=params)
    try:
        findings = list(spec.func(model, ctx))
    except NotAssessed as exc:
        outcome.status, outcome.reason = "not_assessed", exc.reason
        return outcome, []
    if rule_config is not None and rule_config.severity:
        for finding in findings:
            finding.severity = rule_config.severity
    partial = [
        f"{n} ({model.source_reasons.get(n, 'not collected')})" for n in spec.optional_needs if n not in model.available
    ]
    partial += _partial_caveats(spec, model, partial_data or {})
    partial += ctx.limits
    if partial:
        outcome.reason = "assessed without " + "; ".join(partial)
    outcome.findings = len(findings)
    return outcome, findings


def run_status(coverage: Sequence[Mapping[str, Any]]) -> str:
    """``partial`` when any source failed or was collected only in part (``partial``). A source that does not
    exist for the tenant (e.g. PIM without an Entra ID P2 licence) is ``skipped`` by the collector, not failed,
    and leaves the run complete."""
    return "partial" if any(entry["status"] in ("failed", "partial") for entry in coverage) else "complete"


def evaluate(
    model: TenantModel,
    registry: Mapping[str, RuleSpec],
    settings: Mapping[str, RuleConfig],
    waivers: Sequence[Waiver],
    *,
    coverage: Sequence[Mapping[str, Any]],
    now: datetime | None = None,
    run: RunInfo | None = None,
) -> AuditResult:
    """Run every rule of ``registry`` on the model. Pure: no I/O.

    ``settings`` (rule id → enabled/severity/params) and ``waivers`` are the configuration's ``rules`` and
    ``waivers``, validated against the registry by ``auditor.rules.settings``. ``coverage`` is the
    snapshot's per-source status (``Snapshot.coverage()``): it is reported as is and decides the run status.
    """
    now = now or datetime.now(UTC)
    run = run or RunInfo(started=now)
    outcomes: list[RuleOutcome] = []
    findings: list[Finding] = []
    partial = partial_sources(coverage)
    with gc_paused():
        for spec in registry.values():
            outcome, found = _run_rule(spec, model, settings.get(spec.id), partial)
            outcomes.append(outcome)
            findings.extend(found)
    owners: dict[str, str] = {}
    if waivers and not model.users.empty:
        owners = dict(zip(model.users["id"].tolist(), model.users["upn"].tolist(), strict=True))
    expired = apply_waivers(findings, waivers, now.date(), owners)
    if run.status != "failed":
        run.status = run_status(coverage)  # type: ignore[assignment]
    if not any(o.status == "assessed" for o in outcomes) and any(o.status == "not_assessed" for o in outcomes):
        run.status = "failed"  # nothing was audited (e.g. a snapshot without sources): never a clean run
        run.errors.append("no rule could be assessed: the snapshot holds none of the data the rules need")
    run.finished = datetime.now(UTC)
    return AuditResult(
        tenant={**model.tenant, "name": model.tenant_name, "tenant_id": model.tenant_id},
        run=run,
        coverage=[dict(entry) for entry in coverage],
        rules=outcomes,
        findings=findings,
        expired_waivers=expired,
        headlines=headlines(registry),
    )


def evaluate_snapshot(
    snapshot: Snapshot, config: AuditorConfig, *, now: datetime | None = None, run: RunInfo | None = None
) -> AuditResult:
    """Model and evaluate a snapshot with every registered rule and the configuration's slices.

    A convenience for tests, benchmarks and tools that start from a snapshot; ``run_audit`` calls the
    stages itself."""
    model = build_model(snapshot, config.classification, config.legacy_mfa)
    return evaluate(model, REGISTRY, config.rules, config.waivers, coverage=snapshot.coverage(), now=now, run=run)
