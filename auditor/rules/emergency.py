"""``emergency-access-weak``: the configured emergency access ("break-glass") accounts are what Microsoft and CIS
1.1.2 say they must be, and there are at least two.

Microsoft ("Manage emergency access admin accounts in Microsoft Entra ID",
https://learn.microsoft.com/entra/identity/role-based-access-control/security-emergency-access): two or more
cloud-only accounts, permanently assigned Global Administrator, excluded from Conditional Access, protected by a
phishing-resistant method (passkey / FIDO2 or certificate), not tied to a person — no mailbox and no licence.
CIS M365 v7.0 1.1.2 and Maester MT.1005 check the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding
from auditor.model.auth_methods import phishing_resistant
from auditor.model.tenant import TenantModel
from auditor.rules.common import ROLE_OPTIONAL, ROLE_SOURCES, rows, tenant_finding, user_finding, with_coverage
from auditor.rules.registry import Case, RuleContext, rule
from auditor.testing import GA, Records, add_admin, admin_policy_for_portals_only, mailbox

GLOBAL_ADMINISTRATOR = GA
BG1, BG2 = "breakglass1@contoso.onmicrosoft.com", "breakglass2@contoso.onmicrosoft.com"


def _not_configured(r: Records) -> Any:
    """Used with an empty classification: the baseline's break-glass accounts are then ordinary Global Admins."""


def _not_configured_candidate(r: Records) -> None:
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    for p in r["conditional_access"][:2]:
        p["conditions"]["users"]["excludeUsers"] = ["u-glass1"]


def _weak_accounts(r: Records) -> None:
    bg1 = next(u for u in r["users"] if u["id"] == "u-glass1")
    bg1.update(onPremisesSyncEnabled=True, assignedLicenses=[{"skuId": "sku-e5", "disabledPlans": []}])
    r["cas_mailboxes"].append(mailbox("u-glass1", BG1))
    for d in r["registration_details"]:
        if d["id"] == "u-glass2":
            d["methodsRegistered"] = ["microsoftAuthenticatorPush"]
    r["role_assignments"] = [a for a in r["role_assignments"] if a["principalId"] != "u-glass2"]
    r["role_eligibility"].append(
        {"id": "re-bg2", "principalId": "u-glass2", "roleDefinitionId": GA, "directoryScopeId": "/"}
    )


def _only_one(r: Records) -> None:
    add_admin(r, "u-glass3", "breakglass3@contoso.onmicrosoft.com")


NOT_CONFIGURED = Case(
    "no emergency access account configured: one info finding saying none was found",
    _not_configured,
    {("emergency-access-weak", "Contoso"): "info"},
    config={"classification": {"emergency_access": []}},
)
NOT_CONFIGURED_CANDIDATE = Case(
    "none configured; a Global Administrator excluded from the baselines is named as a candidate",
    _not_configured_candidate,
    {
        ("emergency-access-weak", "Contoso"): "info",
        ("ca-mfa-excluded", BG1): "high",
        ("legacy-auth-block-excluded", BG1): "high",
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "breakglass1@contoso.onmicrosoft.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "breakglass2@contoso.onmicrosoft.com"): "medium",
    },
    config={"classification": {"emergency_access": []}},
)
WEAK_ACCOUNTS = Case(
    "break-glass accounts that are synced, licensed, with a mailbox; phone app only and merely eligible",
    _weak_accounts,
    {
        ("emergency-access-weak", BG1): "high",
        ("emergency-access-weak", BG2): "high",
    },
)
ONLY_ONE = Case(
    "only one emergency access account configured, one entry matching nobody",
    _only_one,
    {("emergency-access-weak", "Contoso"): "high"},
    config={"classification": {"emergency_access": [BG1, "gone@contoso.com"]}},
)
WELL_KEPT = Case("two cloud-only break-glass Global Administrators with FIDO2 keys", lambda r: None, {})


def _ga_active(model: TenantModel) -> dict[str, list[str]]:
    """User id → how they hold Global Administrator ('active', 'eligible', 'via group …')."""
    h = model.role_holdings
    if h.empty:
        return {}
    ga = h[(h["role_id"] == GLOBAL_ADMINISTRATOR) & (h["scope"] == "/")]
    out: dict[str, list[str]] = {}
    for r in rows(ga):
        group = r.via_group_name if isinstance(r.via_group_name, str) and r.via_group_name else None
        kind = f"{r.assignment} via group {group}" if group else r.assignment
        out.setdefault(r.user_id, []).append(kind)
    return out


@rule(
    id="emergency-access-weak",
    order=340,
    title="Emergency access accounts are weak or missing",
    severity="high",
    escalation="info when none is configured (candidates listed)",
    needs=ROLE_SOURCES,
    optional_needs=(*ROLE_OPTIONAL, "registration_details", "cas_mailboxes", "conditional_access"),
    rationale=(
        "Emergency access accounts are the way back in when Conditional Access or federation locks every admin "
        "out. Microsoft and CIS want at least two, cloud-only, permanently active Global Administrators with a "
        "phishing-resistant method and nothing that ties them to a person (no mailbox, no licence)."
    ),
    remediation=(
        "Keep two cloud-only accounts (on the *.onmicrosoft.com domain) with a permanent active Global "
        "Administrator assignment, register a FIDO2 key or certificate for each, remove their mailbox and licences, "
        "exclude them from Conditional Access, alert on their sign-ins, and list them in "
        "classification.emergency_access."
    ),
    cases=(NOT_CONFIGURED, NOT_CONFIGURED_CANDIDATE, WEAK_ACCOUNTS, ONLY_ONE, WELL_KEPT),
)
def emergency_access_weak(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Per configured emergency account (``classification.emergency_access``, high): no phishing-resistant method
    registered, synced from on-premises (``onPremisesSyncEnabled``), a mailbox or a licence, or not an active
    tenant-wide Global Administrator held directly (eligible or group-held does not survive a PIM or group outage).
    A tenant finding (high) when fewer than two configured accounts are found. With nothing configured: always one
    ``info`` tenant finding listing candidates — Global Administrators excluded from every in-force MFA baseline — or
    saying none was found (Learn "Manage emergency access admin accounts"; CIS 1.1.2; Maester MT.1005)."""
    users = model.users
    ga = _ga_active(model)
    configured = users[users["is_emergency_access"]]
    if not model.emergency_entries:
        candidates = [
            row.upn
            for row, cov in with_coverage(model, users["enabled"] & users["id"].isin(list(ga)))
            if cov.mfa_exclusion == "always"
        ]
        yield tenant_finding(
            ctx,
            model,
            {
                "configured": 0,
                "candidates": sorted(str(c) for c in candidates)[:20],
                "note": "candidates: Global Administrators excluded from every in-force MFA baseline"
                if candidates
                else "no Global Administrator is excluded from every in-force MFA baseline: none found",
            },
            "info",
            "List the emergency access accounts in classification.emergency_access so they are checked as such.",
        )
        return
    registration = "registration_details" in model.available
    for row in rows(configured):
        weak = []
        methods = phishing_resistant(list(row.methods))
        if registration and not methods:
            weak.append("no phishing-resistant method registered")
        if row.on_prem_synced:
            weak.append("synced from on-premises")
        if row.has_mailbox:
            weak.append("has a mailbox")
        if row.licensed:
            weak.append("has a licence")
        if "active" not in ga.get(row.id, []):
            weak.append("not a permanent active Global Administrator")
        if not weak:
            continue
        evidence = {
            "weaknesses": weak,
            "emergency_signal": row.emergency_signal,
            "global_administrator": ga.get(row.id, []),
            "methods": list(row.methods) if registration else "unknown",
            "on_prem_synced": bool(row.on_prem_synced),
            "has_mailbox": bool(row.has_mailbox),
            "licensed": None if row.licensed is None or pd.isna(row.licensed) else bool(row.licensed),
        }
        yield user_finding(ctx, row, evidence)
    if len(configured) < 2:
        yield tenant_finding(
            ctx,
            model,
            {
                "configured_accounts": sorted(str(u) for u in configured["upn"].tolist()),
                "unresolved_entries": list(model.emergency_unresolved),
                "minimum": 2,
            },
        )
