"""Rules about per-user MFA and the legacy MFA service settings (app passwords, remember MFA)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from auditor.findings import Finding
from auditor.model.ca_semantics import LEGACY_TYPES
from auditor.model.tenant import TenantModel
from auditor.rules.admins import APP_PASSWORDS_DISALLOWED, DISABLED_ADMIN_WITH_PER_USER_MFA
from auditor.rules.common import (
    ROLE_SOURCES,
    cover_by_ca_first,
    mfa_admin,
    mfa_covered,
    mfa_enrolled,
    tenant_finding,
    user_finding,
    with_coverage,
)
from auditor.rules.registry import Case, NotAssessed, RuleContext, rule
from auditor.testing import Records, set_mfa, user


def _service_account_enforced(r: Records) -> None:
    set_mfa(r, "u-svc", "enforced")


def _carol(r: Records, registered: bool | None = True) -> None:
    r["users"].append(user("u-carol", "carol@contoso.com"))
    r["per_user_mfa"].append({"id": "u-carol", "perUserMfaState": "enabled"})
    if registered is not None:
        r["registration_details"].append(
            {
                "id": "u-carol",
                "isMfaRegistered": registered,
                "methodsRegistered": ["microsoftAuthenticatorPush"] if registered else [],
            }
        )


def _daily_enabled_without_method(r: Records) -> None:
    _carol(r, registered=False)


def _daily_enabled_without_method_legacy_open(r: Records) -> None:
    _carol(r, registered=False)
    r["conditional_access"][1]["conditions"]["users"]["excludeUsers"] = ["u-carol"]


def _daily_enabled_registration_unknown(r: Records) -> None:
    _carol(r, registered=None)
    del r["registration_details"]


def _daily_enforced_not_covered(r: Records) -> None:
    set_mfa(r, "u-bob", "enforced")
    r["conditional_access"][0]["conditions"]["users"]["excludeUsers"] = ["u-bob"]


def _daily_enabled_and_enforced(r: Records) -> None:
    set_mfa(r, "u-bob", "enforced")
    _carol(r)
    r["users"].append(user("u-dis", "gone@contoso.com", enabled=False))
    r["per_user_mfa"].append({"id": "u-dis", "perUserMfaState": "enforced"})


def _security_defaults_with_per_user(r: Records) -> None:
    r["security_defaults"]["isEnabled"] = True
    r["conditional_access"] = []
    set_mfa(r, "u-svc", "enforced")


def _per_user_mfa_without_modern_mfa(r: Records) -> None:
    r["conditional_access"] = []
    set_mfa(r, "u-svc", "enforced")


def _remember(days: int) -> Callable[[Records], None]:
    def mutate(r: Records) -> None:
        r["mfa_service_policy"]["rememberMfaOnTrustedDevice"] = {"isEnabled": True, "allowedNumberOfDays": days}

    return mutate


SERVICE_ACCOUNT_ENFORCED = Case(
    "service account with enforced MFA is not a daily account",
    _service_account_enforced,
    {
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
DAILY_ENABLED_AND_ENFORCED = Case(
    "daily accounts: enforced medium, enabled with a method low, disabled account ignored",
    _daily_enabled_and_enforced,
    {
        ("daily-account-per-user-mfa", "bob@contoso.com"): "medium",
        ("daily-account-per-user-mfa", "carol@contoso.com"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
DAILY_ENABLED_WITHOUT_METHOD = Case(
    "enabled per-user MFA without a registered method, legacy auth blocked: medium",
    _daily_enabled_without_method,
    {
        ("daily-account-per-user-mfa", "carol@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
DAILY_ENABLED_WITHOUT_METHOD_LEGACY_OPEN = Case(
    "enabled per-user MFA without a method while legacy auth is open for the user: high",
    _daily_enabled_without_method_legacy_open,
    {
        ("daily-account-per-user-mfa", "carol@contoso.com"): "high",
        ("legacy-auth-block-excluded", "carol@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
DAILY_ENABLED_REGISTRATION_UNKNOWN = Case(
    "enabled per-user MFA with registration details unavailable: medium, mfa_registered unknown",
    _daily_enabled_registration_unknown,
    {
        ("daily-account-per-user-mfa", "carol@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
DAILY_ENFORCED_NOT_COVERED = Case(
    "a daily account on per-user MFA excluded from the CA baseline: fix coverage first",
    _daily_enforced_not_covered,
    {
        ("daily-account-per-user-mfa", "bob@contoso.com"): "medium",
        ("per-user-mfa-migration-gap", "bob@contoso.com"): "medium",
        ("ca-mfa-excluded", "bob@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
SECURITY_DEFAULTS_WITH_PER_USER = Case(
    "security defaults count as modern MFA",
    _security_defaults_with_per_user,
    {
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
PER_USER_MFA_WITHOUT_MODERN_MFA = Case(
    "per-user MFA is not a leftover when nothing else requires MFA",
    _per_user_mfa_without_modern_mfa,
    {
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("mfa-no-baseline", "Contoso"): "critical",
        ("legacy-auth-not-blocked", "Contoso"): "high",
        ("per-user-mfa-migration-gap", "svc-backup@contoso.com"): "medium",
    },
)
REMEMBER_LONG = Case("remember MFA 14 days", _remember(14), {("remember-mfa-long", "Contoso"): "low"})
REMEMBER_SHORT = Case("remember MFA 7 days is fine", _remember(7), {})


PER_USER_ADVICE = (
    "Require MFA with a Conditional Access policy and set the user's per-user MFA state to disabled. If a legacy "
    "application needs basic authentication, give it a separate least-privilege service account instead of the "
    "person's daily account."
)


def _legacy_blocked(model: TenantModel, cov: Any) -> bool:
    return bool(model.security_defaults_enabled) or set(LEGACY_TYPES) <= set(cov.legacy_blocked_types)


@rule(
    id="daily-account-per-user-mfa",
    order=20,
    title="Daily account has per-user MFA",
    severity="medium",
    escalation="medium for enforced; for enabled: medium without a registered method (high when legacy auth is not "
    "blocked for the user), low with one, medium when registration is unknown",
    needs=("users", "per_user_mfa"),
    optional_needs=("registration_details", "conditional_access", "security_defaults", "group_members"),
    headline="per-user-mfa",
    sheet="Daily per-user MFA",
    rationale=(
        "Per-user MFA overrides Conditional Access and security defaults: it forces MFA on every sign-in "
        "regardless of location or device and unlocks app passwords, which bypass MFA entirely. In state enabled "
        "without a registered method, legacy protocols still accept the bare password and whoever holds it can "
        "register their own method (Microsoft's per-user MFA state table)."
    ),
    remediation=PER_USER_ADVICE,
    cases=(
        DAILY_ENABLED_AND_ENFORCED,
        DAILY_ENABLED_WITHOUT_METHOD,
        DAILY_ENABLED_WITHOUT_METHOD_LEGACY_OPEN,
        DAILY_ENABLED_REGISTRATION_UNKNOWN,
        DAILY_ENFORCED_NOT_COVERED,
        SERVICE_ACCOUNT_ENFORCED,
    ),
)
def daily_account_per_user_mfa(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Daily accounts (enabled, Member — or guests when configured — and not a service, emergency access or directory
    sync account) whose per-user MFA state is ``enforced`` (medium) or ``enabled``: medium without a registered MFA
    method (high when neither security defaults nor a CA legacy block covers both legacy client types for the user),
    low with one, medium with ``mfa_registered: unknown`` when registration details are not available (Microsoft
    Learn per-user MFA states; CIS 5.1.2.1). When no CA baseline or security defaults cover the user, the remediation
    says to fix that first: switching per-user MFA off would leave them with no MFA."""
    users = model.users
    for row, cov in with_coverage(model, users["is_daily"] & mfa_enrolled(users)):
        registered = row.mfa_registered if "registration_details" in model.available else None
        blocked = _legacy_blocked(model, cov)
        if row.per_user_mfa == "enforced" or registered is None:
            severity = "medium"
        elif registered:
            severity = "low"
        else:
            severity = "medium" if blocked else "high"
        covered = mfa_covered(model, cov)
        evidence = {
            "per_user_mfa": row.per_user_mfa,
            "classification": "daily account",
            "service_account_signal": None,
            "admin": bool(row.counts_as_admin),
            "mfa_registered": "unknown" if registered is None else bool(registered),
            "legacy_auth_blocked": blocked,
            "covered_by_ca_mfa": covered,
        }
        remediation = None
        if not covered:
            remediation = cover_by_ca_first("the user", "their", PER_USER_ADVICE)
        yield user_finding(ctx, row, evidence, severity, remediation)


@rule(
    id="per-user-mfa-legacy-config",
    order=140,
    title="Per-user MFA still in use next to modern MFA",
    severity="low",
    needs=("per_user_mfa", "security_defaults", "conditional_access"),
    rationale=(
        "When security defaults or Conditional Access already require MFA, per-user MFA is a second MFA system "
        "with its own rules: two places to reason about, and app passwords stay possible."
    ),
    remediation="Finish the move to Conditional Access: set every user's per-user MFA state to disabled.",
    cases=(SECURITY_DEFAULTS_WITH_PER_USER, PER_USER_MFA_WITHOUT_MODERN_MFA),
)
def per_user_mfa_legacy_config(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """One tenant finding when security defaults are on or an in-force MFA baseline exists (see the CA semantics),
    and users still carry per-user MFA ``enabled``/``enforced`` (CIS 5.1.2.1). Evidence counts users by state."""
    mfa_policies = list(model.baselines.mfa_baselines)
    if not (model.security_defaults_enabled or mfa_policies):
        return
    counts = model.users["per_user_mfa"].value_counts()
    enabled, enforced = int(counts.get("enabled", 0)), int(counts.get("enforced", 0))
    if enabled + enforced == 0:
        return
    yield tenant_finding(
        ctx,
        model,
        {
            "users_enabled": enabled,
            "users_enforced": enforced,
            "modern_mfa": "security defaults" if model.security_defaults_enabled else "conditional access",
            "mfa_policies": mfa_policies[:10],
        },
    )


@rule(
    id="tenant-app-passwords-allowed",
    order=150,
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
    cases=(DISABLED_ADMIN_WITH_PER_USER_MFA, APP_PASSWORDS_DISALLOWED),
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
    enrolled = users["privileged_admin"] & mfa_admin(users) & users["enabled"] & mfa_enrolled(users)
    known = {"per_user_mfa", *ROLE_SOURCES} <= model.available
    admins = int(enrolled.sum()) if known else None
    yield tenant_finding(
        ctx,
        model,
        {
            "allow_app_passwords": True,
            "source": model.legacy_mfa.origin,
            "privileged_admins_with_per_user_mfa": admins if admins is not None else "unknown",
        },
        "medium" if admins else None,
    )


@rule(
    id="remember-mfa-long",
    order=160,
    title="Remember MFA on trusted devices is too long",
    severity="low",
    needs=("legacy_mfa_settings",),
    params={"max_days": 7},
    rationale="A long remember-MFA period lets a stolen session or device skip MFA for weeks.",
    remediation=(
        "Turn off 'remember multi-factor authentication on trusted devices' in the legacy MFA service settings "
        "and control re-authentication with Conditional Access sign-in frequency instead."
    ),
    cases=(REMEMBER_LONG, REMEMBER_SHORT),
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
