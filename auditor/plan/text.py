"""The plan as terminal text (``entra-auditor plan``): every tenant string goes through ``auditor.terminal.clean``."""

from __future__ import annotations

from auditor.plan.model import COVER_FIRST, MigrationPlan
from auditor.terminal import clean

ORDER = (
    "Per user: cover by Conditional Access -> move legacy apps to modern auth (or a separate least-privilege "
    "service account pinned to its egress IP) -> per-user MFA off -> revoke app passwords."
)


def plan_lines(plan: MigrationPlan, tenant: str, *, limit: int = 50) -> list[str]:
    """Header, one block per wave (counts, then up to ``limit`` users with their next action)."""
    lines = [f"{clean(tenant)}: per-user MFA -> Conditional Access migration plan"]
    if plan.status != "assessed":
        return [*lines, f"  not assessed: {clean(plan.reason or 'data unavailable', 200)}"]
    if not plan.users:
        return [*lines, "  no user has per-user MFA enabled or enforced: nothing to migrate"]
    lines.append(f"  {plan.total} user(s) with per-user MFA enabled/enforced. {ORDER}")
    if not plan.sign_ins_collected:
        lines.append("  sign-in logs not collected: legacy use unknown, nobody is shown as safe (wave 1)")
    for wave in plan.waves:
        lines.append("")
        lines.append(
            f"Wave {wave.wave} - {wave.title}: {wave.count} user(s), {wave.admins} admin(s), "
            f"{wave.with_legacy_sign_ins} with legacy sign-ins"
        )
        members = plan.in_wave(wave.wave)
        for user in members[:limit]:
            then = f" (then wave {user.then_wave})" if wave.wave == COVER_FIRST else ""
            roles = f" [{clean(', '.join(user.roles), 60)}]" if user.roles else ""
            legacy = (
                "legacy: unknown"
                if user.legacy_sign_ins is None
                else "legacy: " + (", ".join(f"{p} x{n}" for p, n in user.legacy_protocols.items()) or "none")
            )
            lines.append(
                f"  {clean(user.upn or user.user_id, 60)} {user.per_user_mfa}, {clean(user.classification)}"
                f"{roles}{then}; {clean(legacy, 80)}"
            )
            if wave.wave == COVER_FIRST and user.not_covered_because:
                lines.append(
                    f"      next: cover by Conditional Access first ({clean(user.not_covered_because[0], 140)})"
                )
            else:
                lines.append(f"      next: {clean(user.next_action, 200)}")
        if len(members) > limit:
            lines.append(f"  ... {len(members) - limit} more (see the workbook's Migration plan sheet)")
    return lines
