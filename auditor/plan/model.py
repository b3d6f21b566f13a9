"""The migration plan's values: plain dataclasses (no pandas), ready for every renderer and ``findings.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Wave 0 is not a wave: users no in-force MFA baseline (nor security defaults) covers today must be covered
#: before their per-user MFA can go, whatever else applies to them (Microsoft: "enable Conditional Access for all
#: users and then manually disable per-user multifactor authentication").
COVER_FIRST = 0
NOTHING_TO_BREAK = 1
ADMINS = 2
LEGACY = 3

WAVES: dict[int, tuple[str, str]] = {
    COVER_FIRST: (
        "Cover by Conditional Access first",
        "No in-force MFA baseline or security defaults covers them today: switching per-user MFA off now would "
        "leave them with no MFA. Cover them, then they join the wave shown as 'then'.",
    ),
    NOTHING_TO_BREAK: (
        "Nothing to break",
        "Covered today, not an admin, no legacy sign-in in the window: switch per-user MFA off and revoke app "
        "passwords.",
    ),
    ADMINS: (
        "Admins",
        "Covered today and no legacy sign-in in the window, but they hold a directory role: move them one at a "
        "time, after wave 1 has shown the Conditional Access policy prompts as expected.",
    ),
    LEGACY: (
        "Legacy sign-ins",
        "Legacy-protocol sign-ins succeeded in the window (or sign-in logs were not collected): those clients stop "
        "working when the app passwords go. Move each app to modern authentication or to a separate "
        "least-privilege service account first.",
    ),
}

#: The steps, in the order they must happen (Microsoft Learn, howto-mfa-getstarted: Conditional Access first,
#: then per-user MFA off); app passwords are revoked last because they keep working until removed.
STEPS = ("cover", "legacy_app", "per_user_mfa_off", "revoke_app_passwords")


@dataclass
class PlanStep:
    step: str  # one of STEPS
    action: str


@dataclass
class PlanUser:
    """One user with per-user MFA ``enabled``/``enforced``: what covers them, what would break, what to do next."""

    user_id: str
    upn: str
    display_name: str
    per_user_mfa: str
    classification: str
    enabled: bool
    admin: bool
    privileged_admin: bool
    roles: list[str]
    covered: bool | None  # None: Conditional Access was not collected and security defaults are off
    covered_by: list[str]
    not_covered_because: list[str]
    methods: list[str]
    mfa_registered: bool | None
    phone_only: bool
    legacy_sign_ins: int | None  # None: sign-in logs were not collected
    legacy_protocols: dict[str, int]  # protocol (clientAppUsed) → successful sign-ins in the window
    legacy_last: str | None
    legacy_ips: list[str]
    mailbox_protocols: list[str]  # IMAP / POP / SMTP AUTH enabled on the user's mailbox
    wave: int
    then_wave: int  # the wave the user joins once covered (equal to ``wave`` when covered)
    steps: list[PlanStep]
    notes: list[str] = field(default_factory=list)

    @property
    def next_action(self) -> str:
        return self.steps[0].action if self.steps else ""


@dataclass
class WaveSummary:
    wave: int
    title: str
    description: str
    count: int
    admins: int
    with_legacy_sign_ins: int


@dataclass
class MigrationPlan:
    """Every per-user-MFA user of one tenant, grouped into waves (``users`` sorted by wave, then UPN)."""

    status: str  # 'assessed' | 'not_assessed'
    reason: str | None
    security_defaults: bool | None
    mfa_baselines: list[str]
    sign_ins_collected: bool
    window_days: int
    waves: list[WaveSummary]
    users: list[PlanUser]
    sources: list[str]

    @property
    def total(self) -> int:
        return len(self.users)

    def in_wave(self, wave: int) -> list[PlanUser]:
        return [u for u in self.users if u.wave == wave]

    def to_dict(self) -> dict[str, Any]:
        """The ``migration_plan`` section of ``findings.json`` (JSON-ready)."""
        out = asdict(self)
        out["total"] = self.total
        for user, row in zip(self.users, out["users"], strict=True):
            row["next_action"] = user.next_action
        return out
