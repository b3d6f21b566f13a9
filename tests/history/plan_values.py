"""Real ``MigrationPlan`` values for history and e-mail tests, without building a tenant model."""

from __future__ import annotations

from auditor.plan import ADMINS, WAVES, MigrationPlan, PlanUser, WaveSummary


def make_plan(*users: tuple[str, int], status: str = "assessed") -> MigrationPlan:
    """A plan with one user per (UPN, wave) on per-user MFA; each user id is the UPN's local part."""
    members = [
        PlanUser(
            user_id=upn.split("@")[0],
            upn=upn,
            display_name=upn,
            per_user_mfa="enforced",
            classification="member",
            enabled=True,
            admin=wave == ADMINS,
            privileged_admin=False,
            roles=[],
            covered=True,
            covered_by=["ca-mfa"],
            not_covered_because=[],
            methods=[],
            mfa_registered=True,
            phone_only=False,
            legacy_sign_ins=0,
            legacy_protocols={},
            legacy_last=None,
            legacy_ips=[],
            mailbox_protocols=[],
            wave=wave,
            then_wave=wave,
            steps=[],
        )
        for upn, wave in users
    ]
    assessed = status == "assessed"
    return MigrationPlan(
        status=status,
        reason=None if assessed else "per_user_mfa: 403 Forbidden",
        security_defaults=False,
        mfa_baselines=["ca-mfa"],
        sign_ins_collected=True,
        window_days=30,
        waves=[WaveSummary(w, t, d, sum(1 for _u, n in users if n == w), 0, 0) for w, (t, d) in WAVES.items()],
        users=members if assessed else [],
        sources=[],
    )
