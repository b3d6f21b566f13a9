"""``build_plan``: the per-user MFA → Conditional Access migration plan of one tenant, from the ``TenantModel``.

For every user whose per-user MFA state is ``enabled`` or ``enforced``:

* **covered** — security defaults are on, or an in-force MFA policy for All resources includes and does not
  exclude them (``model.coverage``; rules.md "Coverage"). An eligible role holder excluded *on activation* is not
  covered: while active they would have no MFA. Without Conditional Access data (and security defaults off)
  coverage is unknown and counts as not covered: a missing source never looks like a pass.
* **what breaks** — successful legacy-protocol sign-ins in the window, by protocol: those clients use app passwords
  (or the bare password), which stop working once per-user MFA is off and app passwords are revoked.
  Without sign-in logs legacy use is unknown and the user is treated as having some.

Waves (``auditor.plan.model``): 0 cover first (not covered, whatever else applies); otherwise 3 when legacy
sign-ins were seen or are unknown, else 2 for admins (users the MFA rules treat as admins), else 1. The steps
follow Microsoft Learn, "Convert users from per-user MFA to Conditional Access based MFA"
(https://learn.microsoft.com/entra/identity/authentication/howto-mfa-getstarted#convert-users-from-per-user-mfa-to-conditional-access-based-mfa):
enable Conditional Access for the users, *then* disable per-user MFA; and the per-user MFA states
(https://learn.microsoft.com/entra/identity/authentication/howto-mfa-userstates): ``enabled`` still accepts the
password on legacy protocols. App passwords keep working until revoked (rules.md ``admin-app-passwords``), so the
last step requires the user to re-register their methods, which removes them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pandas as pd

from auditor.gcpause import gc_paused
from auditor.model.tenant import TenantModel
from auditor.plan.model import (
    ADMINS,
    COVER_FIRST,
    LEGACY,
    NOTHING_TO_BREAK,
    WAVES,
    MigrationPlan,
    PlanStep,
    PlanUser,
    WaveSummary,
)

NEEDS = ("users", "per_user_mfa")
OPTIONAL = ("conditional_access", "security_defaults", "sign_ins", "registration_details", "cas_mailboxes")
#: registration-detail methods that are a phone (SMS / voice); e-mail and security questions are not MFA methods
PHONE_METHODS = frozenset({"mobilePhone", "alternateMobilePhone", "officePhone"})
NOT_MFA = frozenset({"email", "securityQuestion"})


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _flag(row: dict[str, Any], key: str) -> bool:
    """A boolean column's value (numpy or Python bool; None / NaN is False)."""
    value = row.get(key)
    return value is not None and not (isinstance(value, float) and value != value) and bool(value)


USER_COLUMNS = (
    "id",
    "upn",
    "display_name",
    "per_user_mfa",
    "enabled",
    "is_guest",
    "is_service_account",
    "is_emergency_access",
    "is_sync_account",
    "is_admin",
    "counts_as_admin",
    "privileged_admin",
    "admin_roles",
    "methods",
    "mfa_registered",
)
COVERAGE_COLUMNS = ("mfa_covered", "mfa_covered_by", "mfa_exclusion", "mfa_excluded_by")


def _records(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts of the given (present) columns: ``tolist`` per column, far faster than
    ``to_dict('records')`` on wide frames with date columns."""
    present = [c for c in columns if c in frame.columns]
    return [
        dict(zip(present, values, strict=True)) for values in zip(*(frame[c].tolist() for c in present), strict=True)
    ]


def _classification(row: dict[str, Any], admin: bool) -> str:
    """'admin', 'daily account', 'service account', 'emergency access', ... (rules.md "Classifications");
    a disabled account is named as such, an admin that is also something else is both."""
    if not _flag(row, "enabled"):
        base = "disabled account"
    elif _flag(row, "is_emergency_access"):
        base = "emergency access"
    elif _flag(row, "is_sync_account") and not admin:
        base = "directory sync account"
    elif _flag(row, "is_service_account"):
        base = "service account"
    elif _flag(row, "is_guest"):
        base = "guest"
    else:
        return "admin" if admin else "daily account"
    return f"{base}, admin" if admin else base


def _coverage(model: TenantModel, cov: dict[str, Any] | None) -> tuple[bool | None, list[str], list[str]]:
    """(covered, covered by, why not) for one user."""
    if model.security_defaults_enabled:
        return True, ["security defaults"], []
    if "conditional_access" not in model.available:
        reason = model.source_reasons.get("conditional_access", "not collected")
        return None, [], [f"Conditional Access policies were not collected ({reason})"]
    cov = cov or {}
    covered_by = _list(cov.get("mfa_covered_by"))
    if cov.get("mfa_covered") and cov.get("mfa_exclusion") is None:
        return True, covered_by, []
    why = [
        f"excluded from '{e.get('policy')}' {e.get('how') or ''}".rstrip()
        + (" (on role activation)" if e.get("applies") == "on activation" else "")
        for e in _list(cov.get("mfa_excluded_by"))
    ]
    if not why:
        if model.baselines.mfa_all_resources:
            why.append(
                "not included by any in-force MFA policy for All resources ("
                + ", ".join(model.baselines.mfa_all_resources)
                + ")"
            )
        else:
            why.append("no in-force Conditional Access policy requires MFA for All resources")
        named = set(model.baselines.mfa_all_resources)
        why += [
            f"'{n['policy']}' does not count: {', '.join(n['reasons'])}"
            for n in model.baselines.not_counted
            if n["grant"] != "block" and n["policy"] not in named
        ]
    if model.security_defaults_enabled is False:
        why.append("security defaults are off")
    return False, covered_by, why


def _legacy_by_user(model: TenantModel, ids: set[str]) -> dict[str, dict[str, int]]:
    """User id → {protocol: successful legacy sign-ins} for the users in ``ids``."""
    events = model.legacy_sign_in_events
    out: dict[str, dict[str, int]] = defaultdict(dict)
    if events is None or events.empty:
        return out
    good = events[events["ok"] & events["user_id"].isin(ids)]
    for (uid, app), n in Counter(zip(good["user_id"].tolist(), good["app"].tolist(), strict=True)).items():
        out[str(uid)][str(app)] = int(n)
    return out


def _mailbox_protocols(model: TenantModel, ids: set[str]) -> dict[str, list[str]]:
    """User id → the legacy protocols (IMAP, POP, effective SMTP AUTH) on for their mailbox, for ``ids``."""
    boxes = model.mailboxes
    out: dict[str, list[str]] = {}
    if boxes is None or boxes.empty:
        return out
    for r in _records(boxes[boxes["user_id"].isin(ids)], ("user_id", "imap", "pop", "smtp_auth_enabled")):
        if not r.get("user_id"):
            continue
        on = [name for name, key in (("IMAP", "imap"), ("POP", "pop")) if r.get(key) is True]
        if r.get("smtp_auth_enabled") is True:
            on.append("SMTP AUTH")
        out[str(r["user_id"])] = on
    return out


def _steps(
    covered: bool | None,
    why: list[str],
    protocols: dict[str, int],
    legacy_known: bool,
    ips: list[str],
    classification: str,
) -> list[PlanStep]:
    steps = []
    if not covered:
        steps.append(
            PlanStep(
                "cover",
                "Cover by Conditional Access first (" + "; ".join(why) + "): include the user in an in-force policy "
                "requiring MFA for All resources (or turn on security defaults) and check the sign-in logs show it "
                "applied.",
            )
        )
    if not legacy_known:
        steps.append(
            PlanStep(
                "legacy_app",
                "Sign-in logs were not collected: check for legacy-protocol sign-ins first; any such client needs "
                "modern authentication or a separate least-privilege service account before app passwords go.",
            )
        )
    elif protocols:
        where = f" from {', '.join(ips)}" if ips else ""
        target = (
            "pin this service account to its egress IP with a Conditional Access block everywhere else"
            if classification.startswith("service account")
            else "a separate least-privilege service account pinned to its egress IP"
        )
        steps.append(
            PlanStep(
                "legacy_app",
                f"Move the app using {', '.join(sorted(protocols))}{where} to modern authentication, or {target}.",
            )
        )
    steps.append(PlanStep("per_user_mfa_off", "Set the user's per-user MFA state to disabled."))
    steps.append(
        PlanStep(
            "revoke_app_passwords",
            "Revoke the user's app passwords: require re-registration of MFA methods (app passwords keep working "
            "until removed, even when the tenant disallows new ones).",
        )
    )
    return steps


def _notes(methods: list[str], registered: bool | None, phone_only: bool, classification: str) -> list[str]:
    notes = []
    if registered is False or (registered is None and not methods):
        notes.append("no MFA method registered: secure the registration (Temporary Access Pass) before the move")
    if phone_only:
        notes.append(
            "phone methods only (SMS/voice): an authentication strength stricter than MFA will not accept them"
        )
    if classification == "emergency access":
        notes.append("emergency access account: cover it with its own policy requiring a phishing-resistant method")
    return notes


def _wave(covered: bool | None, legacy: bool, admin: bool) -> tuple[int, int]:
    then = LEGACY if legacy else ADMINS if admin else NOTHING_TO_BREAK
    return (then if covered else COVER_FIRST), then


def _user(
    model: TenantModel,
    row: dict[str, Any],
    cov: dict[str, Any] | None,
    protocols: dict[str, int],
    summary: dict[str, Any] | None,
    mailbox: list[str],
    legacy_known: bool,
    admin_column: str,
) -> PlanUser:
    admin = _flag(row, admin_column)
    classification = _classification(row, admin)
    covered, covered_by, why = _coverage(model, cov)
    methods = [str(m) for m in _list(row.get("methods"))]
    mfa_methods = [m for m in methods if m not in NOT_MFA]
    phone_only = bool(mfa_methods) and set(mfa_methods) <= PHONE_METHODS
    registered = row.get("mfa_registered") if isinstance(row.get("mfa_registered"), bool) else None
    count = sum(protocols.values()) if legacy_known else None
    ips = [str(i) for i in _list((summary or {}).get("ip_addresses"))]
    last = (summary or {}).get("last")
    wave, then = _wave(covered, (count or 0) > 0 or not legacy_known, admin)
    return PlanUser(
        user_id=str(row["id"]),
        upn=str(row.get("upn") or ""),
        display_name=str(row.get("display_name") or ""),
        per_user_mfa=str(row["per_user_mfa"]),
        classification=classification,
        enabled=_flag(row, "enabled"),
        admin=admin,
        privileged_admin=_flag(row, "privileged_admin"),
        roles=[str(r) for r in _list(row.get("admin_roles"))],
        covered=covered,
        covered_by=covered_by,
        not_covered_because=why,
        methods=methods,
        mfa_registered=registered,
        phone_only=phone_only,
        legacy_sign_ins=count,
        legacy_protocols=dict(sorted(protocols.items())),
        legacy_last=last.isoformat() if isinstance(last, pd.Timestamp) and not pd.isna(last) else None,
        legacy_ips=ips,
        mailbox_protocols=mailbox,
        wave=wave,
        then_wave=then,
        steps=_steps(covered, why, protocols, legacy_known, ips, classification),
        notes=_notes(methods, registered, phone_only, classification),
    )


def not_assessed(model: TenantModel, missing: list[str]) -> MigrationPlan:
    reason = "; ".join(f"{s}: {model.source_reasons.get(s, 'not collected')}" for s in missing)
    return MigrationPlan(
        status="not_assessed",
        reason=reason,
        security_defaults=model.security_defaults_enabled,
        mfa_baselines=list(model.baselines.mfa_baselines),
        sign_ins_collected="sign_ins" in model.available,
        window_days=model.window_days,
        waves=[WaveSummary(w, t, d, 0, 0, 0) for w, (t, d) in WAVES.items()],
        users=[],
        sources=[*NEEDS, *OPTIONAL],
    )


def build_plan(model: TenantModel) -> MigrationPlan:
    """The migration plan of ``model``'s tenant (``not_assessed`` without users or per-user MFA states)."""
    with gc_paused():  # many small objects next to the model's large heap; none of them forms a cycle
        return _build(model)


def _build(model: TenantModel) -> MigrationPlan:
    missing = [s for s in NEEDS if s not in model.available]
    if missing:
        return not_assessed(model, missing)
    # Only the per-user-MFA users are read row by row (a large tenant has few of them among many users).
    positions = model.users["per_user_mfa"].isin(["enabled", "enforced"]).to_numpy().nonzero()[0]
    users = _records(model.users.iloc[positions], USER_COLUMNS)
    coverage = (
        _records(model.coverage.iloc[positions], COVERAGE_COLUMNS) if not model.coverage.empty else [None] * len(users)
    )
    ids = {str(u["id"]) for u in users}
    legacy_known = "sign_ins" in model.available
    legacy = _legacy_by_user(model, ids)
    sign_ins = model.legacy_sign_ins
    summary = (
        {
            str(r["user_id"]): r
            for r in _records(sign_ins[sign_ins["user_id"].isin(ids)], ("user_id", "last", "ip_addresses"))
        }
        if not sign_ins.empty
        else {}
    )
    boxes = _mailbox_protocols(model, ids)
    admin_column = "counts_as_admin" if "counts_as_admin" in model.users.columns else "is_admin"
    chosen: list[PlanUser] = []
    for row, cov in zip(users, coverage, strict=True):
        uid = str(row["id"])
        protocols = legacy.get(uid, {})
        chosen.append(
            _user(model, row, cov, protocols, summary.get(uid), boxes.get(uid, []), legacy_known, admin_column)
        )
    chosen.sort(key=lambda u: (u.wave, u.then_wave, u.upn.lower(), u.user_id))
    return MigrationPlan(
        status="assessed",
        reason=None,
        security_defaults=model.security_defaults_enabled,
        mfa_baselines=list(model.baselines.mfa_baselines),
        sign_ins_collected=legacy_known,
        window_days=model.window_days,
        waves=[
            WaveSummary(
                w,
                t,
                d,
                sum(1 for u in chosen if u.wave == w),
                sum(1 for u in chosen if u.wave == w and u.admin),
                sum(1 for u in chosen if u.wave == w and (u.legacy_sign_ins or 0) > 0),
            )
            for w, (t, d) in WAVES.items()
        ],
        users=chosen,
        sources=[*NEEDS, *OPTIONAL],
    )
