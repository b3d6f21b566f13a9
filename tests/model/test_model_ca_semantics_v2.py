"""CA semantics v2 computed by the model: per-policy meaning, tenant baselines, per-user coverage."""

from __future__ import annotations

from typing import Any

from auditor.config import parse_config
from auditor.model.ca_semantics import AZURE_MANAGEMENT, EXCHANGE_ONLINE, SHAREPOINT_ONLINE, policy_semantics
from auditor.model.tenant import TenantModel, build_model
from auditor.testing import GA, HELPDESK, admin_policy_for_portals_only, baseline, ca_policy, snapshot_of


def model(records: dict[str, Any], config: dict | None = None) -> TenantModel:
    cfg = parse_config(config or {}, origin="test config")
    return build_model(snapshot_of(records), cfg.classification, cfg.legacy_mfa)


def cov(m: TenantModel, uid: str) -> dict[str, Any]:
    row = m.coverage[m.coverage["user_id"] == uid]
    assert len(row) == 1
    return row.iloc[0].to_dict()


def excluded_apps(policy: dict[str, Any], apps: list[str]) -> dict[str, Any]:
    policy["conditions"]["applications"]["excludeApplications"] = apps
    return policy


# --- per policy ------------------------------------------------------------------------------------------------


def test_mfa_or_compliant_device_is_a_device_alternative_but_or_terms_of_use_is_not_mfa() -> None:
    device = policy_semantics(ca_policy("p", "MFA or device", grant=["mfa", "compliantDevice", "domainJoinedDevice"]))
    assert device["mfa"] == "device_alternative" and device["mfa_baseline"]
    approved = policy_semantics(ca_policy("p", "MFA or approved app", grant=["mfa", "approvedApplication"]))
    assert approved["mfa"] is None and not approved["mfa_baseline"]
    assert approved["not_counted_because"] == ["MFA OR'ed with approvedApplication"]
    both = policy_semantics(ca_policy("p", "MFA and device", grant=["mfa", "compliantDevice"], operator="AND"))
    assert both["mfa"] == "mfa"


def test_authentication_strength_reads_requirements_satisfied_then_builtin_ids() -> None:
    none = policy_semantics(
        ca_policy(
            "p",
            "s",
            grant=[],
            strength={"id": "custom-1", "displayName": "Password only", "requirementsSatisfied": "none"},
        )
    )
    assert none["mfa"] is None and not none["mfa_baseline"]
    builtin = policy_semantics(ca_policy("p", "s", grant=[], strength={"id": "00000000-0000-0000-0000-000000000004"}))
    assert builtin["mfa"] == "mfa" and "Phishing-resistant MFA" in builtin["mfa_via"]
    known = policy_semantics(ca_policy("p", "s", grant=[], strength={"id": "custom-2"}), {"custom-2": "none"})
    assert known["mfa"] is None


def test_user_action_auth_context_app_scope_and_narrowing_never_count() -> None:
    action = ca_policy("p", "Register security info", grant=["mfa"])
    action["conditions"]["applications"] = {
        "includeApplications": [],
        "includeUserActions": ["urn:user:registersecurityinfo"],
    }
    context = ca_policy("p", "Sensitive", grant=["mfa"])
    context["conditions"]["applications"] = {
        "includeApplications": [],
        "includeAuthenticationContextClassReferences": ["c1"],
    }
    azure = ca_policy("p", "Azure mgmt", grant=["mfa"], apps=[AZURE_MANAGEMENT])
    risky = ca_policy("p", "Risky", grant=["mfa"])
    risky["conditions"]["signInRiskLevels"] = ["high"]
    reasons = {p["displayName"]: policy_semantics(p) for p in (action, context, azure, risky)}
    assert all(not r["mfa_all_resources"] for r in reasons.values())
    assert reasons["Register security info"]["not_counted_because"] == ["user action registersecurityinfo"]
    assert reasons["Sensitive"]["not_counted_because"] == ["authentication context c1"]
    assert reasons["Azure mgmt"]["not_counted_because"] == ["app-scoped"]
    assert reasons["Risky"]["not_counted_because"] == ["narrowed by signInRiskLevels"]


def test_report_only_counts_for_nothing_and_microsoft_managed_is_named() -> None:
    p = policy_semantics(
        ca_policy("p", "Microsoft-managed: MFA for admins", grant=["mfa"], state="enabledForReportingButNotEnforced")
    )
    assert not p["mfa_baseline"] and p["microsoft_managed"]
    assert p["not_counted_because"] == ["report-only"]


# --- tenant baselines ------------------------------------------------------------------------------------------


def test_baseline_excluding_high_value_apps_is_partial_and_legacy_block_without_exchange_blocks_nothing() -> None:
    records = baseline()
    records["conditional_access"] = [
        excluded_apps(ca_policy("ca-mfa", "MFA", grant=["mfa"]), [SHAREPOINT_ONLINE, "some-app"]),
        excluded_apps(
            ca_policy("ca-legacy", "Block legacy", grant=["block"], client_apps=["exchangeActiveSync", "other"]),
            [EXCHANGE_ONLINE],
        ),
    ]
    b = model(records).baselines
    assert b.mfa_baselines == ["MFA"]
    assert b.partial == [{"policy": "MFA", "kind": "mfa", "excluded_resources": ["Office 365 SharePoint Online"]}]
    assert b.legacy_blocks == [] and b.legacy_open_types == ["exchangeActiveSync", "other"]
    assert b.legacy_ineffective == [{"policy": "Block legacy", "excluded_resources": ["Office 365 Exchange Online"]}]


def test_legacy_block_is_the_union_of_policies_per_client_type() -> None:
    records = baseline()
    records["conditional_access"] = [
        ca_policy("ca-mfa", "MFA", grant=["mfa"]),
        ca_policy("ca-eas", "Block EAS", grant=["block"], client_apps=["exchangeActiveSync"]),
        ca_policy("ca-other", "Block other", grant=["block"], client_apps=["other"], apps=["Office365"]),
    ]
    m = model(records)
    assert m.baselines.legacy_blocked_types == ["exchangeActiveSync", "other"]
    assert m.baselines.legacy_open_types == []
    assert cov(m, "u-bob")["legacy_blocked_types"] == ["exchangeActiveSync", "other"]
    records["conditional_access"].pop()
    assert model(records).baselines.legacy_open_types == ["other"]


def test_location_exemptions_keep_the_baselines_and_are_listed() -> None:
    records = baseline()
    records["conditional_access"] = [
        ca_policy(
            "ca-mfa", "MFA", grant=["mfa"], locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
        ),
        ca_policy(
            "ca-legacy",
            "Block legacy",
            grant=["block"],
            client_apps=["exchangeActiveSync", "other"],
            locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]},
        ),
        ca_policy("ca-only", "MFA at HQ", grant=["mfa"], locations={"includeLocations": ["loc-hq"]}),
    ]
    b = model(records).baselines
    assert b.mfa_baselines == ["MFA"] and b.mfa_exempts_all_trusted == ["MFA"]
    assert b.mfa_exempt_locations == [{"policy": "MFA", "locations": ["all trusted locations"]}]
    assert b.legacy_blocks == ["Block legacy"]
    assert b.legacy_exempt_locations == [{"policy": "Block legacy", "locations": ["HQ"], "location_ids": ["loc-hq"]}]
    assert {
        "policy": "MFA at HQ",
        "grant": "mfa",
        "reasons": ["only in locations loc-hq"],
        "microsoft_managed": False,
    } in b.not_counted


def test_only_device_alternative_baseline() -> None:
    records = baseline()
    records["conditional_access"][0] = ca_policy("ca-mfa", "MFA or device", grant=["mfa", "compliantDevice"])
    b = model(records).baselines
    assert b.has_mfa_baseline and b.only_device_alternative and b.device_alternative == ["MFA or device"]


# --- per-user coverage -----------------------------------------------------------------------------------------


def test_user_excluded_from_all_apps_mfa_is_not_covered_by_an_app_scoped_or_user_action_policy() -> None:
    records = baseline()
    records["conditional_access"] = [
        ca_policy("ca-mfa", "MFA", grant=["mfa"], users={"excludeUsers": ["u-bob"]}),
        ca_policy("ca-azure", "Azure MFA", grant=["mfa"], apps=[AZURE_MANAGEMENT]),
    ]
    m = model(records)
    bob = cov(m, "u-bob")
    assert not bob["mfa_covered"] and bob["mfa_exclusion"] == "always"
    assert bob["mfa_excluded_by"] == [{"policy": "MFA", "how": ["directly"], "applies": "always"}]
    assert cov(m, "u-alice")["mfa_covered_by"] == ["MFA"] and cov(m, "u-alice")["mfa_exclusion"] is None


def test_user_excluded_from_one_baseline_but_covered_by_another_all_resources_policy() -> None:
    records = baseline()
    records["group_members"] = [{"id": "g-ops", "displayName": "Ops", "members": [{"id": "u-bob"}]}]
    records["conditional_access"] = [
        ca_policy("ca-mfa", "MFA", grant=["mfa"], users={"excludeGroups": ["g-ops"]}),
        ca_policy("ca-ops", "Ops MFA", grant=["mfa"], users={"includeUsers": [], "includeGroups": ["g-ops"]}),
    ]
    bob = cov(model(records), "u-bob")
    assert bob["mfa_covered"] and bob["mfa_exclusion"] is None and bob["mfa_covered_by"] == ["Ops MFA"]
    assert bob["mfa_excluded_by"] == [{"policy": "MFA", "how": ["group Ops"], "applies": "always"}]


def test_eligible_holder_of_excluded_role_is_excluded_on_activation() -> None:
    records = baseline()
    admin_policy_for_portals_only(records)  # the admins' own policy would cover them for MFA
    records["role_eligibility"] = [
        {"id": "re-1", "principalId": "u-bob", "roleDefinitionId": GA, "directoryScopeId": "/"}
    ]
    records["conditional_access"][0] = ca_policy("ca-mfa", "MFA", grant=["mfa"], users={"excludeRoles": [GA]})
    m = model(records)
    bob, alice = cov(m, "u-bob"), cov(m, "u-alice")
    assert bob["mfa_covered"] and not bob["mfa_covered_on_activation"]
    assert bob["mfa_exclusion"] == "on activation"
    assert bob["mfa_excluded_by"] == [
        {"policy": "MFA", "how": ["role Global Administrator (eligible)"], "applies": "on activation"}
    ]
    assert alice["mfa_exclusion"] == "always"  # the active GA
    assert alice["mfa_excluded_by"][0]["how"] == ["role Global Administrator"]


def test_eligible_holder_is_not_covered_by_a_role_inclusion_until_activation() -> None:
    records = baseline()
    records["role_eligibility"] = [
        {"id": "re-1", "principalId": "u-bob", "roleDefinitionId": HELPDESK, "directoryScopeId": "/"}
    ]
    records["conditional_access"] = [
        ca_policy("ca-adm", "Admin MFA", grant=["mfa"], users={"includeUsers": [], "includeRoles": [HELPDESK]})
    ]
    bob = cov(model(records), "u-bob")
    assert not bob["mfa_covered"] and not bob["mfa_included"] and bob["mfa_covered_on_activation"]
    assert bob["mfa_exclusion"] is None


def test_pinned_user_needs_a_block_for_the_client_types_of_the_mfa_policies_they_are_excluded_from() -> None:
    records = baseline()
    records["conditional_access"] = [
        ca_policy("ca-mfa", "MFA", grant=["mfa"], users={"excludeUsers": ["u-svc"]}),
        ca_policy(
            "ca-pin",
            "Pin svc",
            grant=["block"],
            users={"includeUsers": ["u-svc"]},
            locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]},
        ),
    ]
    svc = cov(model(records), "u-svc")
    assert svc["pinned"] and svc["pinned_by"] == ["Pin svc"] and svc["mfa_exclusion"] == "always"
    records["conditional_access"][1] = ca_policy(
        "ca-pin",
        "Pin svc (browser)",
        grant=["block"],
        users={"includeUsers": ["u-svc"]},
        client_apps=["browser"],
        locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]},
    )
    assert not cov(model(records), "u-svc")["pinned"]


def test_legacy_exclusion_gap_only_for_types_no_other_block_covers() -> None:
    records = baseline()
    records["conditional_access"] = [
        ca_policy("ca-mfa", "MFA", grant=["mfa"]),
        ca_policy(
            "ca-legacy",
            "Block legacy",
            grant=["block"],
            client_apps=["exchangeActiveSync", "other"],
            users={"excludeUsers": ["u-bob"]},
        ),
        ca_policy(
            "ca-eas",
            "Block EAS for Bob",
            grant=["block"],
            client_apps=["exchangeActiveSync"],
            users={"includeUsers": ["u-bob"]},
        ),
    ]
    bob = cov(model(records), "u-bob")
    assert bob["legacy_blocked_types"] == ["exchangeActiveSync"]
    assert bob["legacy_gap_types"] == ["other"] and bob["legacy_exclusion"] == "always"
    assert bob["legacy_excluded_by"] == [
        {
            "policy": "Block legacy",
            "how": ["directly"],
            "client_types": ["exchangeActiveSync", "other"],
            "applies": "always",
        }
    ]


def test_guest_kind_exclusion_is_explained() -> None:
    records = baseline()
    records["users"].append(
        {
            "id": "u-guest",
            "userPrincipalName": "g_fabrikam.com#EXT#@contoso.com",
            "displayName": "Guest",
            "userType": "Guest",
            "accountEnabled": True,
        }
    )
    records["conditional_access"][0] = ca_policy(
        "ca-mfa",
        "MFA",
        grant=["mfa"],
        users={
            "excludeGuestsOrExternalUsers": {
                "guestOrExternalUserTypes": "b2bCollaborationGuest",
                "externalTenants": {"membershipKind": "all"},
            }
        },
    )
    guest = cov(model(records), "u-guest")
    assert guest["mfa_excluded_by"] == [
        {"policy": "MFA", "how": ["guest kind b2bCollaborationGuest"], "applies": "always"}
    ]
