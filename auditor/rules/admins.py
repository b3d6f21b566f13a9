"""Rules about administrators: app-password exposure, missing MFA methods, guests and stale accounts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding
from auditor.model.tenant import TenantModel
from auditor.rules.common import (
    NONE_RECORDED,
    ROLE_OPTIONAL,
    ROLE_SOURCES,
    admin_evidence,
    cover_by_ca_first,
    iso,
    legacy_mitigations,
    mfa_admin,
    mfa_covered,
    mfa_enrolled,
    rows,
    user_finding,
    with_coverage,
)
from auditor.rules.registry import Case, RuleContext, rule
from auditor.testing import GA, HELPDESK, REPORTS_READER, Records, add_admin, ago, set_mfa, sign_in, user


def _admin_enforced_with_legacy(r: Records) -> None:
    set_mfa(r, "u-alice", "enforced")
    r["mfa_service_policy"]["allowAppPasswords"] = True
    r["sign_ins"] = [
        sign_in("u-alice", "alice@contoso.com", "Authenticated SMTP"),
        sign_in("u-alice", "alice@contoso.com", "IMAP4", days=3),
    ]


def _admin_enabled_unknown_setting(r: Records) -> None:
    set_mfa(r, "u-alice", "enabled")
    del r["mfa_service_policy"]


def _pim_eligible_admin(r: Records) -> None:
    r["users"].append(user("u-pim", "pim@contoso.com"))
    r["per_user_mfa"].append({"id": "u-pim", "perUserMfaState": "enforced"})
    r["role_eligibility"] = [
        {
            "id": "e1",
            "principalId": "u-pim",
            "roleDefinitionId": HELPDESK,
            "directoryScopeId": "/",
            "memberType": "Direct",
        }
    ]
    r["mfa_service_policy"]["allowAppPasswords"] = True


def _admin_enforced_app_passwords_disallowed(r: Records) -> None:
    set_mfa(r, "u-alice", "enforced")


def _group_held_admin(r: Records) -> None:
    r["users"].append(user("u-grp", "grp@contoso.com"))
    r["per_user_mfa"].append({"id": "u-grp", "perUserMfaState": "enabled"})
    r["registration_details"].append({"id": "u-grp", "isMfaRegistered": False})
    r["group_members"] = [
        {
            "id": "g-tier0",
            "displayName": "Tier0 Admins",
            "members": [{"@odata.type": "#microsoft.graph.user", "id": "u-grp"}],
        }
    ]
    r["role_assignments"].append(
        {
            "id": "ra-g",
            "principalId": "g-tier0",
            "roleDefinitionId": GA,
            "directoryScopeId": "/",
            "principal": {"@odata.type": "#microsoft.graph.group", "id": "g-tier0"},
        }
    )


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


def _app_passwords_unmitigated(r: Records) -> None:
    set_mfa(r, "u-alice", "enforced")
    r["mfa_service_policy"]["allowAppPasswords"] = True
    del r["conditional_access"][1]  # the legacy block
    r["cas_mailboxes"][0]["SmtpClientAuthenticationDisabled"] = False


def _method_disabled_by_policy(r: Records) -> None:
    r["registration_details"][0].update(isMfaRegistered=True, isMfaCapable=False)


def _mfa_capable_admin(r: Records) -> None:
    r["registration_details"][0].update(isMfaRegistered=True, isMfaCapable=True)


def _non_privileged_admin_without_mfa(r: Records) -> None:
    add_admin(r, "u-reader", "reader@contoso.com", role=REPORTS_READER)
    r["registration_details"][-1].update(isMfaRegistered=False, isMfaCapable=False, methodsRegistered=[])


def _pim_for_groups(access: str) -> Any:
    def mutate(r: Records) -> None:
        r["users"].append(user("u-pg", "pg@contoso.com"))
        r["per_user_mfa"].append({"id": "u-pg", "perUserMfaState": "disabled"})
        r["registration_details"].append(
            {"id": "u-pg", "isMfaRegistered": False, "isMfaCapable": False, "methodsRegistered": []}
        )
        r["group_members"] = [{"id": "g-tier0", "displayName": "Tier0 Admins", "members": []}]
        r["role_assignments"].append(
            {
                "id": "ra-g",
                "principalId": "g-tier0",
                "roleDefinitionId": GA,
                "directoryScopeId": "/",
                "principal": {"@odata.type": "#microsoft.graph.group", "id": "g-tier0", "displayName": "Tier0 Admins"},
            }
        )
        r["pim_group_eligibility"] = [
            {"id": "ge-1", "groupId": "g-tier0", "principalId": "u-pg", "accessId": access, "memberType": "direct"}
        ]

    return mutate


def _guest_admins(r: Records) -> None:
    add_admin(r, "u-guest", "ext_partner.com#EXT#@contoso.onmicrosoft.com", role=REPORTS_READER, user_type="Guest")
    add_admin(
        r,
        "u-gone",
        "gone_partner.com#EXT#@contoso.onmicrosoft.com",
        role=REPORTS_READER,
        user_type="Guest",
        enabled=False,
    )
    add_admin(r, "u-b2bm", "joe_partner.com#EXT#@contoso.onmicrosoft.com", role=REPORTS_READER)


def _stale_eligible_and_emergency(r: Records) -> None:
    r["users"].append(user("u-elig", "eligible@contoso.com", last_days=200))
    r["per_user_mfa"].append({"id": "u-elig", "perUserMfaState": "disabled"})
    r["registration_details"].append(
        {"id": "u-elig", "isMfaRegistered": True, "methodsRegistered": ["fido2SecurityKey"]}
    )
    r["role_eligibility"] = [
        {
            "id": "e1",
            "principalId": "u-elig",
            "roleDefinitionId": HELPDESK,
            "directoryScopeId": "/",
            "memberType": "Direct",
        }
    ]
    add_admin(r, "u-bg1", "bg-01@contoso.com", last_days=200)


ADMIN_ENFORCED_WITH_LEGACY = Case(
    "admin enforced + legacy sign-ins is critical observed",
    _admin_enforced_with_legacy,
    {
        ("admin-app-passwords", "alice@contoso.com"): "critical",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("tenant-app-passwords-allowed", "Contoso"): "medium",
        ("legacy-auth-sign-ins", "alice@contoso.com"): "high",
    },
)
ADMIN_ENABLED_UNKNOWN_SETTING = Case(
    "admin enabled with unknown setting, mitigated by the CA legacy block: medium",
    _admin_enabled_unknown_setting,
    {
        ("admin-app-passwords", "alice@contoso.com"): "medium",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)


def _app_passwords_basic_smtp_blocked_by_org_policy(r: Records) -> None:
    _app_passwords_unmitigated(r)
    r["authentication_policies"].append({"Name": "Block Basic", "AllowBasicAuthSmtp": False})
    r["organization_config"].update(DefaultAuthenticationPolicy="Block Basic")


APP_PASSWORDS_BASIC_SMTP_BLOCKED_BY_ORG_POLICY = Case(
    "admin app passwords allowed, no legacy block, but the org default authentication policy blocks Basic SMTP: medium",
    _app_passwords_basic_smtp_blocked_by_org_policy,
    {
        ("admin-app-passwords", "alice@contoso.com"): "medium",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("tenant-app-passwords-allowed", "Contoso"): "medium",
        ("legacy-auth-not-blocked", "Contoso"): "high",
        ("smtp-auth-mailbox-enabled", "alice@contoso.com"): "low",
    },
)
APP_PASSWORDS_UNMITIGATED = Case(
    "admin app passwords allowed, no legacy block, SMTP AUTH on for the mailbox: high",
    _app_passwords_unmitigated,
    {
        ("admin-app-passwords", "alice@contoso.com"): "high",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("tenant-app-passwords-allowed", "Contoso"): "medium",
        ("legacy-auth-not-blocked", "Contoso"): "high",
        ("smtp-auth-mailbox-enabled", "alice@contoso.com"): "high",
    },
)
PIM_ELIGIBLE_ADMIN = Case(
    "PIM-eligible role makes an admin",
    _pim_eligible_admin,
    {
        ("admin-app-passwords", "pim@contoso.com"): "medium",
        ("daily-account-per-user-mfa", "pim@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("tenant-app-passwords-allowed", "Contoso"): "medium",
    },
)
APP_PASSWORDS_DISALLOWED = Case(
    "disallowing app passwords does not remove existing ones: still fires, low",
    _admin_enforced_app_passwords_disallowed,
    {
        ("admin-app-passwords", "alice@contoso.com"): "low",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
GROUP_HELD_ADMIN = Case(
    "group-held role makes an admin",
    _group_held_admin,
    {
        ("admin-no-phishing-resistant-mfa", "grp@contoso.com"): "medium",
        ("admin-app-passwords", "grp@contoso.com"): "low",
        ("daily-account-per-user-mfa", "grp@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("admin-no-mfa-method", "grp@contoso.com"): "critical",
    },
)
ADMIN_WITHOUT_MFA = Case(
    "admin without MFA method (isMfaRegistered when isMfaCapable is absent)",
    _admin_without_mfa,
    {
        ("admin-no-mfa-method", "alice@contoso.com"): "critical",
    },
)
METHOD_DISABLED_BY_POLICY = Case(
    "an admin whose registered method the methods policy disables is not MFA-capable",
    _method_disabled_by_policy,
    {
        ("admin-no-mfa-method", "alice@contoso.com"): "critical",
    },
)
MFA_CAPABLE_ADMIN = Case("an MFA-capable admin", _mfa_capable_admin, {})
NON_PRIVILEGED_ADMIN_WITHOUT_MFA = Case(
    "a non-privileged admin without an MFA method: high",
    _non_privileged_admin_without_mfa,
    {
        ("admin-no-mfa-method", "reader@contoso.com"): "high",
    },
)
PIM_FOR_GROUPS_ELIGIBLE_MEMBER = Case(
    "a PIM-for-Groups eligible member of a role-assignable group is an admin",
    _pim_for_groups("member"),
    {
        ("admin-no-phishing-resistant-mfa", "pg@contoso.com"): "medium",
        ("admin-no-mfa-method", "pg@contoso.com"): "critical",
    },
)
PIM_FOR_GROUPS_ELIGIBLE_OWNER = Case(
    "a PIM-for-Groups eligible owner holds none of the group's roles", _pim_for_groups("owner"), {}
)
ADMIN_MISSING_FROM_REGISTRATION_REPORT = Case(
    "an admin missing from the registration report is unknown, not flagged", _admin_missing_from_registration_report, {}
)
GUEST_AND_STALE = Case(
    "guest admin and stale admins",
    _guest_and_stale,
    {
        ("guest-admin", "ext_partner.com#EXT#@contoso.onmicrosoft.com"): "high",
        ("stale-admin", "old@contoso.com"): "medium",
        ("stale-admin", "never@contoso.com"): "medium",
    },
)
GUEST_ADMINS = Case(
    "guest admins: enabled high, disabled medium, B2B collaboration member high",
    _guest_admins,
    {
        ("guest-admin", "ext_partner.com#EXT#@contoso.onmicrosoft.com"): "high",
        ("guest-admin", "gone_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("guest-admin", "joe_partner.com#EXT#@contoso.onmicrosoft.com"): "high",
    },
)
GUEST_WITHOUT_ROLE = Case("a guest without a directory role is not a guest admin", _guest_without_role, {})
ADMIN_ACTIVE_89_DAYS_AGO = Case("an admin who signed in 89 days ago is not stale", _admin_active_89_days_ago, {})
STALE_ADMIN_WITH_FAILED_ATTEMPTS = Case(
    "failed sign-in attempts do not make an admin active",
    _stale_admin_with_failed_attempts,
    {
        ("stale-admin", "alice@contoso.com"): "medium",
    },
)
STALE_ELIGIBLE_AND_EMERGENCY = Case(
    "a stale eligible admin fires; a configured emergency account that rarely signs in does not",
    _stale_eligible_and_emergency,
    {("emergency-access-weak", "Contoso"): "high", ("stale-admin", "eligible@contoso.com"): "medium"},
    config={"classification": {"emergency_access": ["bg-01@contoso.com"]}},
)
DISABLED_ADMIN_WITH_PER_USER_MFA = Case(
    "a disabled admin does not escalate tenant-app-passwords-allowed",
    _disabled_privileged_admin_with_per_user_mfa,
    {
        ("tenant-app-passwords-allowed", "Contoso"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)

APP_PW_ADVICE = (
    "Move the admin from per-user MFA to Conditional Access MFA (set per-user MFA to disabled), revoke existing app "
    "passwords (Security info → delete, or require re-registration), and disallow app passwords in the legacy MFA "
    "service settings. Give legacy applications a separate least-privilege service account pinned to its egress IP."
)


def _app_password_mitigations(model: TenantModel, row: Any, cov: Any, boxes: dict[str, Any]) -> list[str]:
    """What stops an app password from being used: Exchange Online accepts Basic auth only on SMTP AUTH since the
    other protocols' Basic auth was retired in 2022, so a legacy block covering the admin, security defaults, or the
    admin's effective SMTP AUTH off (or no mailbox at all), or an Exchange authentication policy applying to the admin
    (theirs, else the org default) that sets ``AllowBasicAuthSmtp`` false leaves it nothing to sign in to."""
    out = legacy_mitigations(model, cov)
    if "cas_mailboxes" in model.available:
        box = boxes.get(row.id)
        if box is None:
            out.append("no Exchange Online mailbox (SMTP AUTH needs one)")
        elif box.smtp_auth_enabled is False:
            out.append("SMTP AUTH off for the admin's mailbox")
    auth = model.exchange_auth
    if auth.smtp_basic_blocked(row.id):
        out.append(f"Exchange authentication policy {auth.policy_for(row.id)} (AllowBasicAuthSmtp false)")
    return out


@rule(
    id="admin-app-passwords",
    order=10,
    title="Admin can create app passwords that bypass MFA",
    severity="high",
    escalation="critical when legacy sign-ins by that admin succeeded in the window; medium when something already "
    "blocks the app password (mitigated_by); low when the tenant now disallows app passwords",
    needs=(*ROLE_SOURCES, "per_user_mfa"),
    optional_needs=(
        *ROLE_OPTIONAL,
        "legacy_mfa_settings",
        "sign_ins",
        "conditional_access",
        "cas_mailboxes",
        "authentication_policies",
        "organization_config",
        "exchange_users",
    ),
    headline="app-passwords",
    sheet="Admin app passwords",
    rationale=(
        "App passwords exist only for accounts with per-user MFA enabled or enforced. They are long-lived "
        "passwords for legacy protocols that skip MFA and Conditional Access, so an admin holding one is a "
        "privileged credential with no second factor. Disallowing app passwords later does not remove existing "
        "ones (Microsoft: they keep working). No API lists a user's app passwords: this rule reports the exposure "
        "the settings allow and, where legacy sign-ins succeeded, that it is being used."
    ),
    remediation=APP_PW_ADVICE,
    cases=(
        ADMIN_ENFORCED_WITH_LEGACY,
        APP_PASSWORDS_UNMITIGATED,
        APP_PASSWORDS_BASIC_SMTP_BLOCKED_BY_ORG_POLICY,
        ADMIN_ENABLED_UNKNOWN_SETTING,
        PIM_ELIGIBLE_ADMIN,
        APP_PASSWORDS_DISALLOWED,
        GROUP_HELD_ADMIN,
        DISABLED_ADMIN_WITH_PER_USER_MFA,
    ),
)
def admin_app_passwords(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled admins (directory sync accounts holding nothing else aside) whose per-user MFA state is
    ``enabled``/``enforced`` — the only states in which app passwords can be created (Microsoft Learn "app
    passwords"). Critical with ``confidence: observed`` when the admin had successful legacy-protocol sign-ins in the
    window; otherwise ``possible`` and high, medium when ``mitigated_by`` names what blocks the app password (a CA
    legacy block covering the admin, security defaults, the admin's effective SMTP AUTH off, an Exchange authentication
    policy blocking Basic SMTP), low when the tenant now
    disallows app passwords (existing ones keep working, so the rule still fires). It cannot see app passwords."""
    setting = model.legacy_mfa.allow_app_passwords if "legacy_mfa_settings" in model.available else None
    users = model.users
    mask = mfa_admin(users) & users["enabled"] & mfa_enrolled(users)
    sign_ins_known = "sign_ins" in model.available
    legacy = model.legacy_sign_ins.set_index("user_id") if sign_ins_known else None
    mailboxes = model.mailboxes
    if not mailboxes.empty:  # only the admins' mailboxes are looked up
        mailboxes = mailboxes[mailboxes["user_id"].isin(set(users["id"][mask].tolist()))]
    boxes = {b.user_id: b for b in rows(mailboxes) if b.user_id}
    for row, cov in with_coverage(model, mask):
        mitigated_by = _app_password_mitigations(model, row, cov, boxes)
        evidence = {
            **admin_evidence(row),
            "per_user_mfa": row.per_user_mfa,
            "tenant_setting": "unknown" if setting is None else "allowed" if setting else "disallowed",
        }
        observed = False
        if legacy is None:
            evidence["legacy_sign_ins"] = "not collected"
        elif row.id in legacy.index:
            s = legacy.loc[row.id]
            observed = int(s["count"]) > 0
            evidence.update(
                legacy_sign_ins=int(s["count"]),
                last_legacy_sign_in=iso(s["last"]),
                legacy_protocols=list(s["protocols"]),
            )
        else:
            evidence["legacy_sign_ins"] = 0
        evidence["confidence"] = "observed" if observed else "possible"
        evidence["mitigated_by"] = mitigated_by
        severity = "critical" if observed else "low" if setting is False else "medium" if mitigated_by else None
        remediation = None
        if not mfa_covered(model, cov):
            evidence["covered_by_ca_mfa"] = False
            remediation = cover_by_ca_first("the admin", "this admin's", APP_PW_ADVICE)
        yield user_finding(ctx, row, evidence, severity, remediation)


@rule(
    id="admin-no-mfa-method",
    order=170,
    title="Admin is not MFA-capable",
    severity="critical",
    escalation="critical for privileged roles, high for other roles",
    needs=(*ROLE_SOURCES, "registration_details"),
    optional_needs=ROLE_OPTIONAL,
    rationale="An admin without a usable MFA method (registered and allowed by the authentication methods policy) "
    "can be taken over with a password alone, or is locked out the day MFA is required.",
    remediation=(
        "Have the admin register a phishing-resistant method (FIDO2 key, Windows Hello, passkey) that the "
        "authentication methods policy allows, or issue a Temporary Access Pass to bootstrap it; block the account "
        "until then."
    ),
    cases=(
        ADMIN_WITHOUT_MFA,
        METHOD_DISABLED_BY_POLICY,
        NON_PRIVILEGED_ADMIN_WITHOUT_MFA,
        GROUP_HELD_ADMIN,
        PIM_FOR_GROUPS_ELIGIBLE_MEMBER,
        MFA_CAPABLE_ADMIN,
        PIM_FOR_GROUPS_ELIGIBLE_OWNER,
        ADMIN_MISSING_FROM_REGISTRATION_REPORT,
    ),
)
def admin_no_mfa_method(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled admins (active, PIM-eligible, through a group or as PIM-for-Groups eligible members; directory sync
    accounts holding nothing else aside) whose registration details say ``isMfaCapable`` false — registered *and*
    allowed by the methods policy (userRegistrationDetails; CIS 5.2.3.4) — falling back to ``isMfaRegistered`` when
    the report has no ``isMfaCapable``. Critical for privileged roles, high for others. Admins missing from the
    registration report are not flagged (unknown, not absent)."""
    users = model.users
    capable = users["mfa_capable"].where(users["mfa_capable"].notna(), users["mfa_registered"])
    hits = users[mfa_admin(users) & users["enabled"] & capable.eq(False)]
    for row in rows(hits):
        yield user_finding(
            ctx,
            row,
            {
                **admin_evidence(row),
                "is_mfa_capable": row.mfa_capable if row.mfa_capable is not None else "not reported",
                "is_mfa_registered": row.mfa_registered,
                "methods_registered": list(row.methods),
                "read": "isMfaCapable"
                if row.mfa_capable is not None
                else "isMfaRegistered (isMfaCapable not reported)",
            },
            None if row.privileged_admin else "high",
        )


@rule(
    id="guest-admin",
    order=190,
    title="Guest holds a directory role",
    severity="high",
    escalation="medium when the account is disabled",
    needs=ROLE_SOURCES,
    optional_needs=ROLE_OPTIONAL,
    rationale="A guest's credentials and MFA are governed by another organisation.",
    remediation="Remove the role from the guest, or create a member account governed by your own policies.",
    cases=(GUEST_AND_STALE, GUEST_ADMINS, GUEST_WITHOUT_ROLE),
)
def guest_admin(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Guests (``userType`` Guest) and external B2B collaboration *members* (``#EXT#`` in the UPN) holding any
    directory role, active or eligible (SCuBA MS.AAD.7.3v1, Maester MT.1025). Medium when the account is disabled:
    the role is dormant until someone enables it."""
    users = model.users
    external = users["is_guest"] | users["guest_kind"].eq("b2bCollaborationMember")
    for row in rows(users[external & users["is_admin"]]):
        remediation = (
            None
            if row.enabled
            else (
                "Remove the role from the disabled guest account (or delete the "
                "account): enabling it again would restore the privilege."
            )
        )
        yield user_finding(
            ctx,
            row,
            {
                **admin_evidence(row),
                "user_type": row.user_type,
                "guest_kind": row.guest_kind,
                "account_enabled": bool(row.enabled),
            },
            None if row.enabled else "medium",
            remediation,
        )


def _stale_remediation(row: Any) -> str:
    kinds = list(row.role_assignment_kinds)
    if kinds and not any(k.startswith("active") for k in kinds):
        return (
            "Remove the eligible role assignment: it has not been used in this period. Disable the account if "
            "it is no longer needed."
        )
    return (
        "Make the active role assignment eligible through PIM (activation on demand), or remove it if the role "
        "is no longer needed; disable the account if it is not used at all."
    )


@rule(
    id="stale-admin",
    order=200,
    title="Admin has not signed in for a long time",
    severity="medium",
    needs=(*ROLE_SOURCES, "sign_in_activity"),
    optional_needs=ROLE_OPTIONAL,
    params={"max_days": 90},
    rationale="Unused privileged accounts are attack surface nobody watches.",
    remediation="Remove the role (or make an active role PIM-eligible), or disable the account if it is no longer "
    "needed.",
    cases=(STALE_ADMIN_WITH_FAILED_ATTEMPTS, GUEST_AND_STALE, STALE_ELIGIBLE_AND_EMERGENCY, ADMIN_ACTIVE_89_DAYS_AGO),
)
def stale_admin(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled admins whose last successful sign-in (``lastSuccessfulSignInDateTime``; where Graph does not
    return it, the later of the last interactive and non-interactive sign-ins) is older than ``max_days``
    days before the snapshot was collected, or who never signed in (Maester MT.1029). Failed attempts do not count
    as use: a later attempt is shown in the evidence. Emergency access accounts are meant to stay unused and never
    fire. The remediation fits the assignment: remove an eligible role never used, make an active role eligible."""
    users = model.users
    cutoff = pd.Timestamp(model.collected_at) - pd.Timedelta(days=ctx.params["max_days"])
    admins = users[users["is_admin"] & users["enabled"] & ~users["is_emergency_access"]]
    stale = admins[admins["last_sign_in"].isna() | (admins["last_sign_in"] < cutoff)]
    for row in rows(stale):
        last = iso(row.last_sign_in)
        evidence = {**admin_evidence(row), "last_sign_in": last or NONE_RECORDED, "max_days": ctx.params["max_days"]}
        attempt = row.last_sign_in_attempt
        if not pd.isna(attempt) and (pd.isna(row.last_sign_in) or attempt > row.last_sign_in):
            evidence["last_sign_in_attempt"] = iso(attempt)  # failed attempts since: worth a look
        yield user_finding(ctx, row, evidence, None, _stale_remediation(row))
