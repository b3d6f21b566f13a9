"""What changed since the last run, as the weekly e-mail leads with it.

New and resolved findings grouped by rule title, migration-plan progress (users still on per-user MFA, and
who moved off since the previous run) and the waivers that expire within the next 14 days. Reads only the
report context.

Migration-plan progress compares ``ctx.migration_plan`` (this run's ``auditor.plan.MigrationPlan``) with
``ctx.previous_plan`` (the plan history recorded for the baseline run, an ``auditor.history.plans.RecordedPlan``,
set by ``HistoryStore.annotate``). "Moved off" is exact: users on the baseline's plan who are not on this one
(per-user MFA disabled, or the user deleted); users who are new on per-user MFA are counted apart, never
netted against them. Without a plan there is no plan block; without a recorded baseline plan (first run, no
history, a baseline recorded before plans were stored, or a plan not assessed in either run) there is no
"moved off" count. A tenant with nobody on per-user MFA now or in the baseline shows no plan block at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from auditor.render.context import ReportContext

if TYPE_CHECKING:
    from auditor.history.plans import RecordedPlan
    from auditor.plan import MigrationPlan

EXPIRY_WINDOW_DAYS = 14
NAMES_SHOWN = 3  # moved-off users named in the e-mail


@dataclass(frozen=True)
class RuleChange:
    title: str
    severity: str
    count: int
    entities: tuple[str, ...]  # the first few, for the e-mail


@dataclass(frozen=True)
class ExpiringWaiver:
    rule: str
    entity: str
    expires: date
    days_left: int
    findings: int
    approved_by: str
    reason: str


@dataclass(frozen=True)
class WaveProgress:
    wave: int
    title: str
    count: int
    previous: int | None  # users in this wave in the baseline run (None: no baseline plan)

    @property
    def label(self) -> str:
        return f"Wave {self.wave} - {self.title}"


@dataclass(frozen=True)
class PlanProgress:
    """This run's plan against the baseline's. ``remaining`` is None when this run's plan was not assessed;
    ``previous``, ``moved_off`` and ``added`` are None without a recorded, assessed baseline plan."""

    remaining: int | None  # users still on per-user MFA (enabled/enforced)
    previous: int | None  # users on per-user MFA in the baseline run
    moved_off: int | None = None  # on the baseline's plan, not on this one
    added: int | None = None  # on this plan, not on the baseline's
    moved_off_names: tuple[str, ...] = ()  # the first few UPNs of the users who moved off
    waves: tuple[WaveProgress, ...] = ()
    reason: str | None = None  # why the plan was not assessed

    @property
    def quiet(self) -> bool:
        """Nobody on per-user MFA, now or in the baseline: nothing worth a line in the e-mail."""
        return self.remaining == 0 and not self.previous


@dataclass(frozen=True)
class ChangeSummary:
    has_history: bool
    new_total: int
    resolved_total: int
    new: list[RuleChange] = field(default_factory=list)
    resolved: list[RuleChange] = field(default_factory=list)
    plan: PlanProgress | None = None
    expiring: list[ExpiringWaiver] = field(default_factory=list)


def _moved(plan: MigrationPlan, previous: RecordedPlan) -> tuple[int, int | None, tuple[str, ...]]:
    """(moved off, newly on, first moved-off UPNs) of ``plan`` against the baseline's recorded plan."""
    current = {u.user_id for u in plan.users}
    if previous.total and not previous.users:  # a count without its users: only the difference is known
        return max(previous.total - plan.total, 0), None, ()
    gone = sorted(upn or uid for uid, upn in previous.users.items() if uid not in current)
    added = sum(1 for uid in current if uid not in previous.users)
    return len(gone), added, tuple(gone[:NAMES_SHOWN])


def plan_progress(ctx: ReportContext) -> PlanProgress | None:
    """The migration-plan block, or None when the context carries no plan."""
    plan = ctx.migration_plan
    if plan is None:
        return None
    if plan.status != "assessed":
        return PlanProgress(remaining=None, previous=None, reason=plan.reason or "data unavailable")
    base = ctx.previous_plan if ctx.previous_plan is not None and ctx.previous_plan.assessed else None
    waves = tuple(
        WaveProgress(w.wave, w.title, w.count, base.waves.get(w.wave, 0) if base else None)
        for w in plan.waves
        if w.count or (base and base.waves.get(w.wave))
    )
    if base is None:
        return PlanProgress(remaining=plan.total, previous=None, waves=waves)
    moved_off, added, names = _moved(plan, base)
    return PlanProgress(
        remaining=plan.total,
        previous=base.total,
        moved_off=moved_off,
        added=added,
        moved_off_names=names,
        waves=waves,
    )


def _group(items: list[tuple[str, str, str]], entities_per_rule: int) -> list[RuleChange]:
    """(title, severity, entity) items -> one RuleChange per title, most first."""
    counts = Counter(title for title, _sev, _entity in items)
    severity: dict[str, str] = {}
    entities: dict[str, list[str]] = {}
    for title, sev, entity in items:
        severity.setdefault(title, sev)
        names = entities.setdefault(title, [])
        if len(names) < entities_per_rule:
            names.append(entity)
    return [RuleChange(t, severity[t], n, tuple(entities[t])) for t, n in counts.most_common()]


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def expiring_waivers(ctx: ReportContext, days: int = EXPIRY_WINDOW_DAYS) -> list[ExpiringWaiver]:
    """Waivers in use (on a waived finding) that expire from the run's day to ``days`` later, soonest first."""
    today = ctx.run.started.date()
    horizon = today + timedelta(days=days)
    grouped: dict[tuple[str, str, date], list[dict[str, Any]]] = {}
    for f in ctx.waived_findings:
        w = f.waiver or {}
        expires = _as_date(w.get("expires"))
        if expires is None or not today <= expires <= horizon:
            continue
        grouped.setdefault((str(w.get("rule") or f.rule_id), str(w.get("entity") or ""), expires), []).append(w)
    return sorted(
        (
            ExpiringWaiver(
                rule=rule,
                entity=entity,
                expires=expires,
                days_left=(expires - today).days,
                findings=len(ws),
                approved_by=str(ws[0].get("approved_by") or ""),
                reason=str(ws[0].get("reason") or ""),
            )
            for (rule, entity, expires), ws in grouped.items()
        ),
        key=lambda w: (w.expires, w.rule, w.entity),
    )


def change_summary(ctx: ReportContext, *, entities_per_rule: int = 3) -> ChangeSummary:
    """Everything the change-first e-mail shows above the current state."""
    titles = {r.id: r.title for r in ctx.rules}
    severity = {r.id: r.severity for r in ctx.rules}
    new = [(f.title or titles.get(f.rule_id) or f.rule_id, f.severity, f.entity_name) for f in ctx.new]
    resolved = []
    for r in ctx.resolved:
        rule_id = str(r.get("rule_id") or "")
        entity = str(r.get("entity_name") or r.get("entity_id") or "")
        resolved.append((titles.get(rule_id) or rule_id, str(r.get("severity") or severity.get(rule_id, "")), entity))
    progress = plan_progress(ctx)
    return ChangeSummary(
        has_history=ctx.has_history,
        new_total=len(new),
        resolved_total=len(resolved),
        new=_group(new, entities_per_rule),
        resolved=_group(resolved, entities_per_rule),
        plan=None if progress is None or progress.quiet else progress,
        expiring=expiring_waivers(ctx),
    )
