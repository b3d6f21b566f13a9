"""v2 rules about authentication methods and the settings around them: phone-only MFA, phishing-resistant MFA for
privileged roles, the authentication methods policy migration, federated users skipping MFA, and the directory
sync account.

Method classification is made once in ``auditor.model.auth_methods``; these rules read the users table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding, RollUp
from auditor.model.auth_methods import phishing_resistant, phone_only
from auditor.model.tenant import TenantModel
from auditor.rules.common import (
    ROLE_OPTIONAL,
    ROLE_SOURCES,
    admin_evidence,
    iso,
    mfa_admin,
    rows,
    tenant_finding,
    user_finding,
)
from auditor.rules.registry import Case, RuleContext, rule
from auditor.testing import GA, HELPDESK, Records, add_admin, ago, sign_in, user

SAMPLE = 20
DIRECTORY_SYNC = "d29b2b05-8046-44ba-8758-1e26182fcf32"
SYNC_UPN = "Sync_CONTOSO-DC1_1a2b3c@contoso.onmicrosoft.com"


def _methods(r: Records, uid: str, methods: list[str]) -> None:
    for d in r["registration_details"]:
        if d["id"] == uid:
            d["methodsRegistered"] = methods


def _admins_on_phone(r: Records) -> None:
    _methods(r, "u-alice", ["mobilePhone", "officePhone", "email"])
    add_admin(r, "u-reader", "reader@contoso.com", role="4a5d8f65-41da-4de4-8968-e035b65339cf")
    _methods(r, "u-reader", ["mobilePhone"])


def _admin_phone_and_app(r: Records) -> None:
    _methods(r, "u-alice", ["mobilePhone", "microsoftAuthenticatorPush"])


def _members_on_phone(r: Records) -> None:
    _methods(r, "u-bob", ["mobilePhone"])
    _methods(r, "u-svc", ["alternateMobilePhone", "securityQuestion"])
    r["users"].append(user("u-gone", "gone@contoso.com", enabled=False))
    r["registration_details"].append({"id": "u-gone", "isMfaRegistered": True, "methodsRegistered": ["mobilePhone"]})


def _migration(state: str | None) -> Any:
    def mutate(r: Records) -> None:
        r["auth_methods_policy"]["policyMigrationState"] = state

    return mutate


def _federated_skip(r: Records) -> None:
    r["mfa_service_policy"]["trustedIps"]["skipMfaForFederatedUsers"] = True


def _sync_account(also: str | None = None, interactive_days: float | None = None, legacy: bool = False) -> Any:
    def mutate(r: Records) -> None:
        r["role_definitions"].append(
            {
                "id": DIRECTORY_SYNC,
                "templateId": DIRECTORY_SYNC,
                "displayName": "Directory Synchronization Accounts",
                "isBuiltIn": True,
            }
        )
        add_admin(r, "u-sync", SYNC_UPN, role=DIRECTORY_SYNC, last_days=None)
        activity = {"lastNonInteractiveSignInDateTime": ago(0.1), "lastSuccessfulSignInDateTime": ago(0.1)}
        if interactive_days is not None:
            activity["lastSignInDateTime"] = ago(interactive_days)
        r["users"][-1]["signInActivity"] = activity
        for p in r["conditional_access"]:
            p["conditions"]["users"]["excludeUsers"] = ["u-sync"]
        if also:
            r["role_assignments"].append(
                {"id": "ra-sync-2", "principalId": "u-sync", "roleDefinitionId": also, "directoryScopeId": "/"}
            )
        if legacy:
            r["sign_ins"] = [sign_in("u-sync", SYNC_UPN, "Exchange ActiveSync", days=2)]

    return mutate


def _admin_without_phishing_resistant(r: Records) -> None:
    _methods(r, "u-alice", ["microsoftAuthenticatorPush"])
    add_admin(r, "u-help", "helpdesk@contoso.com", role=HELPDESK)
    r["conditional_access"][2]["conditions"]["users"]["excludeUsers"] = ["u-help"]


def _phishing_resistant_policy_report_only(r: Records) -> None:
    r["conditional_access"][2]["state"] = "enabledForReportingButNotEnforced"


ADMIN_WITHOUT_PHISHING_RESISTANT = Case(
    "a Global Administrator with only the Authenticator app, and a Helpdesk Administrator outside the "
    "phishing-resistant policy",
    _admin_without_phishing_resistant,
    {
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "helpdesk@contoso.com"): "medium",
    },
)
PHISHING_RESISTANT_POLICY_REPORT_ONLY = Case(
    "the phishing-resistant policy for admins is report-only: nothing requires it",
    _phishing_resistant_policy_report_only,
    {("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium"},
)
PHISHING_RESISTANT_POLICY_ADMIN_PORTALS_ONLY = Case(
    "the phishing-resistant policy for admins covers the Microsoft Admin Portals only: not counted (SCuBA "
    "MS.AAD.3.6v1, Maester and Microsoft's template target All resources)",
    lambda r: r["conditional_access"][2]["conditions"]["applications"].update(
        includeApplications=["MicrosoftAdminPortals"]
    ),
    {("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium"},
)
ADMIN_WITH_WINDOWS_HELLO = Case(
    "a Global Administrator with Windows Hello for Business (and a phone), required by the admin-portals policy",
    lambda r: _methods(r, "u-alice", ["windowsHelloForBusiness", "mobilePhone"]),
    {},
)
ADMINS_ON_PHONE = Case(
    "admins whose only MFA methods are SMS/voice: privileged high, other roles medium",
    _admins_on_phone,
    {
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("admin-phone-only-mfa", "alice@contoso.com"): "high",
        ("admin-phone-only-mfa", "reader@contoso.com"): "medium",
        ("users-phone-only-mfa", "Contoso"): "low",
    },
)
ADMIN_PHONE_AND_APP = Case(
    "an admin with a phone and the Authenticator app is not phone-only",
    _admin_phone_and_app,
    {
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
    },
)
MEMBERS_ON_PHONE = Case(
    "enabled members on SMS/voice only are counted once for the tenant (disabled accounts ignored)",
    _members_on_phone,
    {("users-phone-only-mfa", "Contoso"): "low"},
)
MIGRATION_IN_PROGRESS = Case(
    "authentication methods policy migration in progress",
    _migration("migrationInProgress"),
    {("auth-methods-migration-incomplete", "Contoso"): "low"},
)
MIGRATION_STATE_NULL = Case("a new tenant has no migration state: fine", _migration(None), {})
FEDERATED_SKIP_NOT_SAID = Case(
    "legacy MFA settings that do not say whether federated users skip MFA: no finding",
    lambda r: r["mfa_service_policy"]["trustedIps"].pop("skipMfaForFederatedUsers"),
    {},
)
FEDERATED_SKIP = Case(
    "the legacy MFA settings skip MFA for federated users on the intranet",
    _federated_skip,
    {("federated-mfa-bypass", "Contoso"): "medium"},
)
SYNC_ACCOUNT_QUIET = Case(
    "a sync account with only its sync role and non-interactive sign-ins is expected", _sync_account(), {}
)
SYNC_ACCOUNT_EXTRA_ROLE_AND_INTERACTIVE = Case(
    "a sync account that also holds Global Administrator and signed in interactively",
    _sync_account(also=GA, interactive_days=3),
    {
        ("admin-no-phishing-resistant-mfa", "Sync_CONTOSO-DC1_1a2b3c@contoso.onmicrosoft.com"): "medium",
        ("sync-account-risk", SYNC_UPN): "high",
        ("ca-mfa-excluded", SYNC_UPN): "high",
        ("legacy-auth-block-excluded", SYNC_UPN): "high",
    },
)
SYNC_ACCOUNT_INTERACTIVE_ONLY = Case(
    "a sync account with an interactive sign-in and a legacy sign-in in the window",
    _sync_account(interactive_days=5, legacy=True),
    {
        ("sync-account-risk", SYNC_UPN): "high",
        ("legacy-auth-sign-ins", SYNC_UPN): "high",
    },
)


def _phone_only_mask(users: pd.DataFrame) -> pd.Series:
    """``phone_only`` per user, decided once per distinct list of methods (most users share a handful)."""
    seen: dict[tuple[Any, ...], bool] = {}
    out = []
    for methods in users["methods"].tolist():
        key = tuple(methods)
        found = seen.get(key)
        if found is None:
            found = seen[key] = phone_only(methods)
        out.append(found)
    return pd.Series(out, index=users.index, dtype=bool)


@rule(
    id="admin-phone-only-mfa",
    order=260,
    title="Admin's only MFA methods are SMS or voice",
    severity="medium",
    escalation="high for privileged roles",
    needs=(*ROLE_SOURCES, "registration_details"),
    optional_needs=ROLE_OPTIONAL,
    rationale=(
        "SMS and voice calls are the weakest second factor (SIM swap, interception, real-time phishing), and "
        "Microsoft-provided SMS/voice delivery for Entra MFA ends on 2027-02-01."
    ),
    remediation=(
        "Have the administrator register a phishing-resistant method (passkey / FIDO2 key, Windows Hello for "
        "Business or certificate), then remove the phone methods and require a phishing-resistant authentication "
        "strength for admin roles."
    ),
    cases=(ADMINS_ON_PHONE, ADMIN_PHONE_AND_APP),
)
def admin_phone_only_mfa(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled admins (sync-only accounts aside) whose registered second factors (``methodsRegistered`` without
    e-mail, security questions and Temporary Access Pass) are only ``mobilePhone``, ``alternateMobilePhone`` or
    ``officePhone`` (SCuBA MS.AAD.3.5v2; CIS 5.2.3.5; Learn "Phone authentication methods" and the SMS/voice
    retirement page). Medium; high for privileged roles."""
    admins = model.users[model.users["enabled"] & mfa_admin(model.users)]
    for row in rows(admins[_phone_only_mask(admins)]):
        yield user_finding(
            ctx,
            row,
            {**admin_evidence(row), "methods": list(row.methods), "sms_voice_retirement": "2027-02-01"},
            "high" if row.privileged_admin else None,
        )


@rule(
    id="users-phone-only-mfa",
    order=270,
    title="Users whose only MFA methods are SMS or voice",
    severity="low",
    needs=("users", "registration_details"),
    params={"sample": SAMPLE},
    rationale="SMS and voice are the weakest second factor, and Microsoft-provided delivery ends on 2027-02-01: "
    "users registered with nothing else will have to register again.",
    remediation="Enable the Microsoft Authenticator app and passkeys in the authentication methods policy, run a "
    "registration campaign, then restrict SMS and voice.",
    cases=(MEMBERS_ON_PHONE, ADMIN_PHONE_AND_APP),
    rollup=RollUp(
        key="users",
        one="{n} user has only SMS or voice as a second factor",
        many="{n} users have only SMS or voice as a second factor",
        fix="one registration campaign for the Authenticator app or passkeys, then restrict SMS and voice",
    ),
)
def users_phone_only_mfa(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """One tenant finding: enabled members (``userType`` Member) whose registered second factors are only SMS/voice
    (SCuBA MS.AAD.3.5v2; Learn SMS/voice retirement). Evidence: ``users`` (how many) and a sample of ``sample`` UPNs."""
    users = model.users
    mask = users["enabled"] & (users["user_type"] == "Member") & _phone_only_mask(users)
    if not mask.any():
        return
    upns = sorted(str(u) for u in users.loc[mask, "upn"].tolist())
    yield tenant_finding(
        ctx,
        model,
        {"users": len(upns), "sample": upns[: ctx.params["sample"]], "sms_voice_retirement": "2027-02-01"},
    )


@rule(
    id="admin-no-phishing-resistant-mfa",
    order=275,
    title="Privileged admin without phishing-resistant MFA",
    severity="medium",
    needs=(*ROLE_SOURCES, "registration_details", "conditional_access"),
    optional_needs=(*ROLE_OPTIONAL, "authentication_strengths"),
    rationale=(
        "Push, OTP, SMS and voice can all be relayed by an adversary-in-the-middle phishing kit; only passkeys / "
        "FIDO2, Windows Hello for Business and certificates bind the sign-in to the real site. Privileged roles "
        "need them registered and required by policy."
    ),
    remediation=(
        "Register a passkey / FIDO2 key or Windows Hello for Business for the administrator, then require the "
        "built-in 'Phishing-resistant MFA' authentication strength for the privileged roles with an in-force "
        "Conditional Access policy (Microsoft's template 'Require phishing-resistant MFA for administrators')."
    ),
    cases=(
        ADMIN_WITHOUT_PHISHING_RESISTANT,
        PHISHING_RESISTANT_POLICY_REPORT_ONLY,
        PHISHING_RESISTANT_POLICY_ADMIN_PORTALS_ONLY,
        ADMIN_WITH_WINDOWS_HELLO,
    ),
)
def admin_no_phishing_resistant_mfa(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled holders of a privileged role (active or eligible; emergency access accounts are
    ``emergency-access-weak``'s, sync-only accounts are not admins) with no phishing-resistant method registered
    (passkey/FIDO2, Windows Hello for Business, macOS platform credential, certificate), or that no in-force policy for
    All resources requires the phishing-resistant authentication strength of — for an eligible holder, on activation
    (SCuBA MS.AAD.3.6v1 and Maester CISA.MS.AAD.3.6 count only All resources; CIS 5.2.2.5; Learn "Require
    phishing-resistant multifactor authentication for administrators" and "Authentication strengths"). A policy for
    the Microsoft Admin Portals alone does not count (the admin reaches Exchange, SharePoint and Graph with a weaker
    method): ``portals_only_policies`` names it. Evidence says which is missing; an admin absent from the
    registration report is judged on the policy alone."""
    users = model.users
    mask = users["enabled"] & users["privileged_admin"] & mfa_admin(users) & ~users["is_emergency_access"]
    for row in rows(users[mask]):
        methods = phishing_resistant(list(row.methods))
        policies = list(row.phishing_resistant_required_by)
        missing = []
        registration_known = row.mfa_registered is not None and not pd.isna(row.mfa_registered)
        if registration_known and not methods:
            missing.append("no phishing-resistant method registered")
        if not policies:
            missing.append("no in-force policy requires a phishing-resistant authentication strength")
        if not missing:
            continue
        evidence = {
            **admin_evidence(row),
            "missing": missing,
            "methods": list(row.methods) if registration_known else "unknown (not in the registration report)",
            "phishing_resistant_methods": methods,
            "required_by": policies,
            "phishing_resistant_policies_in_tenant": list(model.phishing_resistant_policies),
        }
        if not policies and model.portals_only_phishing_resistant:
            evidence["portals_only_policies"] = list(model.portals_only_phishing_resistant)
        yield user_finding(ctx, row, evidence)


@rule(
    id="auth-methods-migration-incomplete",
    order=280,
    title="Authentication methods policy migration not complete",
    severity="low",
    needs=("auth_methods_policy",),
    rationale=(
        "Since September 2025 the legacy MFA and SSPR policies no longer manage authentication methods; a tenant "
        "still in pre-migration or migration-in-progress has method settings nobody manages any more."
    ),
    remediation="Move the method settings of the legacy MFA and SSPR policies into the authentication methods "
    "policy, then set the migration state to Migration Complete.",
    cases=(MIGRATION_IN_PROGRESS, MIGRATION_STATE_NULL),
)
def auth_methods_migration_incomplete(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """``authenticationMethodsPolicy.policyMigrationState`` is ``preMigration`` or ``migrationInProgress``; null
    (a new tenant) or ``migrationComplete`` is fine (Learn "How to migrate to the Authentication methods policy";
    SCuBA MS.AAD.3.4v1; EIDSCA.AG01)."""
    state = model.auth_methods_migration_state
    if state in ("preMigration", "migrationInProgress"):
        yield tenant_finding(ctx, model, {"policy_migration_state": state})


@rule(
    id="federated-mfa-bypass",
    order=290,
    title="MFA skipped for federated users on the intranet",
    severity="medium",
    needs=("legacy_mfa_settings",),
    rationale=(
        "With 'skip MFA for requests from federated users on my intranet', a claim from the on-premises federation "
        "server makes the sign-in count as a trusted location — in the legacy MFA settings and in Conditional Access "
        "(AllTrusted) — so MFA is skipped on the federation server's word."
    ),
    remediation="Clear 'Skip multi-factor authentication for requests from federated users on my intranet' in the "
    "legacy MFA service settings; define trusted networks as IP named locations instead.",
    cases=(FEDERATED_SKIP, FEDERATED_SKIP_NOT_SAID),
)
def federated_mfa_bypass(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """``mfaServicePolicy.trustedIps.skipMfaForFederatedUsers`` is true (Learn "Configure Microsoft Entra
    multifactor authentication settings" — trusted IPs; "Network location condition": the ``insideCorporateNetwork``
    claim marks the sign-in as coming from a trusted location). Unknown → no finding."""
    legacy = model.legacy_mfa
    if legacy.skip_mfa_for_federated_users:
        yield tenant_finding(
            ctx,
            model,
            {
                "skip_mfa_for_federated_users": True,
                "source": legacy.origin,
                "mfa_baselines_exempting_all_trusted": list(model.baselines.mfa_exempts_all_trusted),
            },
        )


@rule(
    id="sync-account-risk",
    order=300,
    title="Directory sync account used beyond synchronisation",
    severity="high",
    needs=ROLE_SOURCES,
    optional_needs=(*ROLE_OPTIONAL, "sign_in_activity", "sign_ins"),
    params={"window_days": 30},
    rationale=(
        "The directory sync account is excluded from Conditional Access by design (Microsoft excludes it from "
        "security defaults; CIS names it as the exception). Another role on it, or an interactive sign-in, turns "
        "that expected exclusion into an unprotected admin or a stolen credential in use."
    ),
    remediation=(
        "Remove every role but Directory Synchronization Accounts from the account; if it signed in "
        "interactively, treat its password as compromised: reset it on the Entra Connect server and review the "
        "sign-ins."
    ),
    cases=(SYNC_ACCOUNT_QUIET, SYNC_ACCOUNT_EXTRA_ROLE_AND_INTERACTIVE, SYNC_ACCOUNT_INTERACTIVE_ONLY),
)
def sync_account_risk(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Directory sync accounts (holding *Directory Synchronization Accounts* or *On Premises Directory Sync
    Account*) that also hold another admin role, had an interactive sign-in (``signInActivity.lastSignInDateTime``,
    attempts included) in the last ``window_days``, or successful legacy-protocol sign-ins in the window (CIS 5.2.3.4
    note; Learn "Microsoft Entra Connect: Accounts and permissions"). Without sign-in data it is assessed on roles
    alone."""
    users = model.users
    since = pd.Timestamp(model.collected_at) - pd.Timedelta(days=ctx.params["window_days"])
    legacy = {s.user_id: s for s in rows(model.legacy_sign_ins)}
    for row in rows(users[users["is_sync_account"] & users["enabled"]]):
        other_roles = [r for r in row.admin_roles if r not in row.sync_roles]
        reasons = []
        if other_roles:
            reasons.append("holds another directory role")
        last = row.last_interactive
        interactive = last is not None and not pd.isna(last) and last >= since
        if interactive:
            reasons.append("signed in interactively")
        seen = legacy.get(row.id)
        if seen is not None and seen.count:
            reasons.append("legacy-protocol sign-ins")
        if not reasons:
            continue
        evidence: dict[str, Any] = {
            "sync_roles": list(row.sync_roles),
            "other_roles": other_roles,
            "why": reasons,
            "last_interactive_sign_in": iso(last) if interactive else None,
        }
        if seen is not None and seen.count:
            evidence.update(legacy_protocols=list(seen.protocols), legacy_sign_ins=int(seen.count))
        yield user_finding(ctx, row, evidence)
