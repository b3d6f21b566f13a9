"""Rules about Conditional Access coverage: the MFA baseline, legacy-auth blocking and who is excluded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding
from auditor.model.conditional_access import pins_to_location, policy_scope, role_condition_holdings
from auditor.model.tenant import TenantModel
from auditor.rules.common import admin_evidence, rows, tenant_finding, user_finding
from auditor.rules.registry import Case, RuleContext, rule
from auditor.testing import GA, HELPDESK, Records, ca_policy, user

CA_USER_SOURCES = ("users", "conditional_access", "group_members", "role_definitions", "role_assignments")


def _enabled(model: TenantModel, column: str) -> pd.DataFrame:
    ca = model.ca_policies
    return ca[(ca["state"] == "enabled") & ca[column]]


def _security_defaults(model: TenantModel) -> bool | str:
    return "unknown" if model.security_defaults_enabled is None else model.security_defaults_enabled


def _conditional(model: TenantModel, grant_column: str) -> list[dict[str, Any]]:
    """Enabled policies whose grant would count but that apply only under extra conditions."""
    ca = model.ca_policies
    narrowed = ca[(ca["state"] == "enabled") & ca[grant_column] & ca["narrowed_by"].map(bool)]
    return [{"policy": p.name, "only_when": list(p.narrowed_by)} for p in rows(narrowed)]


def _report_only(model: TenantModel, column: str) -> list[str]:
    ca = model.ca_policies
    return ca[(ca["state"] == "enabledForReportingButNotEnforced") & ca[column]]["name"].tolist()


def _how_excluded(model: TenantModel, policy: pd.Series, user_id: str) -> str:
    if user_id in policy["exclude_users"]:
        return "directly"
    for g in policy["exclude_groups"]:
        if user_id in (model.groups.get(g) or {}).get("members", []):
            return f"group {model.groups[g]['name']}"
    holdings = role_condition_holdings(model.role_holdings, policy["exclude_roles"])
    roles = holdings[holdings["user_id"] == user_id]
    if not roles.empty:
        return f"role {roles.iloc[0]['role_name']}"
    return "guests or external users"


def _exclusion_findings(
    model: TenantModel, ctx: RuleContext, policies: pd.DataFrame, extra: pd.Series | None = None
) -> Iterator[Finding]:
    """Users explicitly excluded from at least one of ``policies`` and covered by none of them."""
    users = model.users
    covered = pd.Series(False, index=users.index)
    excluded_any = pd.Series(False, index=users.index)
    scopes = []
    for _, policy in policies.iterrows():
        included, excluded = policy_scope(policy, users, model.groups, model.role_holdings)
        covered |= included & ~excluded
        excluded_any |= included & excluded
        scopes.append((policy, included, excluded))
    mask = users["enabled"] & ~covered & excluded_any
    if extra is not None:
        mask &= ~extra
    for index, row in zip(users.index[mask], rows(users[mask]), strict=True):
        how = [
            {"policy": p["name"], "excluded": _how_excluded(model, p, row.id) if exc[index] else "not included"}
            for p, inc, exc in scopes if inc[index]
        ]
        evidence: dict[str, Any] = {"excluded_from": how, "admin": bool(row.is_admin),
                                    "privileged_admin": bool(row.privileged_admin)}
        if row.is_admin:
            evidence.update(admin_evidence(row))
        yield user_finding(ctx, row, evidence, "high" if row.privileged_admin else None)

def _report_only_mfa_and_block(r: Records) -> None:
    for p in r["conditional_access"]:
        p["state"] = "enabledForReportingButNotEnforced"


def _security_defaults_instead_of_ca(r: Records) -> None:
    r["security_defaults"]["isEnabled"] = True
    r["conditional_access"] = []


def _strength_policy_counts_as_mfa(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = []
    r["conditional_access"][0]["grantControls"]["authenticationStrength"] = {
        "id": "00000000-0000-0000-0000-000000000004", "displayName": "Phishing-resistant MFA"}


def _mfa_or_compliant_device(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = ["mfa", "compliantDevice"]


def _block_policy_group_scoped(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["users"].update(includeUsers=[], includeGroups=["g-staff"])
    r["group_members"] = [{"id": "g-staff", "displayName": "Staff",
                           "members": [{"id": "u-alice"}, {"id": "u-bob"}, {"id": "u-svc"}]}]


def _block_policy_location_scoped(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["locations"] = {"includeLocations": ["All"],
                                                             "excludeLocations": ["loc-hq"]}


def _excluded_users(r: Records) -> None:
    r["users"].append(user("u-pinned", "svc-relay@contoso.com"))
    r["group_members"] = [{"id": "g-exempt", "displayName": "MFA exempt", "members": [{"id": "u-bob"}]}]
    mfa, block = r["conditional_access"]
    mfa["conditions"]["users"].update(excludeGroups=["g-exempt"], excludeUsers=["u-pinned"],
                                      excludeRoles=[GA])
    block["conditions"]["users"].update(excludeUsers=["u-bob"])
    r["conditional_access"].append(ca_policy(
        "ca-pin", "Pin relay", grant=["block"], users={"includeUsers": ["u-pinned"]},
        locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]}))


def _excluded_from_one_block_covered_by_another(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["users"].update(excludeUsers=["u-bob"])
    r["conditional_access"].append(ca_policy("ca-legacy-2", "Block legacy auth (second)", grant=["block"],
                                             client_apps=["exchangeActiveSync", "other"]))


def _au_scoped_role_exclusion(r: Records) -> None:
    # Conditional Access ignores roles scoped to an administrative unit: excluding the role excludes nobody.
    r["role_assignments"].append({"id": "ra-au", "principalId": "u-bob", "roleDefinitionId": HELPDESK,
                                  "directoryScopeId": "/administrativeUnits/au-1"})
    r["conditional_access"][0]["conditions"]["users"]["excludeRoles"] = [HELPDESK]


def _risk_only_mfa(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["signInRiskLevels"] = ["high", "medium"]


def _browser_only_mfa(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["clientAppTypes"] = ["browser"]


def _platform_scoped_block(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["platforms"] = {"includePlatforms": ["android", "iOS"],
                                                             "excludePlatforms": []}


def _excluded_but_risk_policy_only(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["users"]["excludeUsers"] = ["u-bob"]
    risky = ca_policy("ca-risk", "MFA on risky sign-ins", grant=["mfa"])
    risky["conditions"]["signInRiskLevels"] = ["high"]
    # A block outside HQ for browsers only does not pin the account's other clients.
    pin = ca_policy("ca-pin", "Pin bob (browser)", grant=["block"], users={"includeUsers": ["u-bob"]},
                    client_apps=["browser"], locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]})
    r["conditional_access"] += [risky, pin]


def _guest_kinds(r: Records) -> None:
    r["users"].append(user("u-guest", "ann_partner.com#EXT#@contoso.onmicrosoft.com", user_type="Guest"))
    r["users"].append(user("u-b2bm", "joe_partner.com#EXT#@contoso.onmicrosoft.com"))
    mfa = r["conditional_access"][0]
    mfa["conditions"]["users"]["excludeGuestsOrExternalUsers"] = {
        "guestOrExternalUserTypes": "b2bCollaborationGuest,b2bCollaborationMember",
        "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
                            "membershipKind": "all"}}
    # Service-provider users and guests of one partner tenant: neither covers the guests in the directory.
    sp = ca_policy("ca-sp", "MFA for service providers", grant=["mfa"], users={"includeUsers": []})
    sp["conditions"]["users"]["includeGuestsOrExternalUsers"] = {
        "guestOrExternalUserTypes": "serviceProvider",
        "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
                            "membershipKind": "all"}}
    one = ca_policy("ca-one", "MFA for Fabrikam guests", grant=["mfa"], users={"includeUsers": []})
    one["conditions"]["users"]["includeGuestsOrExternalUsers"] = {
        "guestOrExternalUserTypes": "b2bCollaborationGuest",
        "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
                            "membershipKind": "enumerated", "members": ["f00d0000-0000-4000-8000-000000000001"]}}
    r["conditional_access"] += [sp, one]
    r["conditional_access"][1]["conditions"]["users"]["excludeUsers"] = ["GuestsOrExternalUsers"]


REPORT_ONLY_MFA_AND_BLOCK = Case(
    "report-only policies neither require MFA nor block", _report_only_mfa_and_block, {
        ("mfa-no-baseline", "Contoso"): "critical",
        ("legacy-auth-not-blocked", "Contoso"): "high",
    })
SECURITY_DEFAULTS_INSTEAD_OF_CA = Case(
    "security defaults stand in for the MFA and legacy-auth policies", _security_defaults_instead_of_ca, {})
STRENGTH_POLICY_COUNTS_AS_MFA = Case(
    "an authentication-strength policy counts as MFA", _strength_policy_counts_as_mfa, {})
MFA_OR_COMPLIANT_DEVICE = Case("MFA OR compliant device does not require MFA", _mfa_or_compliant_device, {
    ("mfa-no-baseline", "Contoso"): "critical",
})
BLOCK_POLICY_GROUP_SCOPED = Case("a group-scoped block policy is not a baseline", _block_policy_group_scoped, {
    ("legacy-auth-not-blocked", "Contoso"): "high",
})
BLOCK_POLICY_LOCATION_SCOPED = Case(
    "a block policy with a location exclusion does not block legacy auth", _block_policy_location_scoped, {
        ("legacy-auth-not-blocked", "Contoso"): "high",
    })
EXCLUDED_USERS = Case("exclusions: by group, by role, directly; pinned account exempt", _excluded_users, {
    ("ca-mfa-excluded", "bob@contoso.com"): "medium",
    ("ca-mfa-excluded", "alice@contoso.com"): "high",
    ("legacy-auth-block-excluded", "bob@contoso.com"): "medium",
})
EXCLUDED_FROM_ONE_BLOCK_COVERED_BY_ANOTHER = Case(
    "a user excluded from one block policy but covered by another", _excluded_from_one_block_covered_by_another, {})
AU_SCOPED_ROLE_EXCLUSION = Case("an AU-scoped role is not a CA role exclusion", _au_scoped_role_exclusion, {})
RISK_ONLY_MFA = Case("a risk-conditioned MFA policy is not a baseline", _risk_only_mfa, {
    ("mfa-no-baseline", "Contoso"): "critical",
})
BROWSER_ONLY_MFA = Case("a browser-only MFA policy is not a baseline", _browser_only_mfa, {
    ("mfa-no-baseline", "Contoso"): "critical",
})
PLATFORM_SCOPED_BLOCK = Case("a platform-scoped block does not block legacy auth", _platform_scoped_block, {
    ("legacy-auth-not-blocked", "Contoso"): "high",
})
EXCLUDED_BUT_RISK_POLICY_ONLY = Case(
    "excluded from the baseline, only a risk policy and a browser pin left", _excluded_but_risk_policy_only, {
        ("ca-mfa-excluded", "bob@contoso.com"): "medium",
    })
GUEST_KINDS = Case(
    "guest exclusions by kind; service-provider and one-tenant inclusions cover no guest", _guest_kinds, {
        ("ca-mfa-excluded", "ann_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("ca-mfa-excluded", "joe_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("legacy-auth-block-excluded", "ann_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("legacy-auth-block-excluded", "joe_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
    })


@rule(
    id="mfa-no-baseline",
    order=100,
    title="No MFA baseline for all users",
    severity="critical",
    needs=("security_defaults", "conditional_access"),
    rationale="Without security defaults or a Conditional Access policy requiring MFA for everyone on every "
    "app, some sign-ins are protected by a password alone.",
    remediation="Create (or switch from report-only to On) a Conditional Access policy: All users, All cloud "
    "apps, grant: require MFA or an authentication strength; exclude only break-glass accounts.",
    cases=(
        REPORT_ONLY_MFA_AND_BLOCK,
        MFA_OR_COMPLIANT_DEVICE,
        RISK_ONLY_MFA,
        BROWSER_ONLY_MFA,
        STRENGTH_POLICY_COUNTS_AS_MFA,
        SECURITY_DEFAULTS_INSTEAD_OF_CA,
    ),
)
def mfa_no_baseline(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Security defaults off and no *enabled* CA policy requires MFA (built-in ``mfa`` or an
    authentication strength, not merely one of several OR'ed controls) for All users on All cloud apps.
    Report-only policies do not count, nor do policies that apply only under extra conditions (sign-in
    or user risk, some platforms, a device filter, only some modern client apps); both are listed in the
    evidence."""
    if model.security_defaults_enabled:
        return
    enabled = _enabled(model, "requires_mfa")
    if (enabled["all_users"] & enabled["all_apps"]).any():
        return
    evidence = {
        "security_defaults": _security_defaults(model),
        "enabled_mfa_policies": enabled["name"].tolist(),
        "report_only_mfa_policies": _report_only(model, "requires_mfa"),
    }
    conditional = _conditional(model, "grants_mfa")
    if conditional:
        evidence["conditional_mfa_policies"] = conditional
    yield tenant_finding(ctx, model, evidence)


@rule(
    id="legacy-auth-not-blocked",
    order=110,
    title="Legacy authentication is not blocked for all users",
    severity="high",
    needs=("security_defaults", "conditional_access"),
    rationale="Legacy protocols (IMAP, POP, SMTP AUTH, ActiveSync basic, older Office clients) cannot do MFA; "
    "password spray against them succeeds where modern sign-ins would be challenged.",
    remediation="Create (or switch on) a Conditional Access policy: All users, All cloud apps, client apps "
    "'Exchange ActiveSync clients' and 'Other clients', grant: block.",
    cases=(
        REPORT_ONLY_MFA_AND_BLOCK,
        BLOCK_POLICY_GROUP_SCOPED,
        BLOCK_POLICY_LOCATION_SCOPED,
        PLATFORM_SCOPED_BLOCK,
        SECURITY_DEFAULTS_INSTEAD_OF_CA,
    ),
)
def legacy_auth_not_blocked(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Security defaults off and no enabled CA policy blocks client app types ``exchangeActiveSync`` and
    ``other`` for All users. Report-only policies do not block, nor do blocks limited to some locations or
    to extra conditions (risk, platforms, a device filter)."""
    if model.security_defaults_enabled:
        return
    enabled = _enabled(model, "blocks_legacy")
    if enabled["all_users"].any():
        return
    yield tenant_finding(ctx, model, {
        "security_defaults": _security_defaults(model),
        "enabled_blocking_policies": enabled["name"].tolist(),
        "report_only_blocking_policies": _report_only(model, "blocks_legacy"),
    })


@rule(
    id="legacy-auth-block-excluded",
    order=120,
    title="User excluded from legacy-auth blocking",
    severity="medium",
    escalation="high for privileged admins",
    needs=CA_USER_SOURCES,
    rationale="An account excluded from legacy-auth blocking can be password-sprayed over protocols with no MFA.",
    remediation="Remove the exclusion. If a legacy application needs it, use a dedicated service account "
    "pinned to the application's egress IP with a location-based block policy.",
    cases=(EXCLUDED_USERS, GUEST_KINDS, EXCLUDED_FROM_ONE_BLOCK_COVERED_BY_ANOTHER),
)
def legacy_auth_block_excluded(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled users explicitly excluded (directly, by group, or by active role) from a legacy-auth blocking
    policy and covered by none of the enabled ones. Nothing fires under security defaults (no exclusions)
    or when no enabled blocking policy exists (``legacy-auth-not-blocked`` covers that)."""
    if model.security_defaults_enabled:
        return
    policies = _enabled(model, "blocks_legacy")
    if policies.empty:
        return
    yield from _exclusion_findings(model, ctx, policies)


@rule(
    id="ca-mfa-excluded",
    order=130,
    title="User excluded from MFA policies",
    severity="medium",
    escalation="high for privileged admins",
    needs=CA_USER_SOURCES,
    rationale="An account excluded from every MFA policy signs in with a password alone.",
    remediation="Remove the exclusion, or pin the account to its egress IP with a block-outside-location "
    "policy (the accepted way to exempt a service account).",
    cases=(EXCLUDED_USERS, EXCLUDED_BUT_RISK_POLICY_ONLY, GUEST_KINDS, AU_SCOPED_ROLE_EXCLUSION),
)
def ca_mfa_excluded(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled users explicitly excluded from an enabled MFA-requiring CA policy and covered by none of
    them, unless an enabled block policy for all apps restricts the user to named locations."""
    policies = _enabled(model, "requires_mfa")
    if policies.empty:
        return
    users = model.users
    pinned = pd.Series(False, index=users.index)
    for _, policy in model.ca_policies.iterrows():
        if pins_to_location(policy):
            included, excluded = policy_scope(policy, users, model.groups, model.role_holdings)
            pinned |= included & ~excluded
    yield from _exclusion_findings(model, ctx, policies, pinned)
