"""Rules about per-user MFA, app passwords and the legacy MFA service settings."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from auditor.findings import Finding
from auditor.model.tenant import TenantModel
from auditor.rules.common import admin_evidence, iso, mfa_enrolled, rows, tenant_finding, user_finding
from auditor.rules.registry import NotAssessed, RuleContext, rule

ROLE_SOURCES = ("users", "role_definitions", "role_assignments")
#: Graph does not back-fill sign-in dates before this date, so "never" cannot be known
NONE_RECORDED = "none recorded since 2023-12-01"
ROLE_OPTIONAL = ("role_eligibility", "group_members")


@rule(
    id="admin-app-passwords",
    title="Admin can create app passwords that bypass MFA",
    severity="high",
    escalation="critical when legacy sign-ins by that admin succeeded in the window",
    needs=(*ROLE_SOURCES, "per_user_mfa"),
    optional_needs=(*ROLE_OPTIONAL, "legacy_mfa_settings", "sign_ins"),
    headline=True,
    rationale=(
        "App passwords exist only for accounts with per-user MFA enabled or enforced. They are long-lived "
        "passwords for legacy protocols that skip MFA and Conditional Access, so an admin holding one is a "
        "privileged credential with no second factor. No API lists a user's app passwords: this rule reports "
        "the exposure the settings allow and, where legacy sign-ins succeeded, that it is being used."
    ),
    remediation=(
        "Move the admin from per-user MFA to Conditional Access MFA (set per-user MFA to disabled), revoke "
        "existing app passwords (Security info → delete, or require re-registration), and disallow app "
        "passwords in the legacy MFA service settings. Give legacy applications a separate least-privilege "
        "service account pinned to its egress IP."
    ),
)
def admin_app_passwords(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled admins whose per-user MFA state is enabled/enforced while the tenant allows app passwords
    (or the setting is unknown). Critical with ``confidence: observed`` when the admin had successful
    legacy-protocol sign-ins in the window; otherwise ``possible``. It cannot see app passwords themselves."""
    setting = model.legacy_mfa.allow_app_passwords if "legacy_mfa_settings" in model.available else None
    if setting is False:
        return
    users = model.users
    hits = users[users["is_admin"] & users["enabled"] & mfa_enrolled(users)]
    sign_ins_known = "sign_ins" in model.available
    legacy = model.legacy_sign_ins.set_index("user_id") if sign_ins_known else None
    for row in rows(hits):
        evidence = {
            **admin_evidence(row),
            "per_user_mfa": row.per_user_mfa,
            "tenant_setting": "allowed" if setting else "unknown",
        }
        observed = False
        if legacy is None:
            evidence["legacy_sign_ins"] = "not collected"
        elif row.id in legacy.index:
            s = legacy.loc[row.id]
            observed = int(s["count"]) > 0
            evidence.update(legacy_sign_ins=int(s["count"]), last_legacy_sign_in=iso(s["last"]),
                            legacy_protocols=list(s["protocols"]))
        else:
            evidence["legacy_sign_ins"] = 0
        evidence["confidence"] = "observed" if observed else "possible"
        yield user_finding(ctx, row, evidence, "critical" if observed else None)


@rule(
    id="daily-account-per-user-mfa",
    title="Daily account has per-user MFA",
    severity="medium",
    escalation="medium for enforced, low for enabled",
    needs=("users", "per_user_mfa"),
    headline=True,
    rationale=(
        "Per-user MFA overrides Conditional Access and security defaults: it forces MFA on every sign-in "
        "regardless of location or device and unlocks app passwords, which bypass MFA entirely."
    ),
    remediation=(
        "Require MFA with a Conditional Access policy and set the user's per-user MFA state to disabled. If a "
        "legacy application needs basic authentication, give it a separate least-privilege service account "
        "instead of the person's daily account."
    ),
)
def daily_account_per_user_mfa(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Daily accounts (enabled, Member — or guests when configured — and no service-account signal) whose
    per-user MFA state is ``enforced`` (medium) or ``enabled`` (low)."""
    users = model.users
    hits = users[users["is_daily"] & mfa_enrolled(users)]
    for row in rows(hits):
        yield user_finding(
            ctx, row,
            {"per_user_mfa": row.per_user_mfa, "classification": "daily account",
             "service_account_signal": None, "admin": bool(row.is_admin)},
            "medium" if row.per_user_mfa == "enforced" else "low",
        )


@rule(
    id="per-user-mfa-legacy-config",
    title="Per-user MFA still in use next to modern MFA",
    severity="low",
    needs=("per_user_mfa", "security_defaults", "conditional_access"),
    rationale=(
        "When security defaults or Conditional Access already require MFA, per-user MFA is a second MFA system "
        "with its own rules: two places to reason about, and app passwords stay possible."
    ),
    remediation="Finish the move to Conditional Access: set every user's per-user MFA state to disabled.",
)
def per_user_mfa_legacy_config(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """One tenant finding when security defaults are on or an enabled CA policy requires MFA, and users
    still carry per-user MFA ``enabled``/``enforced``. Evidence counts users by state."""
    ca = model.ca_policies
    mfa_policies = ca[(ca["state"] == "enabled") & ca["requires_mfa"]]["name"].tolist()
    if not (model.security_defaults_enabled or mfa_policies):
        return
    counts = model.users["per_user_mfa"].value_counts()
    enabled, enforced = int(counts.get("enabled", 0)), int(counts.get("enforced", 0))
    if enabled + enforced == 0:
        return
    yield tenant_finding(ctx, model, {
        "users_enabled": enabled, "users_enforced": enforced,
        "modern_mfa": "security defaults" if model.security_defaults_enabled else "conditional access",
        "mfa_policies": mfa_policies[:10],
    })


@rule(
    id="tenant-app-passwords-allowed",
    title="Tenant allows app passwords",
    severity="low",
    escalation="medium when a privileged admin has per-user MFA",
    needs=("legacy_mfa_settings",),
    optional_needs=("per_user_mfa", *ROLE_SOURCES),
    rationale="App passwords bypass MFA and Conditional Access for legacy protocols.",
    remediation=(
        "In the legacy MFA service settings, select 'Do not allow users to create app passwords to sign in to "
        "non-browser apps'."
    ),
)
def tenant_app_passwords_allowed(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Fires when the legacy MFA service settings allow app passwords; medium when an enabled privileged
    admin has per-user MFA enabled/enforced (so could create one). Unknown setting → not assessed."""
    allowed = model.legacy_mfa.allow_app_passwords
    if allowed is None:
        raise NotAssessed("the legacy MFA service settings do not say whether app passwords are allowed")
    if not allowed:
        return
    users = model.users
    enrolled = users["privileged_admin"] & users["enabled"] & mfa_enrolled(users)
    known = {"per_user_mfa", *ROLE_SOURCES} <= model.available
    admins = int(enrolled.sum()) if known else None
    yield tenant_finding(
        ctx, model,
        {"allow_app_passwords": True, "source": model.legacy_mfa.origin,
         "privileged_admins_with_per_user_mfa": admins if admins is not None else "unknown"},
        "medium" if admins else None,
    )


@rule(
    id="remember-mfa-long",
    title="Remember MFA on trusted devices is too long",
    severity="low",
    needs=("legacy_mfa_settings",),
    params={"max_days": 7},
    rationale="A long remember-MFA period lets a stolen session or device skip MFA for weeks.",
    remediation=(
        "Turn off 'remember multi-factor authentication on trusted devices' in the legacy MFA service settings "
        "and control re-authentication with Conditional Access sign-in frequency instead."
    ),
)
def remember_mfa_long(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Remember-MFA is on with more than ``max_days`` days."""
    legacy = model.legacy_mfa
    if legacy.remember_mfa_enabled is None:
        raise NotAssessed("the legacy MFA service settings do not include remember-MFA")
    days = legacy.remember_mfa_days
    if legacy.remember_mfa_enabled and days is None:
        raise NotAssessed("remember-MFA is on but the legacy MFA service settings do not say for how many days")
    if legacy.remember_mfa_enabled and days > ctx.params["max_days"]:
        yield tenant_finding(ctx, model, {"remember_mfa_days": days, "max_days": ctx.params["max_days"]})


@rule(
    id="admin-no-mfa-method",
    title="Admin has no MFA method registered",
    severity="critical",
    needs=(*ROLE_SOURCES, "registration_details"),
    optional_needs=ROLE_OPTIONAL,
    rationale="An admin without a registered MFA method can be taken over with a password alone.",
    remediation=(
        "Have the admin register a phishing-resistant method (FIDO2 key, Windows Hello, passkey) now, or issue a "
        "Temporary Access Pass to bootstrap it; block the account until then."
    ),
)
def admin_no_mfa_method(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled admins whose registration details say ``isMfaRegistered`` false. Admins missing from the
    registration report are not flagged (unknown, not absent)."""
    users = model.users
    hits = users[users["is_admin"] & users["enabled"] & users["mfa_registered"].eq(False)]
    for row in rows(hits):
        yield user_finding(ctx, row, {**admin_evidence(row), "is_mfa_registered": False,
                                      "methods_registered": list(row.methods)})


@rule(
    id="stale-admin",
    title="Admin has not signed in for a long time",
    severity="medium",
    needs=(*ROLE_SOURCES, "sign_in_activity"),
    optional_needs=ROLE_OPTIONAL,
    params={"max_days": 90},
    rationale="Unused privileged accounts are attack surface nobody watches.",
    remediation="Remove the role (or make it PIM-eligible), or disable the account if it is no longer needed.",
)
def stale_admin(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled admins whose last successful sign-in (``lastSuccessfulSignInDateTime``; where Graph does not
    return it, the later of the last interactive and non-interactive sign-ins) is older than ``max_days``
    days before the snapshot was collected, or who never signed in. Failed attempts do not count as use:
    a later attempt is shown in the evidence."""
    users = model.users
    cutoff = pd.Timestamp(model.collected_at) - pd.Timedelta(days=ctx.params["max_days"])
    admins = users[users["is_admin"] & users["enabled"]]
    stale = admins[admins["last_sign_in"].isna() | (admins["last_sign_in"] < cutoff)]
    for row in rows(stale):
        last = iso(row.last_sign_in)
        evidence = {**admin_evidence(row), "last_sign_in": last or NONE_RECORDED, "max_days": ctx.params["max_days"]}
        attempt = row.last_sign_in_attempt
        if not pd.isna(attempt) and (pd.isna(row.last_sign_in) or attempt > row.last_sign_in):
            evidence["last_sign_in_attempt"] = iso(attempt)  # failed attempts since: worth a look
        yield user_finding(ctx, row, evidence)


@rule(
    id="guest-admin",
    title="Guest holds a directory role",
    severity="high",
    needs=ROLE_SOURCES,
    optional_needs=ROLE_OPTIONAL,
    rationale="A guest's credentials and MFA are governed by another organisation.",
    remediation="Remove the role from the guest, or create a member account governed by your own policies.",
)
def guest_admin(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Users with ``userType`` Guest holding any directory role (active or eligible)."""
    users = model.users
    for row in rows(users[users["is_guest"] & users["is_admin"]]):
        yield user_finding(ctx, row, {**admin_evidence(row), "user_type": row.user_type})
