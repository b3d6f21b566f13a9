"""Rules about administrators: app-password exposure, missing MFA methods, guests and stale accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from auditor.findings import Finding
from auditor.model.tenant import TenantModel
from auditor.rules.common import (
    NONE_RECORDED,
    ROLE_OPTIONAL,
    ROLE_SOURCES,
    admin_evidence,
    iso,
    mfa_enrolled,
    rows,
    user_finding,
)
from auditor.rules.registry import Case, RuleContext, rule
from auditor.testing import GA, HELPDESK, REPORTS_READER, Records, add_admin, ago, set_mfa, sign_in, user


def _admin_enforced_with_legacy(r: Records) -> None:
    set_mfa(r, "u-alice", "enforced")
    r["mfa_service_policy"]["allowAppPasswords"] = True
    r["sign_ins"] = [sign_in("u-alice", "alice@contoso.com", "Authenticated SMTP"),
                     sign_in("u-alice", "alice@contoso.com", "IMAP4", days=3)]


def _admin_enabled_unknown_setting(r: Records) -> None:
    set_mfa(r, "u-alice", "enabled")
    del r["mfa_service_policy"]


def _pim_eligible_admin(r: Records) -> None:
    r["users"].append(user("u-pim", "pim@contoso.com"))
    r["per_user_mfa"].append({"id": "u-pim", "perUserMfaState": "enforced"})
    r["role_eligibility"] = [{"id": "e1", "principalId": "u-pim", "roleDefinitionId": HELPDESK,
                              "directoryScopeId": "/", "memberType": "Direct"}]
    r["mfa_service_policy"]["allowAppPasswords"] = True


def _admin_enforced_app_passwords_disallowed(r: Records) -> None:
    set_mfa(r, "u-alice", "enforced")


def _group_held_admin(r: Records) -> None:
    r["users"].append(user("u-grp", "grp@contoso.com"))
    r["per_user_mfa"].append({"id": "u-grp", "perUserMfaState": "enabled"})
    r["registration_details"].append({"id": "u-grp", "isMfaRegistered": False})
    r["group_members"] = [{"id": "g-tier0", "displayName": "Tier0 Admins",
                           "members": [{"@odata.type": "#microsoft.graph.user", "id": "u-grp"}]}]
    r["role_assignments"].append({"id": "ra-g", "principalId": "g-tier0", "roleDefinitionId": GA,
                                  "directoryScopeId": "/",
                                  "principal": {"@odata.type": "#microsoft.graph.group", "id": "g-tier0"}})


def _admin_without_mfa(r: Records) -> None:
    r["registration_details"][0]["isMfaRegistered"] = False
    r["registration_details"][1]["isMfaRegistered"] = False


def _admin_missing_from_registration_report(r: Records) -> None:
    r["registration_details"] = [d for d in r["registration_details"] if d["id"] != "u-alice"]


def _guest_and_stale(r: Records) -> None:
    add_admin(r, "u-guest", "ext_partner.com#EXT#@contoso.onmicrosoft.com", role=REPORTS_READER, user_type="Guest")
    add_admin(r, "u-stale", "old@contoso.com", role=HELPDESK, last_days=120)
    add_admin(r, "u-never", "never@contoso.com", role=HELPDESK, last_days=None)
    add_admin(r, "u-recent", "recent@contoso.com", role=HELPDESK, last_days=89)
    add_admin(r, "u-disabled", "disabled-admin@contoso.com", role=HELPDESK, last_days=400, enabled=False)


def _guest_without_role(r: Records) -> None:
    r["users"].append(user("u-guest", "ann_partner.com#EXT#@contoso.onmicrosoft.com", user_type="Guest"))


def _admin_active_89_days_ago(r: Records) -> None:
    add_admin(r, "u-recent", "recent@contoso.com", role=HELPDESK, last_days=89)


def _disabled_privileged_admin_with_per_user_mfa(r: Records) -> None:
    add_admin(r, "u-old", "old-admin@contoso.com", enabled=False)
    set_mfa(r, "u-old", "enforced")
    r["mfa_service_policy"]["allowAppPasswords"] = True


def _stale_admin_with_failed_attempts(r: Records) -> None:
    r["users"][0]["signInActivity"].update(lastSignInDateTime=ago(1), lastSuccessfulSignInDateTime=ago(120))


ADMIN_ENFORCED_WITH_LEGACY = Case(
    "admin enforced + legacy sign-ins is critical observed", _admin_enforced_with_legacy, {
        ("admin-app-passwords", "alice@contoso.com"): "critical",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("tenant-app-passwords-allowed", "Contoso"): "medium",
        ("legacy-auth-sign-ins", "alice@contoso.com"): "high",
    })
ADMIN_ENABLED_UNKNOWN_SETTING = Case(
    "admin enabled with unknown setting is high possible", _admin_enabled_unknown_setting, {
        ("admin-app-passwords", "alice@contoso.com"): "high",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    })
PIM_ELIGIBLE_ADMIN = Case("PIM-eligible role makes an admin", _pim_eligible_admin, {
    ("admin-app-passwords", "pim@contoso.com"): "high",
    ("daily-account-per-user-mfa", "pim@contoso.com"): "medium",
    ("per-user-mfa-legacy-config", "Contoso"): "low",
    ("tenant-app-passwords-allowed", "Contoso"): "medium",
})
APP_PASSWORDS_DISALLOWED = Case(
    "an admin with per-user MFA cannot create app passwords the tenant disallows",
    _admin_enforced_app_passwords_disallowed, {
        ("daily-account-per-user-mfa", "alice@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    })
GROUP_HELD_ADMIN = Case("group-held role makes an admin", _group_held_admin, {
    ("daily-account-per-user-mfa", "grp@contoso.com"): "low",
    ("per-user-mfa-legacy-config", "Contoso"): "low",
    ("admin-no-mfa-method", "grp@contoso.com"): "critical",
})
ADMIN_WITHOUT_MFA = Case("admin without MFA method", _admin_without_mfa, {
    ("admin-no-mfa-method", "alice@contoso.com"): "critical",
})
ADMIN_MISSING_FROM_REGISTRATION_REPORT = Case(
    "an admin missing from the registration report is unknown, not flagged",
    _admin_missing_from_registration_report, {})
GUEST_AND_STALE = Case("guest admin and stale admins", _guest_and_stale, {
    ("guest-admin", "ext_partner.com#EXT#@contoso.onmicrosoft.com"): "high",
    ("stale-admin", "old@contoso.com"): "medium",
    ("stale-admin", "never@contoso.com"): "medium",
})
GUEST_WITHOUT_ROLE = Case("a guest without a directory role is not a guest admin", _guest_without_role, {})
ADMIN_ACTIVE_89_DAYS_AGO = Case("an admin who signed in 89 days ago is not stale", _admin_active_89_days_ago, {})
STALE_ADMIN_WITH_FAILED_ATTEMPTS = Case(
    "failed sign-in attempts do not make an admin active", _stale_admin_with_failed_attempts, {
        ("stale-admin", "alice@contoso.com"): "medium",
    })
DISABLED_ADMIN_WITH_PER_USER_MFA = Case(
    "a disabled admin does not escalate tenant-app-passwords-allowed", _disabled_privileged_admin_with_per_user_mfa, {
        ("tenant-app-passwords-allowed", "Contoso"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    })


@rule(
    id="admin-app-passwords",
    order=10,
    title="Admin can create app passwords that bypass MFA",
    severity="high",
    escalation="critical when legacy sign-ins by that admin succeeded in the window",
    needs=(*ROLE_SOURCES, "per_user_mfa"),
    optional_needs=(*ROLE_OPTIONAL, "legacy_mfa_settings", "sign_ins"),
    headline="app-passwords",
    sheet="Admin app passwords",
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
    cases=(
        ADMIN_ENFORCED_WITH_LEGACY,
        ADMIN_ENABLED_UNKNOWN_SETTING,
        PIM_ELIGIBLE_ADMIN,
        APP_PASSWORDS_DISALLOWED,
        DISABLED_ADMIN_WITH_PER_USER_MFA,
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
    id="admin-no-mfa-method",
    order=170,
    title="Admin has no MFA method registered",
    severity="critical",
    needs=(*ROLE_SOURCES, "registration_details"),
    optional_needs=ROLE_OPTIONAL,
    rationale="An admin without a registered MFA method can be taken over with a password alone.",
    remediation=(
        "Have the admin register a phishing-resistant method (FIDO2 key, Windows Hello, passkey) now, or issue a "
        "Temporary Access Pass to bootstrap it; block the account until then."
    ),
    cases=(ADMIN_WITHOUT_MFA, GROUP_HELD_ADMIN, ADMIN_MISSING_FROM_REGISTRATION_REPORT),
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
    id="guest-admin",
    order=190,
    title="Guest holds a directory role",
    severity="high",
    needs=ROLE_SOURCES,
    optional_needs=ROLE_OPTIONAL,
    rationale="A guest's credentials and MFA are governed by another organisation.",
    remediation="Remove the role from the guest, or create a member account governed by your own policies.",
    cases=(GUEST_AND_STALE, GUEST_WITHOUT_ROLE),
)
def guest_admin(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Users with ``userType`` Guest holding any directory role (active or eligible)."""
    users = model.users
    for row in rows(users[users["is_guest"] & users["is_admin"]]):
        yield user_finding(ctx, row, {**admin_evidence(row), "user_type": row.user_type})


@rule(
    id="stale-admin",
    order=200,
    title="Admin has not signed in for a long time",
    severity="medium",
    needs=(*ROLE_SOURCES, "sign_in_activity"),
    optional_needs=ROLE_OPTIONAL,
    params={"max_days": 90},
    rationale="Unused privileged accounts are attack surface nobody watches.",
    remediation="Remove the role (or make it PIM-eligible), or disable the account if it is no longer needed.",
    cases=(STALE_ADMIN_WITH_FAILED_ATTEMPTS, GUEST_AND_STALE, ADMIN_ACTIVE_89_DAYS_AGO),
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
