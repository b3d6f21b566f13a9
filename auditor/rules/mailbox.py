"""Rules about Exchange Online protocol settings: SMTP AUTH, IMAP, POP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from auditor.findings import Finding
from auditor.model.tenant import TenantModel
from auditor.rules.common import rows, tenant_finding
from auditor.rules.registry import NotAssessed, RuleContext, rule


def _admin(row: Any, known: bool) -> dict[str, Any]:
    if not known:
        return {"admin": "unknown"}
    return {"admin": bool(row.is_admin), "privileged_admin": bool(row.privileged_admin)}


ROLE_OPTIONAL = ("users", "role_definitions", "role_assignments", "role_eligibility", "group_members")


@rule(
    id="smtp-auth-org-enabled",
    title="SMTP AUTH is enabled for the organisation",
    severity="high",
    needs=("transport_config",),
    headline="legacy-protocols",
    sheet="SMTP AUTH org",
    rationale="SMTP AUTH accepts a user name and password on port 587; every mailbox that does not switch it "
    "off for itself inherits it, and basic-auth SMTP cannot do MFA.",
    remediation="Set-TransportConfig -SmtpClientAuthenticationDisabled $true, then enable SMTP AUTH only on "
    "the specific mailboxes that still need it (Set-CASMailbox -SmtpClientAuthenticationDisabled $false).",
)
def smtp_auth_org_enabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Org-wide ``TransportConfig.SmtpClientAuthenticationDisabled`` is false."""
    if model.smtp_auth_org_enabled is None:
        raise NotAssessed("the transport config did not include SmtpClientAuthenticationDisabled")
    if model.smtp_auth_org_enabled:
        yield tenant_finding(ctx, model, {"SmtpClientAuthenticationDisabled": False})


@rule(
    id="smtp-auth-mailbox-enabled",
    title="SMTP AUTH is enabled on a mailbox",
    severity="medium",
    escalation="high for privileged admins",
    needs=("cas_mailboxes", "transport_config"),
    optional_needs=ROLE_OPTIONAL,
    headline="legacy-protocols",
    sheet="SMTP AUTH mailboxes",
    rationale="A mailbox with SMTP AUTH accepts basic-auth submissions that no MFA or Conditional Access "
    "policy can challenge.",
    remediation="Set-CASMailbox <mailbox> -SmtpClientAuthenticationDisabled $true (or clear the mailbox value "
    "once the org setting is off). Devices that must send mail: use a connector or OAuth SMTP.",
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
    title="IMAP or POP is enabled on a mailbox",
    severity="low",
    escalation="medium for privileged admins",
    needs=("cas_mailboxes",),
    optional_needs=ROLE_OPTIONAL,
    headline="legacy-protocols",
    sheet="IMAP POP mailboxes",
    rationale="IMAP and POP are rarely needed, bypass device-based Conditional Access and keep legacy clients "
    "alive; on admin mailboxes they widen a privileged account's attack surface.",
    remediation="Set-CASMailbox <mailbox> -ImapEnabled $false -PopEnabled $false, and set the defaults for new "
    "mailboxes with Set-CASMailboxPlan.",
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
