"""The per-user MFA → Conditional Access migration plan (issue 11): a pure stage over the ``TenantModel``,
run next to the rules (not by them) and carried on ``AuditResult.migration_plan``."""

from auditor.plan.build import build_plan
from auditor.plan.model import (
    ADMINS,
    COVER_FIRST,
    LEGACY,
    NOTHING_TO_BREAK,
    STEPS,
    WAVES,
    MigrationPlan,
    PlanStep,
    PlanUser,
    WaveSummary,
)

__all__ = [
    "ADMINS",
    "COVER_FIRST",
    "LEGACY",
    "NOTHING_TO_BREAK",
    "STEPS",
    "WAVES",
    "MigrationPlan",
    "PlanStep",
    "PlanUser",
    "WaveSummary",
    "build_plan",
]
