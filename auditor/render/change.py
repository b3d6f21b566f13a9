"""What changed since the last run, as the weekly e-mail leads with it.

New and resolved findings grouped by rule title, migration-plan progress (users still on per-user MFA,
and how many moved off since the previous run when the context knows the previous count), and the
waivers that expire within the next 14 days. Reads only the report context.

The migration plan is optional: a context without ``migration_plan`` (or with None) has no plan block.
The plan may be a mapping or an object; its user count is read from ``users``/``entries``/``rows``
(a sized collection) or ``total``/``user_count``, its waves from ``waves`` (each with a ``name`` or
``title`` and ``users`` or ``count``), and the previous count from the context's
``previous_migration_users`` or the plan's ``previous_users``/``previous_total``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from auditor.render.context import ReportContext

EXPIRY_WINDOW_DAYS = 14


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
class PlanProgress:
    remaining: int | None  # users still on per-user MFA (enabled/enforced)
    previous: int | None
    waves: tuple[tuple[str, int], ...] = ()

    @property
    def moved_off(self) -> int | None:
        """Users moved off per-user MFA since the previous run (None without a previous count)."""
        if self.remaining is None or self.previous is None:
            return None
        return max(self.previous - self.remaining, 0)


@dataclass(frozen=True)
class ChangeSummary:
    has_history: bool
    new_total: int
    resolved_total: int
    new: list[RuleChange] = field(default_factory=list)
    resolved: list[RuleChange] = field(default_factory=list)
    plan: PlanProgress | None = None
    expiring: list[ExpiringWaiver] = field(default_factory=list)


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _count(obj: Any, sized: tuple[str, ...], numbers: tuple[str, ...]) -> int | None:
    for name in sized:
        value = _get(obj, name)
        if value is not None and hasattr(value, "__len__") and not isinstance(value, str):
            return len(value)
    for name in numbers:
        value = _get(obj, name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def plan_progress(ctx: ReportContext) -> PlanProgress | None:
    """The migration-plan block, or None when the context carries no plan."""
    plan = getattr(ctx, "migration_plan", None)
    if plan is None:
        return None
    remaining = _count(plan, ("users", "entries", "rows"), ("total", "user_count"))
    previous = getattr(ctx, "previous_migration_users", None)
    if previous is None:
        previous = _count(plan, (), ("previous_users", "previous_total"))
    waves = []
    for wave in _get(plan, "waves") or ():
        name = _get(wave, "name") or _get(wave, "title") or _get(wave, "key") or "wave"
        count = _count(wave, ("users", "entries", "rows"), ("count", "total"))
        waves.append((str(name), count or 0))
    return PlanProgress(remaining=remaining, previous=previous, waves=tuple(waves))


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
    return ChangeSummary(
        has_history=ctx.has_history,
        new_total=len(new),
        resolved_total=len(resolved),
        new=_group(new, entities_per_rule),
        resolved=_group(resolved, entities_per_rule),
        plan=plan_progress(ctx),
        expiring=expiring_waivers(ctx),
    )
