"""Rules about Exchange Online mail protocols: SMTP AUTH, IMAP, POP, and the legacy sign-ins that use them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding
from auditor.model.sign_ins import summarise
from auditor.model.tenant import TenantModel
from auditor.rules.common import ROLE_OPTIONAL, ROLE_SOURCES, iso, rows, tenant_finding
from auditor.rules.registry import Case, NotAssessed, RuleContext, rule
from auditor.testing import REPORTS_READER, Records, add_admin, mailbox, sign_in

MAILBOX_OWNER_SOURCES = (*ROLE_SOURCES, *ROLE_OPTIONAL)


def _admin(row: Any, known: bool) -> dict[str, Any]:
    if not known:
        return {"admin": "unknown"}
    return {"admin": bool(row.is_admin), "privileged_admin": bool(row.privileged_admin)}


def _smtp_org_on_null_inherits(r: Records) -> None:
    r["transport_config"]["SmtpClientAuthenticationDisabled"] = False
    r["cas_mailboxes"] = [mailbox("u-alice", "alice@contoso.com", smtp_disabled=None),
                          mailbox("u-bob", "bob@contoso.com", smtp_disabled=True),
                          mailbox("u-svc", "svc-backup@contoso.com", smtp_disabled=False)]


def _smtp_mailbox_only(r: Records) -> None:
    r["cas_mailboxes"] = [mailbox("u-alice", "alice@contoso.com", smtp_disabled=None),
                          mailbox("u-bob", "bob@contoso.com", smtp_disabled=False)]


def _smtp_org_on_every_mailbox_off(r: Records) -> None:
    r["transport_config"]["SmtpClientAuthenticationDisabled"] = False


def _imap_pop(r: Records) -> None:
    r["cas_mailboxes"] = [mailbox("u-alice", "alice@contoso.com", imap=True),
                          mailbox("u-bob", "bob@contoso.com", pop=True),
                          mailbox("u-svc", "svc-backup@contoso.com")]


def _non_privileged_admin_not_escalated(r: Records) -> None:
    add_admin(r, "u-reader", "reader@contoso.com", role=REPORTS_READER)
    r["cas_mailboxes"].append(mailbox("u-reader", "reader@contoso.com", imap=True, smtp_disabled=False))


def _legacy_sign_ins_mixed(r: Records) -> None:
    r["sign_ins"] = [sign_in("u-bob", "bob@contoso.com", "POP3", days=1, ip="203.0.113.5"),
                     sign_in("u-bob", "bob@contoso.com", "POP3", days=2, ip="203.0.113.6"),
                     sign_in("u-svc", "svc-backup@contoso.com", "IMAP4", error=50126),
                     sign_in("u-alice", "alice@contoso.com", "Browser"),
                     sign_in("u-alice", "alice@contoso.com", "IMAP4", days=40)]


def _legacy_sign_ins_failed_or_old(r: Records) -> None:
    r["sign_ins"] = [sign_in("u-svc", "svc-backup@contoso.com", "IMAP4", error=50126),
                     sign_in("u-alice", "alice@contoso.com", "Browser"),
                     sign_in("u-alice", "alice@contoso.com", "IMAP4", days=40)]


SMTP_ORG_ON_NULL_INHERITS = Case("SMTP AUTH null inherits the enabled org setting", _smtp_org_on_null_inherits, {
    ("smtp-auth-org-enabled", "Contoso"): "high",
    ("smtp-auth-mailbox-enabled", "alice@contoso.com"): "high",
    ("smtp-auth-mailbox-enabled", "svc-backup@contoso.com"): "medium",
})
SMTP_MAILBOX_ONLY = Case("SMTP AUTH null inherits the disabled org setting", _smtp_mailbox_only, {
    ("smtp-auth-mailbox-enabled", "bob@contoso.com"): "medium",
})
SMTP_ORG_ON_EVERY_MAILBOX_OFF = Case(
    "mailboxes that switch SMTP AUTH off themselves stay quiet under an enabled org", _smtp_org_on_every_mailbox_off, {
        ("smtp-auth-org-enabled", "Contoso"): "high",
    })
IMAP_POP = Case("IMAP/POP low, medium for admins", _imap_pop, {
    ("imap-pop-enabled", "alice@contoso.com"): "medium",
    ("imap-pop-enabled", "bob@contoso.com"): "low",
})
NON_PRIVILEGED_ADMIN_NOT_ESCALATED = Case(
    "escalations apply to privileged roles only", _non_privileged_admin_not_escalated, {
        ("imap-pop-enabled", "reader@contoso.com"): "low",
        ("smtp-auth-mailbox-enabled", "reader@contoso.com"): "medium",
    })
LEGACY_SIGN_INS_MIXED = Case("legacy sign-ins: successes in window only", _legacy_sign_ins_mixed, {
    ("legacy-auth-sign-ins", "bob@contoso.com"): "high",
})
LEGACY_SIGN_INS_FAILED_OR_OLD = Case(
    "failed, modern and out-of-window sign-ins do not fire", _legacy_sign_ins_failed_or_old, {})


@rule(
    id="smtp-auth-org-enabled",
    order=30,
    title="SMTP AUTH is enabled for the organisation",
    severity="high",
    needs=("transport_config",),
    headline="legacy-protocols",
    sheet="SMTP AUTH org",
    rationale="SMTP AUTH accepts a user name and password on port 587; every mailbox that does not switch it "
    "off for itself inherits it, and basic-auth SMTP cannot do MFA.",
    remediation="Set-TransportConfig -SmtpClientAuthenticationDisabled $true, then enable SMTP AUTH only on "
    "the specific mailboxes that still need it (Set-CASMailbox -SmtpClientAuthenticationDisabled $false).",
    cases=(SMTP_ORG_ON_NULL_INHERITS, SMTP_ORG_ON_EVERY_MAILBOX_OFF, SMTP_MAILBOX_ONLY),
)
def smtp_auth_org_enabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Org-wide ``TransportConfig.SmtpClientAuthenticationDisabled`` is false."""
    if model.smtp_auth_org_enabled is None:
        raise NotAssessed("the transport config did not include SmtpClientAuthenticationDisabled")
    if model.smtp_auth_org_enabled:
        yield tenant_finding(ctx, model, {"SmtpClientAuthenticationDisabled": False})


@rule(
    id="smtp-auth-mailbox-enabled",
    order=40,
    title="SMTP AUTH is enabled on a mailbox",
    severity="medium",
    escalation="high for privileged admins",
    needs=("cas_mailboxes", "transport_config"),
    optional_needs=MAILBOX_OWNER_SOURCES,
    headline="legacy-protocols",
    sheet="SMTP AUTH mailboxes",
    rationale="A mailbox with SMTP AUTH accepts basic-auth submissions that no MFA or Conditional Access "
    "policy can challenge.",
    remediation="Set-CASMailbox <mailbox> -SmtpClientAuthenticationDisabled $true (or clear the mailbox value "
    "once the org setting is off). Devices that must send mail: use a connector or OAuth SMTP.",
    cases=(
        SMTP_ORG_ON_NULL_INHERITS,
        SMTP_MAILBOX_ONLY,
        NON_PRIVILEGED_ADMIN_NOT_ESCALATED,
        SMTP_ORG_ON_EVERY_MAILBOX_OFF,
    ),
)
def smtp_auth_mailbox_enabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """A mailbox's effective SMTP AUTH is on: its own ``SmtpClientAuthenticationDisabled`` is false, or
    null while the org setting is enabled. Evidence says which (``mailbox`` or ``inherited from org``)."""
    boxes = model.mailboxes
    if boxes.empty:
        return
    if model.smtp_auth_org_enabled is None and boxes["smtp_auth_setting"].isna().any():
        raise NotAssessed("mailboxes follow the org SMTP AUTH setting, but the transport config did not include "
                          "SmtpClientAuthenticationDisabled")
    admins_known = {"users", "role_definitions", "role_assignments"} <= model.available
    for row in rows(boxes[boxes["smtp_auth_enabled"].eq(True)]):
        yield ctx.finding(
            "mailbox", row.mailbox_id, row.smtp_address or row.display_name,
            {"setting": row.smtp_auth_source, "SmtpClientAuthenticationDisabled": row.smtp_auth_setting,
             "user_id": row.user_id, **_admin(row, admins_known)},
            "high" if row.privileged_admin else None,
        )


@rule(
    id="imap-pop-enabled",
    order=50,
    title="IMAP or POP is enabled on a mailbox",
    severity="low",
    escalation="medium for privileged admins",
    needs=("cas_mailboxes",),
    optional_needs=MAILBOX_OWNER_SOURCES,
    headline="legacy-protocols",
    sheet="IMAP POP mailboxes",
    rationale="IMAP and POP are rarely needed, bypass device-based Conditional Access and keep legacy clients "
    "alive; on admin mailboxes they widen a privileged account's attack surface.",
    remediation="Set-CASMailbox <mailbox> -ImapEnabled $false -PopEnabled $false, and set the defaults for new "
    "mailboxes with Set-CASMailboxPlan.",
    cases=(IMAP_POP, NON_PRIVILEGED_ADMIN_NOT_ESCALATED, SMTP_MAILBOX_ONLY),
)
def imap_pop_enabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Mailboxes with ``ImapEnabled`` or ``PopEnabled``; evidence lists the protocols."""
    boxes = model.mailboxes
    if boxes.empty:
        return
    admins_known = {"users", "role_definitions", "role_assignments"} <= model.available
    hits = boxes[boxes["imap"] | boxes["pop"]]
    for row in rows(hits):
        protocols = [p for p, on in (("IMAP", row.imap), ("POP", row.pop)) if on]
        yield ctx.finding(
            "mailbox", row.mailbox_id, row.smtp_address or row.display_name,
            {"protocols": protocols, "user_id": row.user_id,
             **_admin(row, admins_known)},
            "medium" if row.privileged_admin else None,
        )


@rule(
    id="legacy-auth-sign-ins",
    order=180,
    title="Successful legacy-protocol sign-ins",
    severity="high",
    needs=("users", "sign_ins"),
    params={"window_days": 30},
    rationale="A successful legacy sign-in means basic authentication works for that account today, "
    "without MFA.",
    remediation="Move the client to modern authentication (OAuth); then block legacy authentication for the "
    "account. For devices that can only do SMTP AUTH, use a connector or a dedicated pinned service account.",
    cases=(LEGACY_SIGN_INS_MIXED, LEGACY_SIGN_INS_FAILED_OR_OLD),
)
def legacy_auth_sign_ins(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Users with successful sign-ins through a legacy client (``clientAppUsed`` Authenticated SMTP, IMAP4,
    POP3, Exchange ActiveSync, Other clients, …) in the last ``window_days`` before collection. Failed
    attempts are counted in the evidence but do not fire."""
    since = pd.Timestamp(model.collected_at) - pd.Timedelta(days=ctx.params["window_days"])
    summary = summarise(model.legacy_sign_in_events, since)
    names = model.users.set_index("id")["upn"]
    for row in rows(summary):
        evidence = {"protocols": list(row.protocols), "count": int(row.count), "last": iso(row.last),
                    "source_ips": list(row.ip_addresses), "failed_attempts": int(row.failed),
                    "window_days": ctx.params["window_days"]}
        name = names.get(row.user_id) or row.upn or row.user_id
        yield ctx.finding("user", row.user_id, name, evidence)
