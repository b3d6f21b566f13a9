"""The migration plan as history records it: per run, how many users were on per-user MFA (per wave) and who.

``runs.plan`` holds the summary (``{"status", "total", "waves": {wave: count}}``; NULL for runs recorded before
revision 0003 or without a plan) and ``plan_users`` one row per user on the plan (user id, UPN, wave), so the
next run can tell exactly who moved off per-user MFA (on the previous plan, not on this one) rather than only
subtract counts. A plan that was not assessed records its status and no users: its count is unknown, not 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the plan stage imports pandas; history only reads the plan's attributes
    from auditor.plan import MigrationPlan


@dataclass(frozen=True)
class RecordedPlan:
    """The migration plan of one recorded run (the baseline a new run compares its plan with).

    ``total`` is None when the plan was not assessed in that run; ``users`` maps user id → UPN of every user
    who was on per-user MFA (enabled/enforced) then; ``waves`` maps wave number → users in it.
    """

    run_id: str
    started: datetime
    status: str
    total: int | None
    waves: dict[int, int] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)

    @property
    def assessed(self) -> bool:
        return self.status == "assessed" and self.total is not None


def plan_summary(plan: MigrationPlan | None) -> dict[str, Any] | None:
    """The ``runs.plan`` value of a run's plan (None: the run computed no plan)."""
    if plan is None:
        return None
    if plan.status != "assessed":
        return {"status": plan.status, "total": None, "waves": {}}
    return {"status": "assessed", "total": plan.total, "waves": {str(w.wave): w.count for w in plan.waves}}


def plan_user_rows(run_id: str, plan: MigrationPlan | None) -> list[dict[str, Any]]:
    """The ``plan_users`` rows of a run's plan (none unless the plan was assessed)."""
    if plan is None or plan.status != "assessed":
        return []
    return [{"run_id": run_id, "user_id": u.user_id, "upn": u.upn or "", "wave": u.wave} for u in plan.users]


def recorded_plan(
    run_id: str, started: datetime, summary: dict[str, Any] | None, users: dict[str, str]
) -> RecordedPlan | None:
    """A ``RecordedPlan`` from a run's stored summary and user rows (None when the run recorded no plan)."""
    if not isinstance(summary, dict):
        return None
    status = str(summary.get("status") or "not_assessed")
    total = summary.get("total")
    waves: dict[int, int] = {}
    for key, count in (summary.get("waves") or {}).items():
        try:
            waves[int(key)] = int(count)
        except (TypeError, ValueError):
            continue
    assessed = status == "assessed" and isinstance(total, int) and not isinstance(total, bool)
    return RecordedPlan(
        run_id=run_id,
        started=started,
        status=status,
        total=total if assessed else None,
        waves=waves if assessed else {},
        users=users if assessed else {},
    )
