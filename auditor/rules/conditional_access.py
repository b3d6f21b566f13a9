"""Rules about Conditional Access coverage: the MFA baseline, legacy-auth blocking and who is excluded.

Every Conditional Access decision (what a policy counts for, who it covers, who is excluded and how) is made once in
the model — ``auditor.model.ca_semantics`` per policy, ``auditor.model.coverage`` per user and
``auditor.model.baselines`` per tenant, following rules.md "Conditional Access semantics (v2)". These rules only read
those tables and decide severities, evidence and remediation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from auditor.findings import Finding
from auditor.model.tenant import TenantModel
from auditor.rules.common import admin_evidence, rows, special_account, tenant_finding, user_finding, with_coverage
from auditor.rules.registry import Case, RuleContext, rule
from auditor.testing import (
    GA,
    HELPDESK,
    Records,
    add_admin,
    admin_policy_for_portals_only,
    ago,
    ca_policy,
    set_mfa,
    user,
)

CA_USER_SOURCES = ("users", "conditional_access", "group_members", "role_definitions", "role_assignments")
AZURE_MANAGEMENT = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
EXCHANGE_ONLINE = "00000002-0000-0ff1-ce00-000000000000"
DIRECTORY_SYNC = "d29b2b05-8046-44ba-8758-1e26182fcf32"


def _security_defaults(model: TenantModel) -> bool | str:
    return "unknown" if model.security_defaults_enabled is None else model.security_defaults_enabled


def _not_counted(model: TenantModel, grants: tuple[str, ...]) -> list[dict[str, Any]]:
    """Policies with one of ``grants`` that count for nothing, and why (from the model's baselines)."""
    return [p for p in model.baselines.not_counted if p["grant"] in grants]


def _joined(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model's ``{policy, how, applies}`` as ``{policy, excluded}`` (how, in words) plus ``applies``."""
    return [
        {
            "policy": e["policy"],
            "excluded": ", ".join(e["how"]) or "guests or external users",
            **({"applies": e["applies"]} if e["applies"] != "always" else {}),
        }
        for e in items
    ]


def _exclusion_remediation(kind: str, row: Any, cov_items: list[dict[str, Any]], applies: str) -> str:
    """Remediation that fits the excluded account: never "pin to an IP" for a person or an admin."""
    policies = ", ".join(sorted({e["policy"] for e in cov_items})) or "the policy"
    if applies == "on activation":
        return (
            f"Remove the role exclusion from {policies}: an eligible holder of an excluded role is exempt exactly "
            "while the role is active. Exclude the emergency access accounts by name or group instead, and list "
            "them in classification.emergency_access."
        )
    if row.is_service_account and not row.is_admin:
        if kind == "mfa":
            return (
                f"Remove the exclusion from {policies}. If the service cannot do MFA, pin the account to its "
                "egress IP with a block-outside-named-location policy (All resources, the client types it uses), "
                "or move it to a workload identity."
            )
        return (
            f"Move the application to modern authentication (OAuth) and remove the exclusion from {policies}; "
            "until then pin the account to its egress IP with a block-outside-named-location policy."
        )
    return (
        f"Remove the exclusion from {policies}. If this is an emergency access (break-glass) account, list it in "
        "classification.emergency_access: it is then checked as one instead."
    )


def _report_only_mfa_and_block(r: Records) -> None:
    for p in r["conditional_access"]:
        p["state"] = "enabledForReportingButNotEnforced"


def _security_defaults_instead_of_ca(r: Records) -> None:
    r["security_defaults"]["isEnabled"] = True
    r["conditional_access"] = []


def _strength_policy_counts_as_mfa(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = []
    r["conditional_access"][0]["grantControls"]["authenticationStrength"] = {
        "id": "00000000-0000-0000-0000-000000000004",
        "displayName": "Phishing-resistant MFA",
    }


def _strength_without_mfa(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = []
    r["conditional_access"][0]["grantControls"]["authenticationStrength"] = {
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "displayName": "Password only",
        "requirementsSatisfied": "none",
    }


def _mfa_or_compliant_device(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = ["mfa", "compliantDevice"]


def _mfa_or_terms_of_use(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = ["mfa"]
    r["conditional_access"][0]["grantControls"]["termsOfUse"] = ["tou-1"]


def _every_member_enforced_no_ca_mfa(r: Records) -> None:
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    r["conditional_access"] = r["conditional_access"][1:]
    for state in r["per_user_mfa"]:
        state["perUserMfaState"] = "enforced"


def _some_members_enforced_no_ca_mfa(r: Records) -> None:
    r["conditional_access"] = r["conditional_access"][1:]
    set_mfa(r, "u-svc", "enforced")


def _block_policy_group_scoped(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["users"].update(includeUsers=[], includeGroups=["g-staff"])
    r["group_members"] = [
        {"id": "g-staff", "displayName": "Staff", "members": [{"id": "u-alice"}, {"id": "u-bob"}, {"id": "u-svc"}]}
    ]


def _legacy_block_exempts_one_24(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["locations"] = {
        "includeLocations": ["All"],
        "excludeLocations": ["loc-hq"],
    }


def _legacy_block_only_in_some_locations(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["locations"] = {"includeLocations": ["loc-hq"], "excludeLocations": []}


def _legacy_block_split(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["clientAppTypes"] = ["exchangeActiveSync"]
    r["conditional_access"].append(
        ca_policy("ca-legacy-other", "Block other legacy clients", grant=["block"], client_apps=["other"])
    )


def _legacy_block_other_only(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["clientAppTypes"] = ["other"]


def _legacy_block_excludes_exchange(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["applications"]["excludeApplications"] = [EXCHANGE_ONLINE]


def _mfa_baseline_excludes_exchange(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["applications"]["excludeApplications"] = [EXCHANGE_ONLINE]


def _excluded_users(r: Records) -> None:
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    r["users"].append(user("u-pinned", "svc-relay@contoso.com"))
    r["group_members"] = [{"id": "g-exempt", "displayName": "MFA exempt", "members": [{"id": "u-bob"}]}]
    mfa, block = r["conditional_access"][:2]
    mfa["conditions"]["users"].update(excludeGroups=["g-exempt"], excludeUsers=["u-pinned"], excludeRoles=[GA])
    block["conditions"]["users"].update(excludeUsers=["u-bob"])
    r["conditional_access"].append(
        ca_policy(
            "ca-pin",
            "Pin relay",
            grant=["block"],
            users={"includeUsers": ["u-pinned"]},
            locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]},
        )
    )


def _excluded_from_one_block_covered_by_another(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["users"].update(excludeUsers=["u-bob"])
    r["conditional_access"].append(
        ca_policy(
            "ca-legacy-2", "Block legacy auth (second)", grant=["block"], client_apps=["exchangeActiveSync", "other"]
        )
    )


def _au_scoped_role_exclusion(r: Records) -> None:
    # Conditional Access ignores roles scoped to an administrative unit: excluding the role excludes nobody.
    r["role_assignments"].append(
        {
            "id": "ra-au",
            "principalId": "u-bob",
            "roleDefinitionId": HELPDESK,
            "directoryScopeId": "/administrativeUnits/au-1",
        }
    )
    r["conditional_access"][0]["conditions"]["users"]["excludeRoles"] = [HELPDESK]


def _risk_only_mfa(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["signInRiskLevels"] = ["high", "medium"]


def _browser_only_mfa(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["clientAppTypes"] = ["browser"]


def _platform_scoped_block(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["platforms"] = {
        "includePlatforms": ["android", "iOS"],
        "excludePlatforms": [],
    }


def _excluded_but_risk_policy_only(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["users"]["excludeUsers"] = ["u-bob"]
    risky = ca_policy("ca-risk", "MFA on risky sign-ins", grant=["mfa"])
    risky["conditions"]["signInRiskLevels"] = ["high"]
    # A block outside HQ for browsers only does not pin the account's other clients.
    pin = ca_policy(
        "ca-pin",
        "Pin bob (browser)",
        grant=["block"],
        users={"includeUsers": ["u-bob"]},
        client_apps=["browser"],
        locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]},
    )
    r["conditional_access"] += [risky, pin]


def _excluded_but_azure_management_policy(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["users"]["excludeUsers"] = ["u-bob"]
    azure = ca_policy("ca-azure", "MFA for Azure management", grant=["mfa"], apps=[AZURE_MANAGEMENT])
    register = ca_policy("ca-register", "MFA to register security info", grant=["mfa"], apps=[])
    register["conditions"]["applications"]["includeUserActions"] = ["urn:user:registersecurityinfo"]
    r["conditional_access"] += [azure, register]


def _excluded_but_second_all_apps_policy(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["users"]["excludeUsers"] = ["u-bob"]
    r["group_members"] = [{"id": "g-sales", "displayName": "Sales", "members": [{"id": "u-bob"}]}]
    r["conditional_access"].append(
        ca_policy("ca-sales", "MFA for Sales", grant=["mfa"], users={"includeUsers": [], "includeGroups": ["g-sales"]})
    )


def _guest_kinds(r: Records) -> None:
    r["users"].append(user("u-guest", "ann_partner.com#EXT#@contoso.onmicrosoft.com", user_type="Guest"))
    r["users"].append(user("u-b2bm", "joe_partner.com#EXT#@contoso.onmicrosoft.com"))
    mfa = r["conditional_access"][0]
    mfa["conditions"]["users"]["excludeGuestsOrExternalUsers"] = {
        "guestOrExternalUserTypes": "b2bCollaborationGuest,b2bCollaborationMember",
        "externalTenants": {
            "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
            "membershipKind": "all",
        },
    }
    # Service-provider users and guests of one partner tenant: neither covers the guests in the directory.
    sp = ca_policy("ca-sp", "MFA for service providers", grant=["mfa"], users={"includeUsers": []})
    sp["conditions"]["users"]["includeGuestsOrExternalUsers"] = {
        "guestOrExternalUserTypes": "serviceProvider",
        "externalTenants": {
            "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
            "membershipKind": "all",
        },
    }
    one = ca_policy("ca-one", "MFA for Fabrikam guests", grant=["mfa"], users={"includeUsers": []})
    one["conditions"]["users"]["includeGuestsOrExternalUsers"] = {
        "guestOrExternalUserTypes": "b2bCollaborationGuest",
        "externalTenants": {
            "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
            "membershipKind": "enumerated",
            "members": ["f00d0000-0000-4000-8000-000000000001"],
        },
    }
    r["conditional_access"] += [sp, one]
    r["conditional_access"][1]["conditions"]["users"]["excludeUsers"] = ["GuestsOrExternalUsers"]


def _break_glass_excluded(r: Records) -> None:
    """Two break-glass accounts: permanent active Global Administrators excluded from every policy (Microsoft,
    CIS 1.1.2). Listed in classification.emergency_access by the case's config (one by UPN, one by group)."""
    add_admin(r, "u-bg1", "bg-01@contoso.com")
    add_admin(r, "u-bg2", "bg-02@contoso.com")
    r["group_members"] = [{"id": "g-bg", "displayName": "Emergency access", "members": [{"id": "u-bg2"}]}]
    for p in r["conditional_access"]:
        p["conditions"]["users"].update(excludeUsers=["u-bg1"], excludeGroups=["g-bg"])


def _sync_account(uid: str = "u-sync", also: str | None = None) -> Any:
    def mutate(r: Records) -> None:
        r["role_definitions"].append(
            {
                "id": DIRECTORY_SYNC,
                "templateId": DIRECTORY_SYNC,
                "displayName": "Directory Synchronization Accounts",
                "isBuiltIn": True,
            }
        )
        upn = "Sync_CONTOSO-DC1_1a2b3c@contoso.onmicrosoft.com"
        add_admin(r, uid, upn, role=DIRECTORY_SYNC)
        # the sync service signs in non-interactively only
        r["users"][-1]["signInActivity"] = {
            "lastNonInteractiveSignInDateTime": ago(0.1),
            "lastSuccessfulSignInDateTime": ago(0.1),
        }
        r["registration_details"][-1].update(isMfaRegistered=False, isMfaCapable=False, methodsRegistered=[])
        if also:
            r["role_assignments"].append(
                {"id": f"ra-{uid}-2", "principalId": uid, "roleDefinitionId": also, "directoryScopeId": "/"}
            )
        for p in r["conditional_access"]:
            p["conditions"]["users"]["excludeUsers"] = [uid]

    return mutate


def _eligible_ga_behind_role_exclusion(r: Records) -> None:
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    r["users"].append(user("u-pim", "pim@contoso.com"))
    r["per_user_mfa"].append({"id": "u-pim", "perUserMfaState": "disabled"})
    r["registration_details"].append(
        {"id": "u-pim", "isMfaRegistered": True, "isMfaCapable": True, "methodsRegistered": ["fido2SecurityKey"]}
    )
    r["role_eligibility"] = [
        {"id": "e1", "principalId": "u-pim", "roleDefinitionId": GA, "directoryScopeId": "/", "memberType": "Direct"}
    ]
    r["conditional_access"][0]["conditions"]["users"]["excludeRoles"] = [GA]
    r["conditional_access"][1]["conditions"]["users"]["excludeRoles"] = [GA]


def _excluded_role_nobody_holds(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["users"]["excludeRoles"] = [HELPDESK]


REPORT_ONLY_MFA_AND_BLOCK = Case(
    "report-only policies neither require MFA nor block",
    _report_only_mfa_and_block,
    {
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("mfa-no-baseline", "Contoso"): "critical",
        ("legacy-auth-not-blocked", "Contoso"): "high",
    },
)
SECURITY_DEFAULTS_INSTEAD_OF_CA = Case(
    "security defaults stand in for the MFA and legacy-auth policies",
    _security_defaults_instead_of_ca,
    {
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
    },
)
STRENGTH_POLICY_COUNTS_AS_MFA = Case(
    "an authentication-strength policy counts as MFA", _strength_policy_counts_as_mfa, {}
)
STRENGTH_WITHOUT_MFA = Case(
    "an authentication strength whose requirementsSatisfied is none is not MFA",
    _strength_without_mfa,
    {
        ("mfa-no-baseline", "Contoso"): "critical",
    },
)
MFA_OR_COMPLIANT_DEVICE = Case(
    "the MFA-or-compliant-device template is a baseline, not 'no MFA baseline'",
    _mfa_or_compliant_device,
    {("mfa-baseline-device-alternative", "Contoso"): "medium"},
)
MFA_OR_TERMS_OF_USE = Case(
    "MFA OR'ed with terms of use requires no MFA",
    _mfa_or_terms_of_use,
    {
        ("mfa-no-baseline", "Contoso"): "critical",
    },
)
EVERY_MEMBER_ENFORCED = Case(
    "no CA MFA but every enabled member has per-user MFA enforced: high, not critical",
    _every_member_enforced_no_ca_mfa,
    {
        ("admin-app-passwords", "breakglass1@contoso.onmicrosoft.com"): "low",
        ("admin-app-passwords", "breakglass2@contoso.onmicrosoft.com"): "low",
        ("mfa-no-baseline", "Contoso"): "high",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "medium",
        ("daily-account-per-user-mfa", "bob@contoso.com"): "medium",
        ("admin-app-passwords", "alice@contoso.com"): "low",
        ("per-user-mfa-migration-gap", "alice@contoso.com"): "high",
        ("per-user-mfa-migration-gap", "bob@contoso.com"): "medium",
        ("per-user-mfa-migration-gap", "svc-backup@contoso.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
    },
)
SOME_MEMBERS_ENFORCED = Case(
    "no CA MFA and only some members on per-user MFA: critical",
    _some_members_enforced_no_ca_mfa,
    {
        ("mfa-no-baseline", "Contoso"): "critical",
        ("per-user-mfa-migration-gap", "svc-backup@contoso.com"): "medium",
    },
)
BLOCK_POLICY_GROUP_SCOPED = Case(
    "a group-scoped block policy is not a baseline",
    _block_policy_group_scoped,
    {
        ("legacy-auth-not-blocked", "Contoso"): "high",
    },
)
LEGACY_BLOCK_EXEMPTS_ONE_24 = Case(
    "a legacy block exempting one /24 still blocks everywhere else: no tenant-wide high",
    _legacy_block_exempts_one_24,
    {("legacy-auth-block-location-exempt", "Block legacy auth"): "medium"},
)
LEGACY_BLOCK_ONLY_IN_SOME_LOCATIONS = Case(
    "a legacy block applying only inside a named location blocks nothing elsewhere",
    _legacy_block_only_in_some_locations,
    {("legacy-auth-not-blocked", "Contoso"): "high"},
)
LEGACY_BLOCK_SPLIT = Case("a legacy block split across two policies counts as their union", _legacy_block_split, {})
LEGACY_BLOCK_OTHER_ONLY = Case(
    "a legacy block for 'other' only leaves Exchange ActiveSync open",
    _legacy_block_other_only,
    {("legacy-auth-not-blocked", "Contoso"): "high"},
)
LEGACY_BLOCK_EXCLUDES_EXCHANGE = Case(
    "a legacy block excluding Exchange Online blocks nothing that matters",
    _legacy_block_excludes_exchange,
    {
        ("legacy-auth-not-blocked", "Contoso"): "high",
        ("ca-baseline-excludes-apps", "Block legacy auth"): "high",
    },
)
MFA_BASELINE_EXCLUDES_EXCHANGE = Case(
    "an MFA baseline excluding Exchange Online is still a (partial) baseline",
    _mfa_baseline_excludes_exchange,
    {("ca-baseline-excludes-apps", "MFA for everyone"): "high"},
)
EXCLUDED_USERS = Case(
    "exclusions: by group, by role, directly; pinned account exempt",
    _excluded_users,
    {
        ("ca-mfa-excluded", "bob@contoso.com"): "medium",
        ("ca-mfa-excluded", "alice@contoso.com"): "high",
        ("legacy-auth-block-excluded", "bob@contoso.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
    },
)
ADMIN_EXCLUDED_BUT_INSIDE_ADMIN_POLICY = Case(
    "a Global Administrator excluded from MFA for everyone but inside the admins' phishing-resistant policy for All "
    "resources (Microsoft's template): covered, no finding",
    lambda r: r["conditional_access"][0]["conditions"]["users"].update(excludeUsers=["u-alice"]),
    {},
)
EXCLUDED_FROM_ONE_BLOCK_COVERED_BY_ANOTHER = Case(
    "a user excluded from one block policy but covered by another", _excluded_from_one_block_covered_by_another, {}
)
AU_SCOPED_ROLE_EXCLUSION = Case(
    "an AU-scoped role is not a CA role exclusion",
    _au_scoped_role_exclusion,
    {
        ("admin-no-phishing-resistant-mfa", "bob@contoso.com"): "medium",
    },
)
RISK_ONLY_MFA = Case(
    "a risk-conditioned MFA policy is not a baseline",
    _risk_only_mfa,
    {
        ("mfa-no-baseline", "Contoso"): "critical",
    },
)
BROWSER_ONLY_MFA = Case(
    "a browser-only MFA policy is not a baseline",
    _browser_only_mfa,
    {
        ("mfa-no-baseline", "Contoso"): "critical",
    },
)
PLATFORM_SCOPED_BLOCK = Case(
    "a platform-scoped block does not block legacy auth",
    _platform_scoped_block,
    {
        ("legacy-auth-not-blocked", "Contoso"): "high",
    },
)
EXCLUDED_BUT_RISK_POLICY_ONLY = Case(
    "excluded from the baseline, only a risk policy and a browser pin left",
    _excluded_but_risk_policy_only,
    {
        ("ca-mfa-excluded", "bob@contoso.com"): "medium",
    },
)
EXCLUDED_BUT_AZURE_MANAGEMENT_POLICY = Case(
    "excluded from the all-apps MFA policy, included in Azure-management-only and register-security-info ones",
    _excluded_but_azure_management_policy,
    {("ca-mfa-excluded", "bob@contoso.com"): "medium"},
)
EXCLUDED_BUT_SECOND_ALL_APPS_POLICY = Case(
    "excluded from the all-users MFA policy, covered by a group-scoped all-apps one",
    _excluded_but_second_all_apps_policy,
    {},
)
GUEST_KINDS = Case(
    "guest exclusions by kind; service-provider and one-tenant inclusions cover no guest",
    _guest_kinds,
    {
        ("ca-mfa-excluded", "ann_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("ca-mfa-excluded", "joe_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("legacy-auth-block-excluded", "ann_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("legacy-auth-block-excluded", "joe_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
    },
)
BREAK_GLASS_EXCLUDED = Case(
    "break-glass accounts excluded from Conditional Access (configured as emergency access)",
    _break_glass_excluded,
    {},
    config={"classification": {"emergency_access": ["bg-01@contoso.com", "Emergency access"]}},
)
BREAK_GLASS_NOT_CONFIGURED = Case(
    "the same excluded Global Administrators, not configured as emergency access",
    _break_glass_excluded,
    {
        ("admin-no-phishing-resistant-mfa", "bg-01@contoso.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "bg-02@contoso.com"): "medium",
        ("ca-mfa-excluded", "bg-01@contoso.com"): "high",
        ("ca-mfa-excluded", "bg-02@contoso.com"): "high",
        ("legacy-auth-block-excluded", "bg-01@contoso.com"): "high",
        ("legacy-auth-block-excluded", "bg-02@contoso.com"): "high",
    },
)
SYNC_ACCOUNT_EXCLUDED = Case(
    "the Entra Connect sync account, excluded from CA and without MFA, is a service identity", _sync_account(), {}
)
SYNC_ACCOUNT_WITH_ANOTHER_ROLE = Case(
    "a sync account that also holds Global Administrator is an admin like any other",
    _sync_account(also=GA),
    {
        ("admin-no-phishing-resistant-mfa", "Sync_CONTOSO-DC1_1a2b3c@contoso.onmicrosoft.com"): "medium",
        ("ca-mfa-excluded", "Sync_CONTOSO-DC1_1a2b3c@contoso.onmicrosoft.com"): "high",
        ("legacy-auth-block-excluded", "Sync_CONTOSO-DC1_1a2b3c@contoso.onmicrosoft.com"): "high",
        ("admin-no-mfa-method", "Sync_CONTOSO-DC1_1a2b3c@contoso.onmicrosoft.com"): "critical",
        ("sync-account-risk", "Sync_CONTOSO-DC1_1a2b3c@contoso.onmicrosoft.com"): "high",
    },
)
ELIGIBLE_GA_BEHIND_ROLE_EXCLUSION = Case(
    "a PIM-eligible Global Administrator behind a role exclusion fires, applies on activation",
    _eligible_ga_behind_role_exclusion,
    {
        ("ca-mfa-excluded", "pim@contoso.com"): "high",
        ("ca-mfa-excluded", "alice@contoso.com"): "high",
        ("legacy-auth-block-excluded", "pim@contoso.com"): "high",
        ("legacy-auth-block-excluded", "alice@contoso.com"): "high",
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "pim@contoso.com"): "medium",
    },
)
EXCLUDED_ROLE_NOBODY_HOLDS = Case(
    "excluding a role nobody holds or is eligible for excludes nobody", _excluded_role_nobody_holds, {}
)


def _per_user_counts(model: TenantModel) -> dict[str, int]:
    users = model.users
    members = users["enabled"] & users["user_type"].str.lower().eq("member") & ~users["is_sync_account"]
    counts = users["per_user_mfa"][members].fillna("unknown").value_counts()  # one column, not every row copied
    return {
        "enabled_members": int(members.sum()),
        **{s: int(counts.get(s, 0)) for s in ("enforced", "enabled", "disabled", "unknown")},
    }


@rule(
    id="mfa-no-baseline",
    order=100,
    title="No MFA baseline for all users",
    severity="critical",
    escalation="high when every enabled member has per-user MFA enforced",
    needs=("security_defaults", "conditional_access"),
    rationale="Without security defaults or a Conditional Access policy requiring MFA for everyone on every "
    "app, some sign-ins are protected by a password alone.",
    remediation="Create (or switch from report-only to On) a Conditional Access policy: All users, All resources, "
    "grant: require MFA or an authentication strength; exclude only the emergency access accounts. Without "
    "Entra ID P1, turn on security defaults.",
    cases=(
        REPORT_ONLY_MFA_AND_BLOCK,
        MFA_OR_COMPLIANT_DEVICE,
        MFA_OR_TERMS_OF_USE,
        STRENGTH_WITHOUT_MFA,
        RISK_ONLY_MFA,
        BROWSER_ONLY_MFA,
        EVERY_MEMBER_ENFORCED,
        SOME_MEMBERS_ENFORCED,
        MFA_BASELINE_EXCLUDES_EXCHANGE,
        STRENGTH_POLICY_COUNTS_AS_MFA,
        SECURITY_DEFAULTS_INSTEAD_OF_CA,
    ),
)
def mfa_no_baseline(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Security defaults off and no in-force MFA baseline: a policy in state On for All users and All resources,
    requiring MFA (built-in ``mfa``, or an authentication strength whose ``requirementsSatisfied`` is ``mfa``) — not
    merely one of several OR'ed controls — and not narrowed by risk, platform, device filter, client apps or an
    include-only location. MFA OR compliant/hybrid-joined device (Microsoft's template) and a baseline excluding some
    apps still count: their weakness is reported by their own rules. Report-only, narrowed and app-, user-action- or
    authentication-context-scoped policies are listed with the reason they do not count (Microsoft Learn "Require MFA
    for all users"; CIS 5.2.2.2; SCuBA MS.AAD.3.2v2). High instead of critical when every enabled member (sync
    accounts aside) has per-user MFA ``enforced``: per-user MFA is then the tenant's MFA."""
    if model.security_defaults_enabled or model.baselines.has_mfa_baseline:
        return
    counts = _per_user_counts(model)
    per_user_only = counts["enabled_members"] > 0 and counts["enforced"] == counts["enabled_members"]
    sem = model.ca_semantics
    evidence: dict[str, Any] = {
        "security_defaults": _security_defaults(model),
        "enabled_mfa_policies": [p.name for p in rows(sem) if p.in_force and p.mfa and not p.narrowed_by],
        "report_only_mfa_policies": [
            p.name for p in rows(sem) if p.state == "enabledForReportingButNotEnforced" and (p.mfa or p.mfa_via)
        ],
        "policies_not_counted": _not_counted(model, ("mfa", "mfa or device")),
        "per_user_mfa": counts,
    }
    conditional = [
        {"policy": p.name, "only_when": list(p.narrowed_by)}
        for p in rows(sem)
        if p.in_force and (p.mfa or p.mfa_via) and p.narrowed_by
    ]
    if conditional:
        evidence["conditional_mfa_policies"] = conditional
    remediation = None
    if per_user_only:
        evidence["mfa_by"] = "per-user MFA enforced for every enabled member"
        remediation = (
            "Per-user MFA is this tenant's only MFA. Turn on security defaults, or (with Entra ID P1) "
            "create a Conditional Access MFA policy for All users and All resources; then set per-user "
            "MFA to disabled."
        )
    yield tenant_finding(ctx, model, evidence, "high" if per_user_only else None, remediation)


@rule(
    id="legacy-auth-not-blocked",
    order=110,
    title="Legacy authentication is not blocked for all users",
    severity="high",
    needs=("security_defaults", "conditional_access"),
    rationale="Legacy protocols (IMAP, POP, SMTP AUTH, ActiveSync basic, older Office clients) cannot do MFA; "
    "password spray against them succeeds where modern sign-ins would be challenged.",
    remediation="Create (or switch on) a Conditional Access policy: All users, All resources, client apps "
    "'Exchange ActiveSync clients' and 'Other clients', grant: block; exclude no Exchange Online or Office 365.",
    cases=(
        REPORT_ONLY_MFA_AND_BLOCK,
        BLOCK_POLICY_GROUP_SCOPED,
        LEGACY_BLOCK_ONLY_IN_SOME_LOCATIONS,
        LEGACY_BLOCK_OTHER_ONLY,
        LEGACY_BLOCK_EXCLUDES_EXCHANGE,
        PLATFORM_SCOPED_BLOCK,
        LEGACY_BLOCK_SPLIT,
        LEGACY_BLOCK_EXEMPTS_ONE_24,
        SECURITY_DEFAULTS_INSTEAD_OF_CA,
    ),
)
def legacy_auth_not_blocked(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Security defaults off and the in-force legacy blocks for All users — their union, per client type — leave
    ``exchangeActiveSync`` or ``other`` open. A block excluding Exchange Online or ``Office365`` blocks nothing that
    matters (legacy protocols are Exchange endpoints) and does not count; a block that exempts named locations still
    blocks everywhere else and counts (``legacy-auth-block-location-exempt`` reports the exemption). Report-only,
    group-scoped, include-only-location and risk/platform/device-filtered blocks do not count and are listed
    (Microsoft Learn "Block legacy authentication"; CIS 5.2.2.3; SCuBA MS.AAD.1.1v1)."""
    b = model.baselines
    if model.security_defaults_enabled or not b.legacy_open_types:
        return
    sem = model.ca_semantics
    evidence: dict[str, Any] = {
        "security_defaults": _security_defaults(model),
        "open_client_types": list(b.legacy_open_types),
        "blocked_client_types": list(b.legacy_blocked_types),
        "enabled_blocking_policies": list(b.legacy_blocks),
        "report_only_blocking_policies": [
            p.name for p in rows(sem) if p.blocks and p.legacy_types and p.state == "enabledForReportingButNotEnforced"
        ],
        "policies_not_counted": _not_counted(model, ("block",)),
    }
    if b.legacy_ineffective:
        evidence["blocks_excluding_exchange"] = list(b.legacy_ineffective)
    yield tenant_finding(ctx, model, evidence)


def _exclusion_findings(model: TenantModel, ctx: RuleContext, kind: str) -> Iterator[Finding]:
    users = model.users
    cov = model.coverage
    column = "mfa_exclusion" if kind == "mfa" else "legacy_exclusion"
    mask = users["enabled"].to_numpy() & cov[column].notna().to_numpy() & ~special_account(users).to_numpy()
    if kind == "mfa":
        mask &= ~cov["pinned"].to_numpy(dtype=bool)
    for row, c in with_coverage(model, mask):
        items = c.mfa_excluded_by if kind == "mfa" else c.legacy_excluded_by
        applies = c.mfa_exclusion if kind == "mfa" else c.legacy_exclusion
        admin = bool(row.counts_as_admin)
        evidence: dict[str, Any] = {
            "excluded_from": _joined(items),
            "applies": applies,
            "admin": admin,
            "privileged_admin": bool(row.privileged_admin and admin),
        }
        if kind == "mfa":
            evidence["covered_by"] = list(c.mfa_covered_by)
            others = _not_counted(model, ("mfa", "mfa or device"))
            if others:
                evidence["policies_not_counted"] = others
        else:
            evidence["open_client_types"] = list(c.legacy_gap_types)
            evidence["blocked_client_types"] = list(c.legacy_blocked_types)
        if row.is_admin:
            evidence.update(admin_evidence(row))
        if row.is_service_account:
            evidence["service_account_signal"] = row.service_signal
        if row.is_sync_account:
            evidence["sync_roles"] = list(row.sync_roles)
        yield user_finding(
            ctx,
            row,
            evidence,
            "high" if evidence["privileged_admin"] else None,
            _exclusion_remediation(kind, row, items, applies),
        )


@rule(
    id="legacy-auth-block-excluded",
    order=120,
    title="User excluded from legacy-auth blocking",
    severity="medium",
    escalation="high for privileged admins",
    needs=CA_USER_SOURCES,
    optional_needs=("role_eligibility",),
    rationale="An account excluded from legacy-auth blocking can be password-sprayed over protocols with no MFA.",
    remediation="Remove the exclusion. If a legacy application needs it, use a dedicated service account "
    "pinned to the application's egress IP with a location-based block policy.",
    cases=(
        EXCLUDED_USERS,
        GUEST_KINDS,
        ELIGIBLE_GA_BEHIND_ROLE_EXCLUSION,
        BREAK_GLASS_NOT_CONFIGURED,
        SYNC_ACCOUNT_WITH_ANOTHER_ROLE,
        EXCLUDED_FROM_ONE_BLOCK_COVERED_BY_ANOTHER,
        BREAK_GLASS_EXCLUDED,
        SYNC_ACCOUNT_EXCLUDED,
    ),
)
def legacy_auth_block_excluded(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled users excluded (directly, through a group, an active role, a guest kind — or, ``applies: on
    activation``, an *eligible* role) from an in-force legacy block for a client type that no other in-force block
    covers for them (the union of blocks counts per client type). Emergency access accounts and directory sync
    accounts holding no other role are expected exclusions (Microsoft Learn emergency access guidance, CIS 1.1.2,
    5.2.3.4) and never fire. Nothing fires under security defaults."""
    if model.security_defaults_enabled:
        return
    yield from _exclusion_findings(model, ctx, "legacy")


@rule(
    id="ca-mfa-excluded",
    order=130,
    title="User excluded from MFA policies",
    severity="medium",
    escalation="high for privileged admins",
    needs=CA_USER_SOURCES,
    optional_needs=("role_eligibility",),
    rationale="An account excluded from every MFA policy signs in with a password alone.",
    remediation="Remove the exclusion, or pin the account to its egress IP with a block-outside-location "
    "policy (the accepted way to exempt a service account).",
    cases=(
        EXCLUDED_USERS,
        ADMIN_EXCLUDED_BUT_INSIDE_ADMIN_POLICY,
        EXCLUDED_BUT_RISK_POLICY_ONLY,
        EXCLUDED_BUT_AZURE_MANAGEMENT_POLICY,
        GUEST_KINDS,
        ELIGIBLE_GA_BEHIND_ROLE_EXCLUSION,
        BREAK_GLASS_NOT_CONFIGURED,
        SYNC_ACCOUNT_WITH_ANOTHER_ROLE,
        AU_SCOPED_ROLE_EXCLUSION,
        EXCLUDED_BUT_SECOND_ALL_APPS_POLICY,
        BREAK_GLASS_EXCLUDED,
        SYNC_ACCOUNT_EXCLUDED,
        EXCLUDED_ROLE_NOBODY_HOLDS,
    ),
)
def ca_mfa_excluded(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled users excluded from an in-force MFA policy for All resources and covered by no other one (an
    all-resources MFA policy of any user scope that includes and does not exclude them; policies for some apps, a user
    action such as registering security info, or an authentication context never cover). An eligible holder of an
    excluded role fires with ``applies: on activation`` (excluded exactly while they hold the privilege). Not fired
    for users pinned to named locations by an in-force block for All resources covering the client types of the MFA
    policies they are excluded from, for emergency access accounts, or for directory sync accounts holding no other
    role (Maester MT.1036; CIS 5.2.2.2, 1.1.2)."""
    if model.security_defaults_enabled:
        return
    yield from _exclusion_findings(model, ctx, "mfa")
