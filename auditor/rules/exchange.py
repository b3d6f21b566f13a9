"""v2 rules about Exchange Online authentication settings: authentication policies that still allow Basic auth,
modern authentication switched off for Outlook, and shared mailboxes whose accounts can sign in.

The policy tables are built in ``auditor.model.exchange_auth`` and ``auditor.model.shared_mailboxes``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from auditor.findings import Finding
from auditor.model.tenant import TenantModel
from auditor.rules.common import rows, tenant_finding, upn_by_id
from auditor.rules.registry import Case, NotAssessed, RuleContext, rule
from auditor.testing import Records, user

MAX_NAMES = 20


def _auth_policy(name: str, **flags: bool) -> dict[str, Any]:
    base = {f"AllowBasicAuth{p}": False for p in ("Smtp", "Imap", "Pop", "ActiveSync", "WebServices", "Rpc")}
    base.update({f"AllowBasicAuth{k}": v for k, v in flags.items()})
    return {"Name": name, "Identity": name, **base}


def _org_default_allows_smtp(r: Records) -> None:
    r["authentication_policies"] = [_auth_policy("Default policy", Smtp=True)]
    r["organization_config"]["DefaultAuthenticationPolicy"] = "Default policy"


def _assigned_policy_allows_smtp_org_on(r: Records) -> None:
    r["authentication_policies"] = [_auth_policy("Block Basic"), _auth_policy("Printers", Smtp=True, Pop=True)]
    r["organization_config"]["DefaultAuthenticationPolicy"] = "Block Basic"
    r["exchange_users"] = [
        {
            "ExternalDirectoryObjectId": "u-svc",
            "UserPrincipalName": "svc-backup@contoso.com",
            "AuthenticationPolicy": "CN=Printers,CN=Auth Policies,CN=Configuration,CN=contoso.onmicrosoft.com",
        }
    ]
    r["transport_config"]["SmtpClientAuthenticationDisabled"] = False
    r["cas_mailboxes"][2]["SmtpClientAuthenticationDisabled"] = False


def _unused_policy_allows_basic(r: Records) -> None:
    r["authentication_policies"] = [_auth_policy("Block Basic"), _auth_policy("Old test", Smtp=True)]
    r["organization_config"]["DefaultAuthenticationPolicy"] = "Block Basic"


def _modern_auth_off(r: Records) -> None:
    r["organization_config"]["OAuth2ClientProfileEnabled"] = False


def _shared_mailboxes(r: Records) -> None:
    r["users"] += [user("u-info", "info@contoso.com", last_days=None), user("u-sales", "sales@contoso.com")]
    r["users"][-1]["accountEnabled"] = False
    r["mailboxes"] = [
        {
            "ExternalDirectoryObjectId": u,
            "UserPrincipalName": a,
            "PrimarySmtpAddress": a,
            "DisplayName": a.split("@")[0],
            "RecipientTypeDetails": "SharedMailbox",
        }
        for u, a in (("u-info", "info@contoso.com"), ("u-sales", "sales@contoso.com"))
    ] + [
        {
            "ExternalDirectoryObjectId": "u-bob",
            "UserPrincipalName": "bob@contoso.com",
            "PrimarySmtpAddress": "bob@contoso.com",
            "RecipientTypeDetails": "UserMailbox",
        }
    ]


ORG_DEFAULT_ALLOWS_SMTP = Case(
    "the org default authentication policy allows Basic SMTP AUTH while SMTP AUTH is off org-wide: medium",
    _org_default_allows_smtp,
    {("exchange-basic-auth-allowed", "Default policy"): "medium"},
)
ASSIGNED_POLICY_ALLOWS_SMTP_ORG_ON = Case(
    "a policy assigned to a service account allows Basic SMTP and POP while SMTP AUTH is on org-wide: high",
    _assigned_policy_allows_smtp_org_on,
    {
        ("exchange-basic-auth-allowed", "Printers"): "high",
        ("smtp-auth-org-enabled", "Contoso"): "high",
        ("smtp-auth-mailbox-enabled", "svc-backup@contoso.com"): "low",
    },
)
UNUSED_POLICY_ALLOWS_BASIC = Case(
    "a policy nobody is assigned that allows Basic auth is not in use: quiet", _unused_policy_allows_basic, {}
)


def _shared_mailbox_blocked(r: Records) -> None:
    _shared_mailboxes(r)
    r["mailboxes"].pop(0)


def _smtp_mailbox_basic_blocked_by_policy(r: Records) -> None:
    r["conditional_access"].pop(1)
    r["cas_mailboxes"][1].update(SmtpClientAuthenticationDisabled=False)
    r["authentication_policies"].append(_auth_policy("Block Basic"))
    r["exchange_users"].append({"ExternalDirectoryObjectId": "u-bob", "AuthenticationPolicy": "Block Basic"})


SHARED_MAILBOX_BLOCKED = Case(
    "a shared mailbox whose account is blocked from sign-in is fine", _shared_mailbox_blocked, {}
)
SMTP_MAILBOX_BASIC_BLOCKED_BY_POLICY = Case(
    "SMTP AUTH on for a mailbox with no CA legacy block, but its authentication policy blocks Basic SMTP: low",
    _smtp_mailbox_basic_blocked_by_policy,
    {
        ("smtp-auth-mailbox-enabled", "bob@contoso.com"): "low",
        ("legacy-auth-not-blocked", "Contoso"): "high",
    },
)
MODERN_AUTH_OFF = Case(
    "modern authentication off for Outlook clients",
    _modern_auth_off,
    {("exchange-modern-auth-disabled", "Contoso"): "high"},
)
SHARED_MAILBOXES = Case(
    "shared mailboxes: the one whose account is enabled fires, the blocked one does not",
    _shared_mailboxes,
    {("shared-mailbox-sign-in-enabled", "info@contoso.com"): "medium"},
)


@rule(
    id="exchange-basic-auth-allowed",
    order=310,
    title="Exchange authentication policy allows Basic authentication",
    severity="medium",
    escalation="high when SMTP AUTH is on org-wide",
    needs=("authentication_policies", "organization_config"),
    optional_needs=("exchange_users", "transport_config", "users"),
    rationale=(
        "An authentication policy that allows Basic auth for SMTP (or another protocol) lets a user name and "
        "password alone authenticate to Exchange Online for everyone it applies to; Microsoft turns Basic SMTP AUTH "
        "off by default from the end of December 2026 (MC786329), and a policy allowing it keeps it alive."
    ),
    remediation=(
        "Set-AuthenticationPolicy <policy> -AllowBasicAuthSmtp:$false (and the other AllowBasicAuth* flags); move "
        "the senders to OAuth SMTP, a connector or a relay."
    ),
    cases=(
        ORG_DEFAULT_ALLOWS_SMTP,
        ASSIGNED_POLICY_ALLOWS_SMTP_ORG_ON,
        UNUSED_POLICY_ALLOWS_BASIC,
        SMTP_MAILBOX_BASIC_BLOCKED_BY_POLICY,
    ),
)
def exchange_basic_auth_allowed(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """One finding per Exchange authentication policy *in use* — the org default
    (``OrganizationConfig.DefaultAuthenticationPolicy``) or one assigned to users (``Get-User``
    ``AuthenticationPolicy``) — with an ``AllowBasicAuth<protocol>`` flag that is true (Learn "Disable Basic
    authentication in Exchange Online"; MC786329). Medium; high when ``AllowBasicAuthSmtp`` is allowed and SMTP AUTH
    is on org-wide (the transport config). Evidence: the policy, the protocols, whether it is the org default, the
    users assigned (at most 20). Without ``exchange_users`` only the org default is known to be in use."""
    auth = model.exchange_auth
    assigned = auth.assigned_users()
    in_use = ([auth.org_default] if auth.org_default else []) + sorted(n for n in assigned if n != auth.org_default)
    names = upn_by_id(model, {u for p in in_use for u in assigned.get(p, [])}) if "users" in model.available else {}
    for policy in in_use:
        if policy not in auth.policies:
            continue
        protocols = auth.basic_allowed(policy)
        if not protocols:
            continue
        users = assigned.get(policy, [])
        shown = [str(names.get(u) or auth.user_names.get(u, u)) for u in users]
        evidence: dict[str, Any] = {
            "policy": policy,
            "basic_auth_protocols": protocols,
            "org_default": policy == auth.org_default,
            "users_assigned": len(users) if auth.users_known else "unknown",
            "users": sorted(shown)[:MAX_NAMES],
            "smtp_auth_org_enabled": model.smtp_auth_org_enabled,
        }
        high = "Smtp" in protocols and model.smtp_auth_org_enabled is True
        yield ctx.finding("policy", policy, policy, evidence, "high" if high else None)


@rule(
    id="exchange-modern-auth-disabled",
    order=320,
    title="Modern authentication is off for Outlook clients",
    severity="high",
    needs=("organization_config",),
    rationale="With OAuth2ClientProfileEnabled false, Outlook for Windows and Mac fall back to Basic authentication "
    "prompts and cannot do MFA or Conditional Access.",
    remediation="Set-OrganizationConfig -OAuth2ClientProfileEnabled $true.",
    cases=(MODERN_AUTH_OFF, ORG_DEFAULT_ALLOWS_SMTP),
)
def exchange_modern_auth_disabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """``OrganizationConfig.OAuth2ClientProfileEnabled`` is false (CIS 6.5.1; Learn "Enable or disable modern
    authentication for Outlook in Exchange Online"). Absent from the record → not assessed."""
    enabled = model.exchange_auth.oauth2_client_profile_enabled
    if enabled is None:
        raise NotAssessed("the organization config did not include OAuth2ClientProfileEnabled")
    if not enabled:
        yield tenant_finding(ctx, model, {"OAuth2ClientProfileEnabled": False})


@rule(
    id="shared-mailbox-sign-in-enabled",
    order=330,
    title="Shared mailbox account can sign in",
    severity="medium",
    needs=("mailboxes", "users"),
    rationale="A shared mailbox is opened through its members' permissions; its own account needs no sign-in. "
    "Enabled, it is a password-only account nobody owns (and SMTP AUTH may accept it).",
    remediation="Block sign-in for the shared mailbox's account (accountEnabled false); members keep their access.",
    cases=(SHARED_MAILBOXES, SHARED_MAILBOX_BLOCKED),
)
def shared_mailbox_sign_in_enabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Shared mailboxes (``Get-Mailbox`` ``RecipientTypeDetails`` ``SharedMailbox``) whose user account is enabled
    (CIS 1.2.2; Learn "About shared mailboxes" — block sign-in for the account). One finding per mailbox; a mailbox
    whose account is not found is skipped."""
    boxes = model.shared_mailboxes
    if boxes.empty:
        return
    for box in rows(boxes[boxes["enabled"].eq(True)]):
        yield ctx.finding(
            "mailbox",
            box.mailbox_id,
            box.address or box.display_name,
            {"recipient_type": "SharedMailbox", "user_id": box.user_id, "account_enabled": True},
        )
