"""Rules about Exchange Online mail protocols: SMTP AUTH, IMAP, POP, and the legacy sign-ins that use them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from auditor.findings import Finding, RollUp
from auditor.model.sign_ins import summarise
from auditor.model.tenant import TenantModel
from auditor.rules.common import (
    ROLE_OPTIONAL,
    ROLE_SOURCES,
    coverage_by_user,
    iso,
    legacy_mitigations,
    rows,
    tenant_finding,
    upn_by_id,
    users_by_id,
)
from auditor.rules.registry import Case, NotAssessed, RuleContext, rule
from auditor.testing import REPORTS_READER, Records, add_admin, mailbox, sign_in

MAILBOX_OWNER_SOURCES = (*ROLE_SOURCES, *ROLE_OPTIONAL)


def _admin(owner: Any, known: bool) -> dict[str, Any]:
    """Admin facts of a mailbox owner (a users row, or None when the mailbox matches no user)."""
    if not known:
        return {"admin": "unknown"}
    admin = owner is not None and bool(owner.counts_as_admin)
    return {"admin": admin, "privileged_admin": bool(admin and owner.privileged_admin)}


def _smtp_org_on_null_inherits(r: Records) -> None:
    r["transport_config"]["SmtpClientAuthenticationDisabled"] = False
    r["cas_mailboxes"] = [
        mailbox("u-alice", "alice@contoso.com", smtp_disabled=None),
        mailbox("u-bob", "bob@contoso.com", smtp_disabled=None),
        mailbox("u-svc", "svc-backup@contoso.com", smtp_disabled=False),
    ]


def _smtp_org_on_password_exposure(r: Records) -> None:
    _smtp_org_on_null_inherits(r)
    del r["conditional_access"][1]  # the legacy block


def _smtp_mailbox_of_disabled_account(r: Records) -> None:
    del r["conditional_access"][1]  # the legacy block
    r["users"][1]["accountEnabled"] = False
    r["cas_mailboxes"][1]["SmtpClientAuthenticationDisabled"] = False


def _imap_pop_used(r: Records) -> None:
    r["cas_mailboxes"][1]["PopEnabled"] = True
    r["cas_mailboxes"][2]["ImapEnabled"] = True
    r["sign_ins"] = [sign_in("u-bob", "bob@contoso.com", "POP3", days=1)]


def _smtp_mailbox_only(r: Records) -> None:
    r["cas_mailboxes"] = [
        mailbox("u-alice", "alice@contoso.com", smtp_disabled=None),
        mailbox("u-bob", "bob@contoso.com", smtp_disabled=False),
    ]


def _smtp_org_on_every_mailbox_off(r: Records) -> None:
    r["transport_config"]["SmtpClientAuthenticationDisabled"] = False


def _imap_pop(r: Records) -> None:
    r["cas_mailboxes"] = [
        mailbox("u-alice", "alice@contoso.com", imap=True),
        mailbox("u-bob", "bob@contoso.com", pop=True),
        mailbox("u-svc", "svc-backup@contoso.com"),
    ]


def _non_privileged_admin_not_escalated(r: Records) -> None:
    del r["conditional_access"][1]  # the legacy block
    add_admin(r, "u-reader", "reader@contoso.com", role=REPORTS_READER)
    r["cas_mailboxes"].append(mailbox("u-reader", "reader@contoso.com", imap=True, smtp_disabled=False))


def _legacy_sign_ins_mixed(r: Records) -> None:
    r["sign_ins"] = [
        sign_in("u-bob", "bob@contoso.com", "POP3", days=1, ip="203.0.113.5"),
        sign_in("u-bob", "bob@contoso.com", "POP3", days=2, ip="203.0.113.6"),
        sign_in("u-svc", "svc-backup@contoso.com", "IMAP4", error=50126),
        sign_in("u-alice", "alice@contoso.com", "Browser"),
        sign_in("u-alice", "alice@contoso.com", "IMAP4", days=40),
    ]


def _legacy_sign_ins_failed_or_old(r: Records) -> None:
    r["sign_ins"] = [
        sign_in("u-svc", "svc-backup@contoso.com", "IMAP4", error=50126),
        sign_in("u-alice", "alice@contoso.com", "Browser"),
        sign_in("u-alice", "alice@contoso.com", "IMAP4", days=40),
    ]


SMTP_ORG_ON_NULL_INHERITS = Case(
    "SMTP AUTH on for the org; a CA legacy block covers every user: OAuth-only exposure, low",
    _smtp_org_on_null_inherits,
    {
        ("smtp-auth-org-enabled", "Contoso"): "high",
        ("smtp-auth-mailbox-enabled", "alice@contoso.com"): "low",
        ("smtp-auth-mailbox-enabled", "svc-backup@contoso.com"): "low",
    },
)
SMTP_ORG_ON_PASSWORD_EXPOSURE = Case(
    "SMTP AUTH on for the org and no legacy block: the admin inheriting it high, the mailbox enabling it medium, "
    "the user merely inheriting it counted on the org finding",
    _smtp_org_on_password_exposure,
    {
        ("smtp-auth-org-enabled", "Contoso"): "high",
        ("smtp-auth-mailbox-enabled", "alice@contoso.com"): "high",
        ("smtp-auth-mailbox-enabled", "svc-backup@contoso.com"): "medium",
        ("legacy-auth-not-blocked", "Contoso"): "high",
    },
)
SMTP_MAILBOX_ONLY = Case(
    "SMTP AUTH null inherits the disabled org setting",
    _smtp_mailbox_only,
    {
        ("smtp-auth-mailbox-enabled", "bob@contoso.com"): "low",
    },
)
SMTP_MAILBOX_OF_DISABLED_ACCOUNT = Case(
    "SMTP AUTH on for the mailbox of a disabled account: no password exposure, low",
    _smtp_mailbox_of_disabled_account,
    {
        ("smtp-auth-mailbox-enabled", "bob@contoso.com"): "low",
        ("legacy-auth-not-blocked", "Contoso"): "high",
    },
)
SMTP_ORG_ON_EVERY_MAILBOX_OFF = Case(
    "mailboxes that switch SMTP AUTH off themselves stay quiet under an enabled org",
    _smtp_org_on_every_mailbox_off,
    {
        ("smtp-auth-org-enabled", "Contoso"): "high",
    },
)
IMAP_POP = Case(
    "IMAP/POP: a privileged admin's mailbox medium, the rest rolled up into one tenant finding",
    _imap_pop,
    {
        ("imap-pop-enabled", "alice@contoso.com"): "medium",
        ("imap-pop-enabled", "Contoso"): "low",
    },
)
IMAP_POP_USED = Case(
    "IMAP/POP with successful POP3 sign-ins is reported for that mailbox",
    _imap_pop_used,
    {
        ("imap-pop-enabled", "bob@contoso.com"): "low",
        ("imap-pop-enabled", "Contoso"): "low",
        ("legacy-auth-sign-ins", "bob@contoso.com"): "high",
    },
)
NON_PRIVILEGED_ADMIN_NOT_ESCALATED = Case(
    "escalations apply to privileged roles only",
    _non_privileged_admin_not_escalated,
    {
        ("imap-pop-enabled", "Contoso"): "low",
        ("smtp-auth-mailbox-enabled", "reader@contoso.com"): "medium",
        ("legacy-auth-not-blocked", "Contoso"): "high",
    },
)
LEGACY_SIGN_INS_MIXED = Case(
    "legacy sign-ins: successes in window only",
    _legacy_sign_ins_mixed,
    {
        ("legacy-auth-sign-ins", "bob@contoso.com"): "high",
    },
)
LEGACY_SIGN_INS_FAILED_OR_OLD = Case(
    "failed, modern and out-of-window sign-ins do not fire", _legacy_sign_ins_failed_or_old, {}
)


def _admins_known(model: TenantModel) -> bool:
    return {"users", "role_definitions", "role_assignments"} <= model.available


def _admin_ids(model: TenantModel) -> set[Any]:
    """The ids of the users that count as admins (mailbox rules look up only these owners)."""
    users = model.users
    return set(users["id"][users["counts_as_admin"].astype(bool)].tolist())


def _smtp_exposure(model: TenantModel, owner: Any, cov: Any) -> list[str]:
    """What leaves a mailbox's SMTP AUTH usable with OAuth only: a disabled account, the Exchange authentication
    policy that applies to the owner (theirs, else the org default) setting ``AllowBasicAuthSmtp`` false, security
    defaults, a CA legacy block covering the owner (rules.md v2 ``smtp-auth-mailbox-enabled``)."""
    out = []
    if owner is not None and not owner.enabled:
        out.append("account disabled")
    auth = model.exchange_auth
    if owner is not None and auth.smtp_basic_blocked(owner.id):
        out.append(f"Exchange authentication policy {auth.policy_for(owner.id)} (AllowBasicAuthSmtp false)")
    return out + legacy_mitigations(model, cov)


def _inherits_unreported(model: TenantModel) -> int:
    """Mailboxes that merely inherit the enabled org setting and are not reported one by one."""
    boxes = model.mailboxes
    if boxes.empty or not model.smtp_auth_org_enabled:
        return 0
    inheriting = boxes[boxes["smtp_auth_setting"].isna()]
    if not _admins_known(model):
        return len(inheriting)
    admins = set(model.users.loc[model.users["counts_as_admin"], "id"])
    return int((~inheriting["user_id"].isin(admins)).sum())


@rule(
    id="smtp-auth-org-enabled",
    order=30,
    title="SMTP AUTH is enabled for the organisation",
    severity="high",
    needs=("transport_config",),
    optional_needs=("cas_mailboxes", *MAILBOX_OWNER_SOURCES, "conditional_access", "security_defaults"),
    headline="legacy-protocols",
    sheet="SMTP AUTH org",
    rationale="SMTP AUTH accepts a user name and password on port 587; every mailbox that does not switch it "
    "off for itself inherits it, and basic-auth SMTP cannot do MFA.",
    remediation="Set-TransportConfig -SmtpClientAuthenticationDisabled $true, then enable SMTP AUTH only on "
    "the specific mailboxes that still need it (Set-CASMailbox -SmtpClientAuthenticationDisabled $false).",
    cases=(SMTP_ORG_ON_NULL_INHERITS, SMTP_ORG_ON_PASSWORD_EXPOSURE, SMTP_ORG_ON_EVERY_MAILBOX_OFF, SMTP_MAILBOX_ONLY),
    rollup=RollUp(
        key="mailboxes_inheriting",
        one="{n} mailbox inherits the organisation's SMTP AUTH setting",
        many="{n} mailboxes inherit the organisation's SMTP AUTH setting",
        fix="fix once at the organisation (Set-TransportConfig -SmtpClientAuthenticationDisabled $true)",
    ),
)
def smtp_auth_org_enabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Org-wide ``TransportConfig.SmtpClientAuthenticationDisabled`` is false (CIS 6.5.4; SCuBA MS.EXO.5.1v1).
    Evidence: ``mailboxes_inheriting`` — the mailboxes that merely inherit it and are counted here rather than one
    finding each (fix once at the org) — and what already limits it to OAuth tenant-wide (``mitigated_by``:
    security defaults, a CA legacy block for All users covering ``other``)."""
    if model.smtp_auth_org_enabled is None:
        raise NotAssessed("the transport config did not include SmtpClientAuthenticationDisabled")
    if not model.smtp_auth_org_enabled:
        return
    mitigated = []
    if model.security_defaults_enabled:
        mitigated.append("security defaults")
    if "other" in model.baselines.legacy_blocked_types:
        mitigated.append(
            "Conditional Access legacy block for All users (" + ", ".join(model.baselines.legacy_blocks) + ")"
        )
    evidence: dict[str, Any] = {
        "SmtpClientAuthenticationDisabled": False,
        "exposure": "oauth-only" if mitigated else "password",
        "mitigated_by": mitigated,
    }
    evidence["mailboxes_inheriting"] = _inherits_unreported(model) if "cas_mailboxes" in model.available else "unknown"
    yield tenant_finding(ctx, model, evidence)


@rule(
    id="smtp-auth-mailbox-enabled",
    order=40,
    title="SMTP AUTH is enabled on a mailbox",
    severity="medium",
    escalation="high for privileged admins; low when the exposure is OAuth-only",
    needs=("cas_mailboxes", "transport_config"),
    optional_needs=(
        *MAILBOX_OWNER_SOURCES,
        "conditional_access",
        "security_defaults",
        "authentication_policies",
        "organization_config",
        "exchange_users",
    ),
    headline="legacy-protocols",
    sheet="SMTP AUTH mailboxes",
    rationale="A mailbox with SMTP AUTH accepts basic-auth submissions that no MFA or Conditional Access "
    "policy can challenge.",
    remediation="Set-CASMailbox <mailbox> -SmtpClientAuthenticationDisabled $true (or clear the mailbox value "
    "once the org setting is off). Devices that must send mail: use a connector or OAuth SMTP.",
    cases=(
        SMTP_ORG_ON_NULL_INHERITS,
        SMTP_ORG_ON_PASSWORD_EXPOSURE,
        SMTP_MAILBOX_ONLY,
        SMTP_MAILBOX_OF_DISABLED_ACCOUNT,
        NON_PRIVILEGED_ADMIN_NOT_ESCALATED,
        SMTP_ORG_ON_EVERY_MAILBOX_OFF,
    ),
)
def smtp_auth_mailbox_enabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """A mailbox's effective SMTP AUTH is on, reported one by one only where the mailbox itself enables it (its own
    ``SmtpClientAuthenticationDisabled`` is false) or, when inherited from the org, for admins' mailboxes; every other
    inheriting mailbox is counted on ``smtp-auth-org-enabled``. Evidence says which (``mailbox`` or ``inherited from
    org``). A password works only when the account is enabled, the Exchange authentication policy that applies (the
    owner's, else the org default) does not set ``AllowBasicAuthSmtp`` false, and neither security defaults nor a CA
    legacy block covers the owner; otherwise the finding is low with ``exposure: oauth-only`` and ``mitigated_by``."""
    boxes = model.mailboxes
    if boxes.empty:
        return
    if model.smtp_auth_org_enabled is None and boxes["smtp_auth_setting"].isna().any():
        raise NotAssessed(
            "mailboxes follow the org SMTP AUTH setting, but the transport config did not include "
            "SmtpClientAuthenticationDisabled"
        )
    admins_known = _admins_known(model)
    # reported: the mailbox enables it itself, or it belongs to an admin; every other mailbox that inherits the
    # org setting is counted on the org finding
    admins = _admin_ids(model) if admins_known else set()
    reported = boxes[
        boxes["smtp_auth_enabled"].eq(True).to_numpy()
        & np.array(
            [
                s is False or u in admins
                for s, u in zip(boxes["smtp_auth_setting"].tolist(), boxes["user_id"].tolist(), strict=True)
            ],
            dtype=bool,
        )
    ]
    owners = users_by_id(model, reported["user_id"])
    covs = coverage_by_user(model, reported["user_id"])
    for row in rows(reported):
        owner = owners.get(row.user_id)
        admin = bool(admins_known and owner is not None and owner.counts_as_admin)
        if row.smtp_auth_setting is not False and not admin:
            continue  # inherits the org setting: counted on the org finding
        mitigated = _smtp_exposure(model, owner, covs.get(row.user_id))
        privileged = bool(admin and owner is not None and owner.privileged_admin)
        severity = "low" if mitigated else "high" if privileged else None
        yield ctx.finding(
            "mailbox",
            row.mailbox_id,
            row.smtp_address or row.display_name,
            {
                "setting": row.smtp_auth_source,
                "SmtpClientAuthenticationDisabled": row.smtp_auth_setting,
                "user_id": row.user_id,
                **_admin(owner, admins_known),
                "exposure": "oauth-only" if mitigated else "password",
                "mitigated_by": mitigated,
            },
            severity,
        )


def _protocol_successes(model: TenantModel) -> dict[str, int]:
    """User id → successful IMAP4/POP3 sign-ins in the snapshot window."""
    events = model.legacy_sign_in_events
    if "sign_ins" not in model.available or events.empty:
        return {}
    used = events[events["ok"].astype(bool) & events["app"].isin(["IMAP4", "POP3"])]
    return {str(k): int(v) for k, v in used.groupby("user_id").size().items()}


@rule(
    id="imap-pop-enabled",
    order=50,
    title="IMAP or POP is enabled on mailboxes",
    severity="low",
    escalation="medium for privileged admins' mailboxes",
    needs=("cas_mailboxes",),
    optional_needs=(*MAILBOX_OWNER_SOURCES, "sign_ins"),
    headline="legacy-protocols",
    sheet="IMAP POP mailboxes",
    rationale="IMAP and POP are rarely needed, bypass device-based Conditional Access and keep legacy clients "
    "alive; on admin mailboxes they widen a privileged account's attack surface. The CAS mailbox plan defaults leave "
    "both on, so most mailboxes carry them unused.",
    remediation="Set-CASMailbox <mailbox> -ImapEnabled $false -PopEnabled $false, and set the defaults for new "
    "mailboxes with Set-CASMailboxPlan.",
    cases=(IMAP_POP, IMAP_POP_USED, NON_PRIVILEGED_ADMIN_NOT_ESCALATED, SMTP_MAILBOX_ONLY),
    rollup=RollUp(
        key="mailboxes",
        one="{n} mailbox has IMAP or POP on without using it",
        many="{n} mailboxes have IMAP or POP on without using them",
        fix="fix them together: one Set-CASMailbox -ImapEnabled $false -PopEnabled $false loop over these "
        "mailboxes, and Set-CASMailboxPlan for new ones",
    ),
)
def imap_pop_enabled(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Mailboxes with ``ImapEnabled`` or ``PopEnabled``: one finding per mailbox only for privileged admins' mailboxes
    (medium) and mailboxes with successful IMAP4/POP3 sign-ins in the window (low); every other such mailbox is
    counted in one tenant finding (low; ``mailboxes``, counts by protocol and a sample) — per-mailbox findings for
    the defaults would drown a large tenant."""
    boxes = model.mailboxes
    if boxes.empty:
        return
    admins_known = _admins_known(model)
    used = _protocol_successes(model)
    hits = boxes[boxes["imap"] | boxes["pop"]]
    hit_users = hits["user_id"].tolist()
    owners = users_by_id(model, _admin_ids(model) & set(hit_users)) if admins_known else {}
    privileged_owners = {uid for uid, o in owners.items() if o.privileged_admin and o.counts_as_admin}
    # one finding each for privileged admins' mailboxes and mailboxes with IMAP/POP sign-ins; the rest are counted
    each = np.array([u in privileged_owners or bool(used.get(str(u), 0)) for u in hit_users], dtype=bool)
    for row in rows(hits[each]):
        owner = owners.get(row.user_id)
        privileged = bool(admins_known and owner is not None and owner.privileged_admin and owner.counts_as_admin)
        sign_ins = used.get(str(row.user_id), 0)
        protocols = [p for p, on in (("IMAP", row.imap), ("POP", row.pop)) if on]
        yield ctx.finding(
            "mailbox",
            row.mailbox_id,
            row.smtp_address or row.display_name,
            {
                "protocols": protocols,
                "user_id": row.user_id,
                **_admin(owner, admins_known),
                "imap_pop_sign_ins": sign_ins if "sign_ins" in model.available else "not collected",
            },
            "medium" if privileged else None,
        )
    rest = hits[~each]
    if len(rest):
        first = rest.iloc[:20]
        evidence: dict[str, Any] = {
            "mailboxes": len(rest),
            "imap_enabled": sum(1 for on in rest["imap"].tolist() if on),
            "pop_enabled": sum(1 for on in rest["pop"].tolist() if on),
            "mailboxes_total": len(boxes),
            "sample": [
                a or n for a, n in zip(first["smtp_address"].tolist(), first["display_name"].tolist(), strict=True)
            ],
            "cas_mailbox_plan_defaults": "not collected",
        }
        if not admins_known:
            evidence["admin"] = "unknown"
        yield tenant_finding(ctx, model, evidence)


@rule(
    id="legacy-auth-sign-ins",
    order=180,
    title="Successful legacy-protocol sign-ins",
    severity="high",
    needs=("users", "sign_ins"),
    params={"window_days": 30},
    rationale="A successful legacy sign-in means basic authentication works for that account today, without MFA.",
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
    names = upn_by_id(model, summary["user_id"].tolist())
    for row in rows(summary):
        evidence = {
            "protocols": list(row.protocols),
            "count": int(row.count),
            "last": iso(row.last),
            "source_ips": list(row.ip_addresses),
            "failed_attempts": int(row.failed),
            "window_days": ctx.params["window_days"],
        }
        name = names.get(row.user_id) or row.upn or row.user_id
        yield ctx.finding("user", row.user_id, name, evidence)
