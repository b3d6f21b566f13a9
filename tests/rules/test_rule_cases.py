"""Table-driven rule tests: a compliant baseline tenant plus one deviation per case.

Each case lists exactly the findings it must produce as ``{(rule_id, entity_name): severity}``; any other
finding fails the case, so a case also proves every other rule stays quiet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tenantkit import (
    GA,
    HELPDESK,
    REPORTS_READER,
    TENANT_ID,
    ago,
    baseline,
    ca_policy,
    mailbox,
    run,
    set_mfa,
    sign_in,
    user,
)

Records = dict[str, Any]
T = TENANT_ID


def _add_admin(r: Records, uid: str, upn: str, role: str = GA, **kw: Any) -> None:
    r["users"].append(user(uid, upn, **kw))
    r["per_user_mfa"].append({"id": uid, "userPrincipalName": upn, "perUserMfaState": "disabled"})
    r["registration_details"].append({"id": uid, "userPrincipalName": upn, "isMfaRegistered": True,
                                      "methodsRegistered": ["fido2SecurityKey"]})
    r["role_assignments"].append({"id": f"ra-{uid}", "principalId": uid, "roleDefinitionId": role,
                                  "directoryScopeId": "/"})


def admin_enforced_with_legacy(r: Records) -> None:
    set_mfa(r, "u-alice", "enforced")
    r["mfa_service_policy"]["allowAppPasswords"] = True
    r["sign_ins"] = [sign_in("u-alice", "alice@contoso.com", "Authenticated SMTP"),
                     sign_in("u-alice", "alice@contoso.com", "IMAP4", days=3)]


def admin_enabled_unknown_setting(r: Records) -> None:
    set_mfa(r, "u-alice", "enabled")
    del r["mfa_service_policy"]


def pim_eligible_admin(r: Records) -> None:
    r["users"].append(user("u-pim", "pim@contoso.com"))
    r["per_user_mfa"].append({"id": "u-pim", "perUserMfaState": "enforced"})
    r["role_eligibility"] = [{"id": "e1", "principalId": "u-pim", "roleDefinitionId": HELPDESK,
                              "directoryScopeId": "/", "memberType": "Direct"}]
    r["mfa_service_policy"]["allowAppPasswords"] = True


def group_held_admin(r: Records) -> None:
    r["users"].append(user("u-grp", "grp@contoso.com"))
    r["per_user_mfa"].append({"id": "u-grp", "perUserMfaState": "enabled"})
    r["registration_details"].append({"id": "u-grp", "isMfaRegistered": False})
    r["group_members"] = [{"id": "g-tier0", "displayName": "Tier0 Admins",
                           "members": [{"@odata.type": "#microsoft.graph.user", "id": "u-grp"}]}]
    r["role_assignments"].append({"id": "ra-g", "principalId": "g-tier0", "roleDefinitionId": GA,
                                  "directoryScopeId": "/",
                                  "principal": {"@odata.type": "#microsoft.graph.group", "id": "g-tier0"}})


def service_account_enforced(r: Records) -> None:
    set_mfa(r, "u-svc", "enforced")


def daily_enabled_and_enforced(r: Records) -> None:
    set_mfa(r, "u-bob", "enforced")
    r["users"].append(user("u-carol", "carol@contoso.com"))
    r["per_user_mfa"].append({"id": "u-carol", "perUserMfaState": "enabled"})
    r["users"].append(user("u-dis", "gone@contoso.com", enabled=False))
    r["per_user_mfa"].append({"id": "u-dis", "perUserMfaState": "enforced"})


def security_defaults_with_per_user(r: Records) -> None:
    r["security_defaults"]["isEnabled"] = True
    r["conditional_access"] = []
    set_mfa(r, "u-svc", "enforced")


def smtp_org_on_null_inherits(r: Records) -> None:
    r["transport_config"]["SmtpClientAuthenticationDisabled"] = False
    r["cas_mailboxes"] = [mailbox("u-alice", "alice@contoso.com", smtp_disabled=None),
                          mailbox("u-bob", "bob@contoso.com", smtp_disabled=True),
                          mailbox("u-svc", "svc-backup@contoso.com", smtp_disabled=False)]


def smtp_mailbox_only(r: Records) -> None:
    r["cas_mailboxes"] = [mailbox("u-alice", "alice@contoso.com", smtp_disabled=None),
                          mailbox("u-bob", "bob@contoso.com", smtp_disabled=False)]


def imap_pop(r: Records) -> None:
    r["cas_mailboxes"] = [mailbox("u-alice", "alice@contoso.com", imap=True),
                          mailbox("u-bob", "bob@contoso.com", pop=True),
                          mailbox("u-svc", "svc-backup@contoso.com")]


def non_privileged_admin_not_escalated(r: Records) -> None:
    _add_admin(r, "u-reader", "reader@contoso.com", role=REPORTS_READER)
    r["cas_mailboxes"].append(mailbox("u-reader", "reader@contoso.com", imap=True, smtp_disabled=False))


def legacy_trusted_ips(r: Records) -> None:
    r["named_locations"].append({
        "@odata.type": "#microsoft.graph.ipNamedLocation", "id": "loc-partner", "displayName": "Partner",
        "isTrusted": False, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4Range",
                                          "lowerAddress": "52.9.0.200", "upperAddress": "52.9.1.20"}]})
    r["mfa_service_policy"]["trustedIps"]["ipRanges"] = [
        "52.1.2.0/24", "52.1.2.128/25", "52.1.0.0/22", "52.9.1.0/24", "10.20.0.0/16", "52.200.0.0/24"]


def _location(lid: str, name: str, trusted: bool, *cidrs: str) -> dict[str, Any]:
    kinds = {4: "#microsoft.graph.iPv4CidrRange", 6: "#microsoft.graph.iPv6CidrRange"}
    return {"@odata.type": "#microsoft.graph.ipNamedLocation", "id": lid, "displayName": name, "isTrusted": trusted,
            "ipRanges": [{"@odata.type": kinds[6 if ":" in c else 4], "cidrAddress": c} for c in cidrs]}


def too_broad(r: Records) -> None:
    r["named_locations"].append(_location("loc-cloud", "Cloud", True, "20.32.0.0/14", "2001:db8::/32"))
    r["named_locations"].append(_location("loc-wide-untrusted", "Untrusted", False, "30.0.0.0/8"))
    r["named_locations"].append(_location("loc-ok16", "Exactly16", True, "40.1.0.0/16", "2001:db8:5::/48"))


def report_only_mfa_and_block(r: Records) -> None:
    for p in r["conditional_access"]:
        p["state"] = "enabledForReportingButNotEnforced"


def strength_policy_counts_as_mfa(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = []
    r["conditional_access"][0]["grantControls"]["authenticationStrength"] = {
        "id": "00000000-0000-0000-0000-000000000004", "displayName": "Phishing-resistant MFA"}


def mfa_or_compliant_device(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = ["mfa", "compliantDevice"]


def block_policy_group_scoped(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["users"].update(includeUsers=[], includeGroups=["g-staff"])
    r["group_members"] = [{"id": "g-staff", "displayName": "Staff",
                           "members": [{"id": "u-alice"}, {"id": "u-bob"}, {"id": "u-svc"}]}]


def block_policy_location_scoped(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["locations"] = {"includeLocations": ["All"],
                                                             "excludeLocations": ["loc-hq"]}


def excluded_users(r: Records) -> None:
    r["users"].append(user("u-pinned", "svc-relay@contoso.com"))
    r["group_members"] = [{"id": "g-exempt", "displayName": "MFA exempt", "members": [{"id": "u-bob"}]}]
    mfa, block = r["conditional_access"]
    mfa["conditions"]["users"].update(excludeGroups=["g-exempt"], excludeUsers=["u-pinned"],
                                      excludeRoles=[GA])
    block["conditions"]["users"].update(excludeUsers=["u-bob"])
    r["conditional_access"].append(ca_policy(
        "ca-pin", "Pin relay", grant=["block"], users={"includeUsers": ["u-pinned"]},
        locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]}))


def legacy_sign_ins_mixed(r: Records) -> None:
    r["sign_ins"] = [sign_in("u-bob", "bob@contoso.com", "POP3", days=1, ip="203.0.113.5"),
                     sign_in("u-bob", "bob@contoso.com", "POP3", days=2, ip="203.0.113.6"),
                     sign_in("u-svc", "svc-backup@contoso.com", "IMAP4", error=50126),
                     sign_in("u-alice", "alice@contoso.com", "Browser"),
                     sign_in("u-alice", "alice@contoso.com", "IMAP4", days=40)]


def remember_long(r: Records) -> None:
    r["mfa_service_policy"]["rememberMfaOnTrustedDevice"] = {"isEnabled": True, "allowedNumberOfDays": 14}


def remember_short(r: Records) -> None:
    r["mfa_service_policy"]["rememberMfaOnTrustedDevice"] = {"isEnabled": True, "allowedNumberOfDays": 7}


def guest_and_stale(r: Records) -> None:
    _add_admin(r, "u-guest", "ext_partner.com#EXT#@contoso.onmicrosoft.com", role=REPORTS_READER,
               user_type="Guest")
    _add_admin(r, "u-stale", "old@contoso.com", role=HELPDESK, last_days=120)
    _add_admin(r, "u-never", "never@contoso.com", role=HELPDESK, last_days=None)
    _add_admin(r, "u-recent", "recent@contoso.com", role=HELPDESK, last_days=89)
    _add_admin(r, "u-disabled", "disabled-admin@contoso.com", role=HELPDESK, last_days=400, enabled=False)


def admin_without_mfa(r: Records) -> None:
    r["registration_details"][0]["isMfaRegistered"] = False
    r["registration_details"][1]["isMfaRegistered"] = False


def au_scoped_role_exclusion(r: Records) -> None:
    # Conditional Access ignores roles scoped to an administrative unit: excluding the role excludes nobody.
    r["role_assignments"].append({"id": "ra-au", "principalId": "u-bob", "roleDefinitionId": HELPDESK,
                                  "directoryScopeId": "/administrativeUnits/au-1"})
    r["conditional_access"][0]["conditions"]["users"]["excludeRoles"] = [HELPDESK]


def risk_only_mfa(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["signInRiskLevels"] = ["high", "medium"]


def browser_only_mfa(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["clientAppTypes"] = ["browser"]


def platform_scoped_block(r: Records) -> None:
    r["conditional_access"][1]["conditions"]["platforms"] = {"includePlatforms": ["android", "iOS"],
                                                             "excludePlatforms": []}


def excluded_but_risk_policy_only(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["users"]["excludeUsers"] = ["u-bob"]
    risky = ca_policy("ca-risk", "MFA on risky sign-ins", grant=["mfa"])
    risky["conditions"]["signInRiskLevels"] = ["high"]
    # A block outside HQ for browsers only does not pin the account's other clients.
    pin = ca_policy("ca-pin", "Pin bob (browser)", grant=["block"], users={"includeUsers": ["u-bob"]},
                    client_apps=["browser"], locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]})
    r["conditional_access"] += [risky, pin]


def guest_kinds(r: Records) -> None:
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


def stale_admin_with_failed_attempts(r: Records) -> None:
    r["users"][0]["signInActivity"].update(lastSignInDateTime=ago(1), lastSuccessfulSignInDateTime=ago(120))


def disabled_privileged_admin_with_per_user_mfa(r: Records) -> None:
    _add_admin(r, "u-old", "old-admin@contoso.com", enabled=False)
    set_mfa(r, "u-old", "enforced")
    r["mfa_service_policy"]["allowAppPasswords"] = True


CASES: list[tuple[str, Callable[[Records], None], dict[tuple[str, str], str]]] = [
    ("baseline is clean", lambda r: None, {}),
    ("admin enforced + legacy sign-ins is critical observed", admin_enforced_with_legacy, {
        ("admin-app-passwords", "alice@contoso.com"): "critical",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("tenant-app-passwords-allowed", "Contoso"): "medium",
        ("legacy-auth-sign-ins", "alice@contoso.com"): "high",
    }),
    ("admin enabled with unknown setting is high possible", admin_enabled_unknown_setting, {
        ("admin-app-passwords", "alice@contoso.com"): "high",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    }),
    ("PIM-eligible role makes an admin", pim_eligible_admin, {
        ("admin-app-passwords", "pim@contoso.com"): "high",
        ("daily-account-per-user-mfa", "pim@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("tenant-app-passwords-allowed", "Contoso"): "medium",
    }),
    ("group-held role makes an admin", group_held_admin, {
        ("daily-account-per-user-mfa", "grp@contoso.com"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("admin-no-mfa-method", "grp@contoso.com"): "critical",
    }),
    ("service account with enforced MFA is not a daily account", service_account_enforced, {
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    }),
    ("daily accounts: enforced medium, enabled low, disabled account ignored", daily_enabled_and_enforced, {
        ("daily-account-per-user-mfa", "bob@contoso.com"): "medium",
        ("daily-account-per-user-mfa", "carol@contoso.com"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    }),
    ("security defaults count as modern MFA", security_defaults_with_per_user, {
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    }),
    ("SMTP AUTH null inherits the enabled org setting", smtp_org_on_null_inherits, {
        ("smtp-auth-org-enabled", "Contoso"): "high",
        ("smtp-auth-mailbox-enabled", "alice@contoso.com"): "high",
        ("smtp-auth-mailbox-enabled", "svc-backup@contoso.com"): "medium",
    }),
    ("SMTP AUTH null inherits the disabled org setting", smtp_mailbox_only, {
        ("smtp-auth-mailbox-enabled", "bob@contoso.com"): "medium",
    }),
    ("IMAP/POP low, medium for admins", imap_pop, {
        ("imap-pop-enabled", "alice@contoso.com"): "medium",
        ("imap-pop-enabled", "bob@contoso.com"): "low",
    }),
    ("escalations apply to privileged roles only", non_privileged_admin_not_escalated, {
        ("imap-pop-enabled", "reader@contoso.com"): "low",
        ("smtp-auth-mailbox-enabled", "reader@contoso.com"): "medium",
    }),
    ("legacy trusted IPs vs named locations", legacy_trusted_ips, {
        ("trusted-ips-duplicate-named-locations", "52.1.2.0/24"): "low",
        ("trusted-ips-duplicate-named-locations", "52.1.2.128/25"): "low",
        ("trusted-ips-duplicate-named-locations", "52.1.0.0/22"): "low",
        ("trusted-ips-duplicate-named-locations", "52.9.1.0/24"): "low",
        ("trusted-ips-private-range", "10.20.0.0/16"): "medium",
        ("trusted-ips-ipv4-only", "Contoso"): "low",
    }),
    ("trusted locations wider than /16 or /48", too_broad, {
        ("trusted-location-too-broad", "Cloud"): "medium",
    }),
    ("report-only policies neither require MFA nor block", report_only_mfa_and_block, {
        ("mfa-no-baseline", "Contoso"): "critical",
        ("legacy-auth-not-blocked", "Contoso"): "high",
    }),
    ("an authentication-strength policy counts as MFA", strength_policy_counts_as_mfa, {}),
    ("MFA OR compliant device does not require MFA", mfa_or_compliant_device, {
        ("mfa-no-baseline", "Contoso"): "critical",
    }),
    ("a group-scoped block policy is not a baseline", block_policy_group_scoped, {
        ("legacy-auth-not-blocked", "Contoso"): "high",
    }),
    ("a block policy with a location exclusion does not block legacy auth", block_policy_location_scoped, {
        ("legacy-auth-not-blocked", "Contoso"): "high",
    }),
    ("exclusions: by group, by role, directly; pinned account exempt", excluded_users, {
        ("ca-mfa-excluded", "bob@contoso.com"): "medium",
        ("ca-mfa-excluded", "alice@contoso.com"): "high",
        ("legacy-auth-block-excluded", "bob@contoso.com"): "medium",
    }),
    ("legacy sign-ins: successes in window only", legacy_sign_ins_mixed, {
        ("legacy-auth-sign-ins", "bob@contoso.com"): "high",
    }),
    ("remember MFA 14 days", remember_long, {("remember-mfa-long", "Contoso"): "low"}),
    ("remember MFA 7 days is fine", remember_short, {}),
    ("guest admin and stale admins", guest_and_stale, {
        ("guest-admin", "ext_partner.com#EXT#@contoso.onmicrosoft.com"): "high",
        ("stale-admin", "old@contoso.com"): "medium",
        ("stale-admin", "never@contoso.com"): "medium",
    }),
    ("admin without MFA method", admin_without_mfa, {("admin-no-mfa-method", "alice@contoso.com"): "critical"}),
    ("an AU-scoped role is not a CA role exclusion", au_scoped_role_exclusion, {}),
    ("a risk-conditioned MFA policy is not a baseline", risk_only_mfa, {
        ("mfa-no-baseline", "Contoso"): "critical",
    }),
    ("a browser-only MFA policy is not a baseline", browser_only_mfa, {
        ("mfa-no-baseline", "Contoso"): "critical",
    }),
    ("a platform-scoped block does not block legacy auth", platform_scoped_block, {
        ("legacy-auth-not-blocked", "Contoso"): "high",
    }),
    ("excluded from the baseline, only a risk policy and a browser pin left", excluded_but_risk_policy_only, {
        ("ca-mfa-excluded", "bob@contoso.com"): "medium",
    }),
    ("guest exclusions by kind; service-provider and one-tenant inclusions cover no guest", guest_kinds, {
        ("ca-mfa-excluded", "ann_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("ca-mfa-excluded", "joe_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("legacy-auth-block-excluded", "ann_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
        ("legacy-auth-block-excluded", "joe_partner.com#EXT#@contoso.onmicrosoft.com"): "medium",
    }),
    ("failed sign-in attempts do not make an admin active", stale_admin_with_failed_attempts, {
        ("stale-admin", "alice@contoso.com"): "medium",
    }),
    ("a disabled admin does not escalate tenant-app-passwords-allowed", disabled_privileged_admin_with_per_user_mfa, {
        ("tenant-app-passwords-allowed", "Contoso"): "low",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    }),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule_case(name: str, mutate: Callable[[Records], None], expected: dict[tuple[str, str], str]) -> None:
    records = baseline()
    mutate(records)
    result = run(records)
    got = {(f.rule_id, f.entity_name): f.severity for f in result.findings}
    assert got == expected
    removed = set(baseline()) - set(records)
    if "mfa_service_policy" in removed:
        removed.add("legacy_mfa_settings")
    from auditor.rules import REGISTRY

    expected_not_assessed = {rid for rid, spec in REGISTRY.items() if removed & set(spec.needs)}
    assert {r.id for r in result.rules if r.status == "not_assessed"} == expected_not_assessed


def test_every_rule_has_a_firing_case() -> None:
    from auditor.rules import REGISTRY

    fired = {rule for _, _, expected in CASES for rule, _ in expected}
    assert fired == set(REGISTRY)


def test_evidence_of_headline_admin_rule() -> None:
    records = baseline()
    admin_enforced_with_legacy(records)
    finding = next(f for f in run(records).findings if f.rule_id == "admin-app-passwords")
    ev = finding.evidence
    assert ev["confidence"] == "observed"
    assert ev["per_user_mfa"] == "enforced"
    assert ev["tenant_setting"] == "allowed"
    assert ev["legacy_sign_ins"] == 2
    assert ev["legacy_protocols"] == ["Authenticated SMTP", "IMAP4"]
    assert ev["roles"] == ["Global Administrator"]


def test_overlap_kinds_in_evidence() -> None:
    records = baseline()
    legacy_trusted_ips(records)
    kinds = {f.entity_name: [m["overlap"] for m in f.evidence["matches"]]
             for f in run(records).findings if f.rule_id == "trusted-ips-duplicate-named-locations"}
    assert kinds == {"52.1.2.0/24": ["identical"], "52.1.2.128/25": ["contained"], "52.1.0.0/22": ["contains"],
                     "52.9.1.0/24": ["overlaps"]}


def test_smtp_evidence_says_where_setting_comes_from() -> None:
    records = baseline()
    smtp_org_on_null_inherits(records)
    settings = {f.entity_name: f.evidence["setting"] for f in run(records).findings
                if f.rule_id == "smtp-auth-mailbox-enabled"}
    assert settings == {"alice@contoso.com": "inherited from org", "svc-backup@contoso.com": "mailbox"}


def test_exclusion_evidence_names_only_policies_that_include_the_user() -> None:
    records = baseline()
    excluded_users(records)
    by = {(f.rule_id, f.entity_name): f.evidence for f in run(records).findings}
    assert by[("ca-mfa-excluded", "bob@contoso.com")]["excluded_from"] == [
        {"policy": "MFA for everyone", "excluded": "group MFA exempt"}]
    assert by[("ca-mfa-excluded", "alice@contoso.com")]["excluded_from"] == [
        {"policy": "MFA for everyone", "excluded": "role Global Administrator"}]
    assert by[("legacy-auth-block-excluded", "bob@contoso.com")]["excluded_from"] == [
        {"policy": "Block legacy auth", "excluded": "directly"}]


def test_service_signal_in_evidence_via_group_config() -> None:
    records = baseline()
    records["users"].append(user("u-kiosk", "kiosk@contoso.com"))
    records["per_user_mfa"].append({"id": "u-kiosk", "perUserMfaState": "enforced"})
    records["group_members"] = [{"id": "g-svc", "displayName": "Service Accounts", "members": [{"id": "u-kiosk"}]}]
    result = run(records, {"classification": {"service_accounts": {"groups": ["Service Accounts"]}}})
    assert not [f for f in result.findings if f.rule_id == "daily-account-per-user-mfa"]
    users = result.model.users.set_index("id")
    assert users.loc["u-kiosk", "service_signal"] == "member of group 'Service Accounts'"
    assert users.loc["u-svc", "service_signal"].startswith("UPN matches pattern")


def test_ca_role_exclusion_resolves_roles_outside_configured_admin_roles() -> None:
    records = baseline()
    records["role_assignments"].append({"id": "ra-bob", "principalId": "u-bob", "roleDefinitionId": HELPDESK,
                                        "directoryScopeId": "/"})
    records["conditional_access"][0]["conditions"]["users"]["excludeRoles"] = [HELPDESK]
    result = run(records, {"classification": {"admin_roles": ["Global Administrator"]}})
    found = {(f.rule_id, f.entity_name): f for f in result.findings}
    assert set(found) == {("ca-mfa-excluded", "bob@contoso.com")}
    finding = found[("ca-mfa-excluded", "bob@contoso.com")]
    assert finding.severity == "medium"  # not an admin under this configuration
    assert finding.evidence["excluded_from"] == [
        {"policy": "MFA for everyone", "excluded": "role Helpdesk Administrator"}]


def _status(result: Any, rule_id: str) -> tuple[str, str | None]:
    outcome = next(r for r in result.rules if r.id == rule_id)
    return outcome.status, outcome.reason


def test_inherited_smtp_auth_with_unknown_org_setting_is_not_assessed() -> None:
    records = baseline()
    records["transport_config"] = {"Identity": "Transport config without the setting"}
    records["cas_mailboxes"][1]["SmtpClientAuthenticationDisabled"] = None
    result = run(records)
    for rule_id in ("smtp-auth-org-enabled", "smtp-auth-mailbox-enabled"):
        status, reason = _status(result, rule_id)
        assert status == "not_assessed"
        assert "SmtpClientAuthenticationDisabled" in (reason or "")
    # Mailboxes that all carry their own setting do not depend on the org's.
    records["cas_mailboxes"][1]["SmtpClientAuthenticationDisabled"] = False
    result = run(records)
    assert _status(result, "smtp-auth-mailbox-enabled")[0] == "assessed"
    assert [f.entity_name for f in result.findings if f.rule_id == "smtp-auth-mailbox-enabled"] == ["bob@contoso.com"]


def test_remember_mfa_on_without_days_is_not_assessed() -> None:
    records = baseline()
    records["mfa_service_policy"]["rememberMfaOnTrustedDevice"] = {"isEnabled": True}
    status, reason = _status(run(records), "remember-mfa-long")
    assert status == "not_assessed" and "days" in (reason or "")


def test_service_account_group_name_matches_case_insensitively() -> None:
    records = baseline()
    records["users"].append(user("u-kiosk", "kiosk@contoso.com"))
    records["per_user_mfa"].append({"id": "u-kiosk", "perUserMfaState": "enforced"})
    records["group_members"] = [{"id": "g-svc", "displayName": "Service Accounts", "members": [{"id": "u-kiosk"}]}]
    result = run(records, {"classification": {"service_accounts": {"groups": ["service accounts"]}}})
    assert not [f for f in result.findings if f.rule_id == "daily-account-per-user-mfa"]


def test_unknown_security_defaults_are_not_reported_as_off() -> None:
    records = baseline()
    records["security_defaults"] = {"id": "00000000-0000-0000-0000-000000000005"}
    records["conditional_access"] = []
    found = {f.rule_id: f.evidence for f in run(records).findings}
    assert found["mfa-no-baseline"]["security_defaults"] == "unknown"
    assert found["legacy-auth-not-blocked"]["security_defaults"] == "unknown"


def test_stale_admin_evidence_shows_later_failed_attempts() -> None:
    records = baseline()
    stale_admin_with_failed_attempts(records)
    finding = next(f for f in run(records).findings if f.rule_id == "stale-admin")
    assert finding.evidence["last_sign_in"].startswith(ago(120)[:10])
    assert finding.evidence["last_sign_in_attempt"].startswith(ago(1)[:10])


def test_conditional_mfa_policies_are_named_in_baseline_evidence() -> None:
    records = baseline()
    risk_only_mfa(records)
    finding = next(f for f in run(records).findings if f.rule_id == "mfa-no-baseline")
    assert finding.evidence["enabled_mfa_policies"] == []
    assert finding.evidence["conditional_mfa_policies"] == [
        {"policy": "MFA for everyone", "only_when": ["signInRiskLevels"]}]


def test_legacy_sign_in_with_unreadable_time_still_counts() -> None:
    records = baseline()
    bad = sign_in("u-bob", "bob@contoso.com", "IMAP4")
    bad["createdDateTime"] = "not a time"
    records["sign_ins"] = [bad]
    finding = next(f for f in run(records).findings if f.rule_id == "legacy-auth-sign-ins")
    assert finding.entity_name == "bob@contoso.com" and finding.evidence["count"] == 1


def test_mailbox_admin_evidence_is_unknown_without_users() -> None:
    records = baseline()
    records["cas_mailboxes"][0]["ImapEnabled"] = True
    result = run(records, failed={"users": "access denied"})
    finding = next(f for f in result.findings if f.rule_id == "imap-pop-enabled")
    assert finding.evidence["admin"] == "unknown"


def test_unreadable_legacy_trusted_ip_entries_still_mean_the_list_is_in_use() -> None:
    records = baseline()
    records["mfa_service_policy"]["trustedIps"]["ipRanges"] = ["52.1.2.0-52.1.2.255"]
    finding = next(f for f in run(records).findings if f.rule_id == "trusted-ips-ipv4-only")
    assert finding.evidence["ranges"] == 0
    assert finding.evidence["unreadable_entries"] == ["52.1.2.0-52.1.2.255"]
