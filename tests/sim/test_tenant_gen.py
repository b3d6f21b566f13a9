"""The seeded tenant generator: determinism, wire shape of every source, scenario cast, bulk rates, scale."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from auditor.model.roles import BUILTIN_ROLES, PRIVILEGED_ROLES
from auditor.sim import tenant_scenarios as sc
from auditor.sim.tenant_gen import LEGACY_CLIENTS, GenOptions, Rates, generate_tenant, main, scale_profile
from auditor.snapshot import Snapshot, load, save
from auditor.sources import SOURCES

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
N = (type(None),)
FIXED = len(sc.SCENARIOS)
ROLES = {**BUILTIN_ROLES, **sc.EXTRA_ROLES}  # the generated tenant also defines the directory sync role

# Required keys and their allowed types, per list source (the wire shape the collector receives).
SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "users": {
        "id": (str,),
        "userPrincipalName": (str,),
        "displayName": (str,),
        "userType": (str,),
        "accountEnabled": (bool,),
        "createdDateTime": (str,),
        "assignedLicenses": (list,),
        "onPremisesSyncEnabled": (bool, *N),
        "mail": (str, *N),
        "jobTitle": (str, *N),
        "department": (str, *N),
        "passwordPolicies": (str,),
        "signInActivity": (dict, *N),
    },
    "per_user_mfa": {"id": (str,), "userPrincipalName": (str,), "perUserMfaState": (str,)},
    "registration_details": {
        "id": (str,),
        "userPrincipalName": (str,),
        "userDisplayName": (str,),
        "userType": (str,),
        "isAdmin": (bool,),
        "isMfaCapable": (bool,),
        "isMfaRegistered": (bool,),
        "isPasswordlessCapable": (bool,),
        "isSsprCapable": (bool,),
        "isSsprEnabled": (bool,),
        "isSsprRegistered": (bool,),
        "isSystemPreferredAuthenticationMethodEnabled": (bool,),
        "lastUpdatedDateTime": (str,),
        "methodsRegistered": (list,),
        "systemPreferredAuthenticationMethods": (list,),
        "userPreferredMethodForSecondaryAuthentication": (str,),
    },
    "role_definitions": {"id": (str,), "templateId": (str,), "displayName": (str,), "isBuiltIn": (bool,)},
    "role_assignments": {
        "id": (str,),
        "principalId": (str,),
        "roleDefinitionId": (str,),
        "directoryScopeId": (str,),
        "principal": (dict,),
    },
    "role_eligibility": {
        "id": (str,),
        "principalId": (str,),
        "roleDefinitionId": (str,),
        "directoryScopeId": (str,),
        "memberType": (str,),
        "startDateTime": (str,),
        "endDateTime": (str, *N),
    },
    "group_members": {"id": (str,), "displayName": (str,), "members": (list,)},
    "conditional_access": {
        "id": (str,),
        "displayName": (str,),
        "state": (str,),
        "conditions": (dict,),
        "grantControls": (dict,),
    },
    "named_locations": {"@odata.type": (str,), "id": (str,), "displayName": (str,)},
    "sign_ins": {
        "id": (str,),
        "createdDateTime": (str,),
        "userId": (str,),
        "userPrincipalName": (str,),
        "appDisplayName": (str,),
        "clientAppUsed": (str,),
        "ipAddress": (str,),
        "status": (dict,),
    },
    "cas_mailboxes": {
        "Guid": (str,),
        "ExternalDirectoryObjectId": (str,),
        "DisplayName": (str,),
        "PrimarySmtpAddress": (str,),
        "ImapEnabled": (bool,),
        "PopEnabled": (bool,),
        "SmtpClientAuthenticationDisabled": (bool, *N),
        "ActiveSyncEnabled": (bool,),
        "OWAEnabled": (bool,),
        "MAPIEnabled": (bool,),
        "EwsEnabled": (bool,),
    },
    "authentication_policies": {"Name": (str,), "AllowBasicAuthSmtp": (bool,), "AllowBasicAuthImap": (bool,)},
}


@pytest.fixture(scope="module")
def tenant() -> Snapshot:
    return generate_tenant(400, seed=7, now=NOW)


def recs(snap: Snapshot, source: str) -> list:
    return snap.sources[source].records


def by_upn(snap: Snapshot) -> dict[str, dict]:
    return {u["userPrincipalName"]: u for u in recs(snap, "users")}


def comparable(snap: Snapshot) -> dict:
    doc = snap.to_dict()
    doc.pop("tool_version")
    return doc


# --- determinism -------------------------------------------------------------------------------------


def test_same_arguments_give_identical_records(tenant: Snapshot) -> None:
    again = generate_tenant(400, seed=7, now=NOW)
    assert comparable(again) == comparable(tenant)


def test_other_seed_or_name_changes_the_tenant(tenant: Snapshot) -> None:
    other = generate_tenant(400, seed=8, now=NOW)
    assert other.tenant_id != tenant.tenant_id
    assert {u["id"] for u in recs(other, "users")}.isdisjoint({u["id"] for u in recs(tenant, "users")})
    fabrikam = generate_tenant(FIXED, seed=7, name="fabrikam", now=NOW)
    assert fabrikam.tenant["default_domain"] == "fabrikam.com"
    assert all(
        u["userPrincipalName"].endswith(("@fabrikam.com", "@fabrikam.onmicrosoft.com")) for u in recs(fabrikam, "users")
    )


def test_scenario_cast_is_the_same_whatever_the_size(tenant: Snapshot) -> None:
    small = generate_tenant(FIXED, seed=7, now=NOW)
    assert recs(small, "users") == recs(tenant, "users")[:FIXED]
    assert recs(small, "conditional_access") == recs(tenant, "conditional_access")
    assert small.tenant == tenant.tenant


def test_records_are_plain_json(tenant: Snapshot, tmp_path) -> None:
    """No numpy scalars leak out: the snapshot round-trips through JSON unchanged."""
    path = save(tenant, tmp_path / "t.json.gz")
    assert comparable(load(path)) == comparable(tenant)
    for u in recs(tenant, "users")[:50] + recs(tenant, "users")[-50:]:
        assert type(u["accountEnabled"]) is bool
    for m in recs(tenant, "cas_mailboxes"):
        assert type(m["ImapEnabled"]) is bool and type(m["PopEnabled"]) is bool


# --- wire shape --------------------------------------------------------------------------------------


def test_every_catalog_source_is_present_and_collected(tenant: Snapshot) -> None:
    assert set(tenant.sources) == set(SOURCES)
    for name, spec in SOURCES.items():
        src = tenant.sources[name]
        assert src.status == "collected", name
        if name == "sign_in_activity":
            assert src.records is None
        elif spec.shape == "list":
            assert isinstance(src.records, list) and src.items == len(src.records) > 0, name
        else:
            assert isinstance(src.records, dict) and src.items == 1, name
    assert tenant.tenant["name"] == "contoso" and UUID.match(tenant.tenant_id)
    assert tenant.tenant["display_name"] == "Contoso Ltd"
    assert tenant.collected_at == NOW and tenant.window_days == 30


@pytest.mark.parametrize("source", sorted(SCHEMA))
def test_list_source_schema(tenant: Snapshot, source: str) -> None:
    for record in recs(tenant, source):
        for key, types in SCHEMA[source].items():
            assert key in record, f"{source}: {key} missing in {record}"
            assert isinstance(record[key], types), f"{source}.{key}={record[key]!r}"


def test_ids_dates_and_uniqueness(tenant: Snapshot) -> None:
    users = recs(tenant, "users")
    assert all(UUID.match(u["id"]) for u in users)
    assert len({u["id"] for u in users}) == len(users)
    assert len({u["userPrincipalName"].lower() for u in users}) == len(users)
    assert len({m["Guid"] for m in recs(tenant, "cas_mailboxes")}) == len(recs(tenant, "cas_mailboxes"))
    ids = [s["id"] for s in recs(tenant, "sign_ins")]
    assert len(set(ids)) == len(ids) and all(UUID.match(i) for i in ids)
    for u in users:
        assert ISO.match(u["createdDateTime"])
        activity = u["signInActivity"]
        if activity:
            # A non-interactive-only account (the directory sync account) has no interactive date, as in Graph.
            assert activity["lastSignInDateTime"] or activity["lastNonInteractiveSignInDateTime"]
            assert all(
                ISO.match(d) for d in (activity["lastSignInDateTime"], activity["lastSuccessfulSignInDateTime"]) if d
            )
            created = datetime.fromisoformat(u["createdDateTime"])
            last = datetime.fromisoformat(activity["lastSuccessfulSignInDateTime"])
            assert created <= last <= NOW
            assert activity["lastSuccessfulSignInDateTime"] == max(
                filter(None, (activity["lastSignInDateTime"], activity["lastNonInteractiveSignInDateTime"]))
            )
    window_start = NOW - timedelta(days=tenant.window_days)
    for s in recs(tenant, "sign_ins"):
        assert window_start <= datetime.fromisoformat(s["createdDateTime"]) <= NOW
    stamps = [s["createdDateTime"] for s in recs(tenant, "sign_ins")]
    assert stamps == sorted(stamps, reverse=True), "Graph returns sign-ins newest first"


def test_upns_on_the_tenant_domain_and_guests_ext(tenant: Snapshot) -> None:
    for u in recs(tenant, "users"):
        upn = u["userPrincipalName"]
        if u["userType"] == "Guest":
            assert "#EXT#@contoso.onmicrosoft.com" in upn and u["assignedLicenses"] == []
        else:
            assert upn.endswith("@contoso.com") and upn == upn.lower()
            assert u["mail"] in (None, upn)


def test_role_assignments_reference_known_roles_and_principals(tenant: Snapshot) -> None:
    definitions = {d["id"]: d for d in recs(tenant, "role_definitions")}
    assert set(definitions) == set(ROLES)
    assert all(d["templateId"] == d["id"] and d["displayName"] == ROLES[d["id"]] for d in definitions.values())
    user_ids = {u["id"] for u in recs(tenant, "users")}
    group_ids = {g["id"] for g in recs(tenant, "group_members")}
    for a in recs(tenant, "role_assignments"):
        assert a["roleDefinitionId"] in definitions and a["directoryScopeId"] == "/"
        p = a["principal"]
        assert p["id"] == a["principalId"]
        if p["@odata.type"] == "#microsoft.graph.user":
            assert p["id"] in user_ids and "userPrincipalName" in p
        else:
            assert p["@odata.type"] == "#microsoft.graph.group" and p["id"] in group_ids
    for e in recs(tenant, "role_eligibility"):
        assert e["roleDefinitionId"] in definitions and e["principalId"] in user_ids


def test_group_members_are_users_of_the_tenant(tenant: Snapshot) -> None:
    users = {u["id"]: u["userPrincipalName"] for u in recs(tenant, "users")}
    for group in recs(tenant, "group_members"):
        for m in group["members"]:
            assert m["@odata.type"] == "#microsoft.graph.user" and users[m["id"]] == m["userPrincipalName"]


# --- the scenario cast -------------------------------------------------------------------------------


def _ids(tenant: Snapshot) -> dict[str, str]:
    return {u["userPrincipalName"].split("@")[0]: u["id"] for u in recs(tenant, "users")}


def test_admin_scenarios(tenant: Snapshot) -> None:
    ids = _ids(tenant)
    mfa = {r["id"]: r["perUserMfaState"] for r in recs(tenant, "per_user_mfa")}
    reg = {r["id"]: r for r in recs(tenant, "registration_details")}
    active = {(a["principalId"], ROLES[a["roleDefinitionId"]]) for a in recs(tenant, "role_assignments")}
    eligible = {(e["principalId"], ROLES[e["roleDefinitionId"]]) for e in recs(tenant, "role_eligibility")}
    assert (ids["adele.vance"], "Global Administrator") in active and mfa[ids["adele.vance"]] == "enforced"
    assert (ids["alex.wilber"], "User Administrator") in active and mfa[ids["alex.wilber"]] == "enabled"
    assert (ids["isaiah.langer"], "Security Administrator") in eligible
    assert not any(pid == ids["isaiah.langer"] for pid, _ in active)
    assert (ids["breakglass"], "Global Administrator") in active
    assert reg[ids["lee.gu"]]["isMfaRegistered"] is False and reg[ids["lee.gu"]]["isAdmin"] is True
    assert reg[ids["nestor.wilke"]]["isMfaRegistered"] is True and mfa[ids["nestor.wilke"]] == "disabled"
    # Exchange Administrator through the role-assignable group.
    groups = {g["displayName"]: g for g in recs(tenant, "group_members")}
    tier0 = groups[sc.TIER0_GROUP]
    assert [m["id"] for m in tier0["members"]] == [ids["megan.bowen"]]
    assert (tier0["id"], "Exchange Administrator") in active
    assert reg[ids["megan.bowen"]]["isAdmin"] is True
    # The guest admin and the stale / never-signed-in admins.
    guest = next(
        u
        for u in recs(tenant, "users")
        if u["userType"] == "Guest" and u["id"] in {pid for pid, role in active if role == "Reports Reader"}
    )
    assert guest["userPrincipalName"] == "patti.fernandez_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    users = by_upn(tenant)
    stale = users["diego.siciliani@contoso.com"]["signInActivity"]["lastSuccessfulSignInDateTime"]
    assert NOW - datetime.fromisoformat(stale) > timedelta(days=120)
    assert users["grady.archie@contoso.com"]["signInActivity"] is None
    assert users["grady.archie@contoso.com"]["accountEnabled"] is True


def test_v2_special_account_scenarios(tenant: Snapshot) -> None:
    """Emergency access, directory sync and PIM-for-Groups accounts (rules.md v2 "Classifications")."""
    ids = _ids(tenant)
    users = by_upn(tenant)
    methods = {r["id"]: r["methodsRegistered"] for r in recs(tenant, "registration_details")}
    active = {(a["principalId"], ROLES[a["roleDefinitionId"]]) for a in recs(tenant, "role_assignments")}
    eligible = {(e["principalId"], ROLES[e["roleDefinitionId"]]) for e in recs(tenant, "role_eligibility")}
    # Break-glass: one as Microsoft recommends (permanent active GA, FIDO2, no licence), one weak.
    bg, bg2 = ids[sc.BREAKGLASS], ids[sc.BREAKGLASS2]
    assert (bg, "Global Administrator") in active and "fido2SecurityKey" in methods[bg]
    assert users["breakglass@contoso.com"]["assignedLicenses"] == []
    assert (bg2, "Global Administrator") in eligible and (bg2, "Global Administrator") not in active
    assert not set(methods[bg2]) & {"fido2SecurityKey", "windowsHelloForBusiness", "passKeyDeviceBound"}
    assert [f"{k}@contoso.com" for k in sc.EMERGENCY_ACCESS] == ["breakglass@contoso.com", "breakglass2@contoso.com"]
    # Directory sync accounts: one sync-only and non-interactive, one also Global Administrator.
    sync, risky = ids[sc.SYNC_ACCOUNT], ids[sc.SYNC_ACCOUNT_RISKY]
    assert {r for p, r in active if p == sync} == {"Directory Synchronization Accounts"}
    assert {r for p, r in active if p == risky} == {"Directory Synchronization Accounts", "Global Administrator"}
    activity = users[f"{sc.SYNC_ACCOUNT}@contoso.com"]["signInActivity"]
    assert activity["lastSignInDateTime"] is None and activity["lastNonInteractiveSignInDateTime"]
    risky_sign_ins = [s for s in recs(tenant, "sign_ins") if s["userId"] == risky]
    assert risky_sign_ins and all(s["isInteractive"] for s in risky_sign_ins)
    assert not any(s["userId"] == sync for s in recs(tenant, "sign_ins"))
    # PIM for Groups: an eligible member of the role-assignable group, with phone-only methods; and an eligible
    # Global Administrator outside All Staff.
    tier0 = next(g for g in recs(tenant, "group_members") if g["displayName"] == sc.TIER0_GROUP)
    [pim] = recs(tenant, "pim_group_eligibility")
    assert (pim["groupId"], pim["principalId"], pim["accessId"]) == (tier0["id"], ids["johanna.lorenz"], "member")
    assert ids["johanna.lorenz"] not in {m["id"] for m in tier0["members"]}
    assert methods[ids["johanna.lorenz"]] == ["mobilePhone"]
    assert (ids["amir.rahman"], "Global Administrator") in eligible
    staff = next(g for g in recs(tenant, "group_members") if g["displayName"] == sc.STAFF_GROUP)
    assert ids["amir.rahman"] not in {m["id"] for m in staff["members"]}


def test_exchange_scenarios_of_the_v2_rules(tenant: Snapshot) -> None:
    ids = _ids(tenant)
    users = by_upn(tenant)
    kinds = {m["ExternalDirectoryObjectId"]: m["RecipientTypeDetails"] for m in recs(tenant, "mailboxes")}
    assert kinds[ids["sales"]] == kinds[ids["billing"]] == kinds[""] == "SharedMailbox"
    assert kinds[ids["adele.vance"]] == "UserMailbox"
    assert users["sales@contoso.com"]["accountEnabled"] is True  # a shared mailbox that can sign in
    assert users["billing@contoso.com"]["accountEnabled"] is False
    assert users["sales@contoso.com"]["assignedLicenses"] == []
    policies = {p["Name"]: p for p in recs(tenant, "authentication_policies")}
    org = recs(tenant, "organization_config")
    assert org["OAuth2ClientProfileEnabled"] is False
    assert not any(v for k, v in policies[org["DefaultAuthenticationPolicy"]].items() if k.startswith("AllowBasic"))
    assigned = {u["ExternalDirectoryObjectId"]: u["AuthenticationPolicy"] for u in recs(tenant, "exchange_users")}
    assert assigned[ids["svc-scanner"]] == sc.SMTP_AUTH_POLICY and policies[sc.SMTP_AUTH_POLICY]["AllowBasicAuthSmtp"]
    assert {v for k, v in assigned.items() if k != ids["svc-scanner"]} == {None}


def test_service_account_scenarios(tenant: Snapshot) -> None:
    ids = _ids(tenant)
    pattern = re.compile(r"^(svc|sa|service|srv|noreply|no-reply|scan|scanner|printer|smtp|relay|app)[-_.]")
    matching = {
        u["userPrincipalName"].split("@")[0]
        for u in recs(tenant, "users")
        if pattern.match(u["userPrincipalName"].split("@")[0])
    }
    assert matching == {"svc-scanner", "svc-relay", "printer-3f"}  # noreply@ has no separator after it
    groups = {g["displayName"]: g for g in recs(tenant, "group_members")}
    members = {m["id"] for m in groups[sc.SERVICE_GROUP]["members"]}
    assert members == {ids[k] for k in ("svc-scanner", "svc-relay", "noreply", "printer-3f")}
    staff = {m["id"] for m in groups[sc.STAFF_GROUP]["members"]}
    assert ids["svc-scanner"] in staff and ids["breakglass"] not in staff
    mailbox = {m["ExternalDirectoryObjectId"]: m for m in recs(tenant, "cas_mailboxes")}
    scanner = mailbox[ids["svc-scanner"]]
    assert scanner["ImapEnabled"] is True and scanner["SmtpClientAuthenticationDisabled"] is False
    legacy = [s for s in recs(tenant, "sign_ins") if s["userId"] == ids["svc-scanner"]]
    assert {s["clientAppUsed"] for s in legacy} == {"Authenticated SMTP", "IMAP4"}
    assert all(s["status"]["errorCode"] == 0 for s in legacy)
    assert len({s["ipAddress"] for s in legacy}) > 5


def test_per_user_mfa_scenarios(tenant: Snapshot) -> None:
    users = {u["id"]: u for u in recs(tenant, "users")}
    scenario_ids = {u["id"] for u in recs(tenant, "users")[:FIXED]}
    states = Counter(
        (r["perUserMfaState"], users[r["id"]]["accountEnabled"])
        for r in recs(tenant, "per_user_mfa")
        if r["id"] in scenario_ids
    )
    assert states[("enforced", True)] == 5  # adele, svc-scanner, three daily accounts
    assert states[("enabled", True)] == 4  # alex, three daily accounts
    assert states[("enforced", False)] == 2  # disabled accounts: must not fire
    assert set(r["perUserMfaState"] for r in recs(tenant, "per_user_mfa")) == {"disabled", "enabled", "enforced"}


def test_mailbox_matrix_and_shared_mailbox(tenant: Snapshot) -> None:
    user_ids = {u["id"] for u in recs(tenant, "users")}
    mailboxes = recs(tenant, "cas_mailboxes")
    combos = {(m["ImapEnabled"], m["PopEnabled"], m["SmtpClientAuthenticationDisabled"]) for m in mailboxes}
    assert combos == {(i, p, s) for i in (True, False) for p in (True, False) for s in (True, False, None)}
    orphans = [m for m in mailboxes if m["ExternalDirectoryObjectId"] not in user_ids]
    assert [m["PrimarySmtpAddress"] for m in orphans] == ["info@contoso.com"]
    assert "info@contoso.com" not in {u["mail"] for u in recs(tenant, "users")}
    assert recs(tenant, "transport_config")["SmtpClientAuthenticationDisabled"] is False
    users = {u["id"]: u for u in recs(tenant, "users")}
    for m in mailboxes:
        if m["ExternalDirectoryObjectId"] in users:
            assert m["PrimarySmtpAddress"] == users[m["ExternalDirectoryObjectId"]]["mail"]


def test_conditional_access_scenarios(tenant: Snapshot) -> None:
    ids = _ids(tenant)
    groups = {g["displayName"]: g["id"] for g in recs(tenant, "group_members")}
    locations = {loc["displayName"]: loc for loc in recs(tenant, "named_locations")}
    policies = {p["displayName"]: p for p in recs(tenant, "conditional_access")}
    assert recs(tenant, "security_defaults")["isEnabled"] is False
    assert Counter(p["state"] for p in policies.values()) == {"enabled": 7, "enabledForReportingButNotEnforced": 3}
    admins = policies["Require MFA for admins"]["conditions"]["users"]
    assert set(admins["includeRoles"]) == set(PRIVILEGED_ROLES)
    assert admins["excludeUsers"] == [ids["breakglass"], ids["breakglass2"], ids[sc.SYNC_ACCOUNT]]
    assert admins["excludeRoles"] == [sc.GLOBAL_ADMIN_ID]  # exempts eligible Global Administrators on activation
    all_staff = policies["Require MFA for All Staff"]["conditions"]["users"]
    assert all_staff["includeGroups"] == [groups[sc.STAFF_GROUP]] and all_staff["excludeUsers"] == [
        ids["miriam.graham"]
    ]
    device = policies["Require MFA or compliant device (pilot)"]
    assert device["grantControls"]["builtInControls"] == ["mfa", "compliantDevice"]
    assert device["grantControls"]["operator"] == "OR" and device["state"] == "enabledForReportingButNotEnforced"
    phish = policies["Phishing-resistant MFA for Office 365"]
    assert phish["conditions"]["applications"]["includeApplications"] == ["Office365"]
    assert phish["grantControls"]["builtInControls"] == []
    assert phish["grantControls"]["authenticationStrength"]["allowedCombinations"] == [
        "windowsHelloForBusiness",
        "fido2",
        "x509CertificateMultiFactor",
    ]
    assert phish["conditions"]["users"]["excludeGroups"] == [groups[sc.SERVICE_GROUP]]
    staff = policies["Block legacy authentication (staff)"]
    assert staff["conditions"]["clientAppTypes"] == ["exchangeActiveSync", "other"]
    assert staff["conditions"]["users"]["includeGroups"] == [groups[sc.STAFF_GROUP]]
    assert staff["conditions"]["users"]["excludeUsers"] == [ids["svc-scanner"]]
    pin = policies["Pin svc-relay to HQ egress"]
    assert pin["conditions"]["users"]["includeUsers"] == [ids["svc-relay"]]
    assert pin["conditions"]["locations"] == {"includeLocations": ["All"], "excludeLocations": [locations["HQ"]["id"]]}
    # No enabled policy is an MFA baseline for All users on All apps; the legacy block for All users is split in
    # two, one per client type, each excluding a high-value resource (the other-clients one Exchange Online).
    for p in policies.values():
        if p["state"] == "enabled" and "All" in p["conditions"]["users"]["includeUsers"]:
            apps = p["conditions"]["applications"]
            assert apps["includeApplications"] != ["All"] or p["grantControls"]["builtInControls"] == ["block"]
    eas = policies["Block Exchange ActiveSync basic auth (all users)"]["conditions"]
    other = policies["Block other legacy clients (all users)"]["conditions"]
    assert eas["clientAppTypes"] == ["exchangeActiveSync"] and other["clientAppTypes"] == ["other"]
    assert eas["applications"]["excludeApplications"] == [sc.SHAREPOINT_APP_ID]
    assert other["applications"]["excludeApplications"] == [sc.EXCHANGE_APP_ID]
    assert eas["locations"]["excludeLocations"] == [locations["Branch Amsterdam"]["id"]]
    # Most but not all members are in All Staff.
    members = [u for u in recs(tenant, "users") if u["userType"] == "Member"]
    staff_members = next(g for g in recs(tenant, "group_members") if g["displayName"] == sc.STAFF_GROUP)["members"]
    assert 0.8 * len(members) < len(staff_members) < len(members)


def test_named_locations_and_legacy_trusted_ips(tenant: Snapshot) -> None:
    locations = {loc["displayName"]: loc for loc in recs(tenant, "named_locations")}
    assert locations["HQ"]["isTrusted"] is True and locations["Branch Amsterdam"]["isTrusted"] is False
    assert [r["cidrAddress"] for r in locations["HQ"]["ipRanges"]] == ["203.0.113.0/24", "2001:db8:1::/48"]
    assert [r["@odata.type"] for r in locations["HQ"]["ipRanges"]] == [
        "#microsoft.graph.iPv4CidrRange",
        "#microsoft.graph.iPv6CidrRange",
    ]
    assert locations["Partner range"]["ipRanges"] == [
        {"@odata.type": "#microsoft.graph.iPv4Range", "lowerAddress": "198.51.101.200", "upperAddress": "198.51.102.20"}
    ]
    assert Counter(loc["@odata.type"] for loc in locations.values()) == {
        "#microsoft.graph.ipNamedLocation": 4,
        "#microsoft.graph.countryNamedLocation": 1,
    }
    legacy = recs(tenant, "mfa_service_policy")
    assert legacy["allowAppPasswords"] is True
    assert legacy["trustedIps"]["skipMfaForFederatedUsers"] is True
    assert legacy["rememberMfaOnTrustedDevice"] == {"isEnabled": True, "allowedNumberOfDays": 14}
    ranges = [ipaddress.ip_network(r) for r in legacy["trustedIps"]["ipRanges"]]
    assert all(r.version == 4 for r in ranges) and len(ranges) == 8
    hq = ipaddress.ip_network("203.0.113.0/24")
    assert hq in ranges and ipaddress.ip_network("203.0.113.128/25").subnet_of(hq)
    assert any(r.is_private and r.prefixlen < 16 for r in ranges)
    assert recs(tenant, "auth_methods_policy")["policyMigrationState"] == "migrationInProgress"


def test_sign_in_scenarios(tenant: Snapshot) -> None:
    ids = _ids(tenant)
    sign_ins = recs(tenant, "sign_ins")
    assert {s["clientAppUsed"] for s in sign_ins} == {*LEGACY_CLIENTS, "Exchange Online PowerShell"}
    ok = Counter(s["userId"] for s in sign_ins if s["status"]["errorCode"] == 0)
    failed = Counter(s["userId"] for s in sign_ins if s["status"]["errorCode"] == 50126)
    assert ok[ids["adele.vance"]] == 6 and failed[ids["adele.vance"]] == 2
    assert ok[ids["uma.patel"]] == 0 and failed[ids["uma.patel"]] == 5
    assert ok[ids["alex.wilber"]] == 0
    assert ok[ids["ryan.hart"]] == 5 and ok[ids["sofia.marin"]] == 4 and ok[ids["tomas.kral"]] == 2
    assert all(s["status"]["errorCode"] in (0, 50126) for s in sign_ins)


# --- bulk, profile, scale ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "users,options",
    [
        (FIXED, GenOptions()),
        (400, GenOptions()),
        (3000, GenOptions()),
        (0, GenOptions(scenarios=False)),
        (1500, GenOptions(scenarios=False, rates=Rates(guest=0.1, active_admins=0.01, legacy_users=0.05))),
    ],
)
def test_scale_profile_matches_what_is_generated(users: int, options: GenOptions) -> None:
    prof = scale_profile(users, options)
    snap = generate_tenant(users, seed=3, now=NOW, options=options)
    for source, count in prof.records.items():
        assert snap.sources[source].items == count, source
    guests = sum(u["userType"] == "Guest" for u in recs(snap, "users"))
    assert guests - (1 if options.scenarios else 0) == prof.bulk_guests


def test_bulk_rates_at_20k_users() -> None:
    snap = generate_tenant(20_000, seed=11, now=NOW)
    prof = scale_profile(20_000)
    bulk = recs(snap, "users")[FIXED:]
    members = [u for u in bulk if u["userType"] == "Member"]
    assert len(bulk) - len(members) == prof.bulk_guests == round(0.02 * (20_000 - FIXED))
    assert sum(not u["accountEnabled"] for u in members) == prof.bulk_disabled
    bulk_ids = {u["id"] for u in bulk}
    states = Counter(r["perUserMfaState"] for r in recs(snap, "per_user_mfa") if r["id"] in bulk_ids)
    assert states["enabled"] == prof.bulk_mfa_enabled and states["enforced"] == prof.bulk_mfa_enforced
    assert 0.025 < (states["enabled"] + states["enforced"]) / len(members) < 0.035
    unregistered = sum(not r["isMfaRegistered"] for r in recs(snap, "registration_details") if r["id"] in bulk_ids)
    assert unregistered == prof.bulk_unregistered
    mailboxes = [m for m in recs(snap, "cas_mailboxes") if m["ExternalDirectoryObjectId"] in bulk_ids]
    imap_pop = sum(m["ImapEnabled"] or m["PopEnabled"] for m in mailboxes) / len(mailboxes)
    assert 0.27 < imap_pop < 0.33
    smtp_on = sum(m["SmtpClientAuthenticationDisabled"] is False for m in mailboxes) / len(mailboxes)
    assert 0.005 < smtp_on < 0.015
    legacy_users = {
        s["userId"] for s in recs(snap, "sign_ins") if s["status"]["errorCode"] == 0 and s["userId"] in bulk_ids
    }
    assert len(legacy_users) == prof.bulk_legacy_users
    never = sum(u["signInActivity"] is None for u in bulk) / len(bulk)
    assert 0.02 < never < 0.04
    assert len(recs(snap, "role_assignments")) + len(recs(snap, "role_eligibility")) > 50


def test_bad_tenant_name_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="tenant name 'my tenant' must be"):
        generate_tenant(FIXED, name="my tenant", now=NOW)
    assert generate_tenant(FIXED, name="Tailspin", now=NOW).tenant["default_domain"] == "tailspin.com"


def test_too_few_users_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=rf"users=5 is below the {FIXED} scenario users"):
        generate_tenant(5, now=NOW)
    assert len(recs(generate_tenant(5, now=NOW, options=GenOptions(scenarios=False)), "users")) == 5


# --- licence and failure knobs -----------------------------------------------------------------------


def test_p1_licence_has_no_pim() -> None:
    snap = generate_tenant(FIXED, now=NOW, options=GenOptions(licence="p1"))
    assert snap.sources["role_eligibility"].status == "failed"
    assert "P2" in snap.sources["role_eligibility"].reason
    assert snap.collected("sign_ins") and snap.collected("sign_in_activity")


def test_free_licence_lacks_premium_sources() -> None:
    snap = generate_tenant(FIXED, now=NOW, options=GenOptions(licence="free"))
    for name in ("sign_in_activity", "registration_details", "sign_ins", "role_eligibility"):
        assert snap.sources[name].status == "failed" and snap.sources[name].reason, name
        assert snap.sources[name].records is None
    assert all("signInActivity" not in u for u in recs(snap, "users"))
    assert snap.collected("users") and snap.collected("per_user_mfa")


def test_failed_sources_option() -> None:
    snap = generate_tenant(FIXED, now=NOW, options=GenOptions(failed_sources={"cas_mailboxes": "403 Forbidden"}))
    assert snap.sources["cas_mailboxes"].status == "failed"
    assert snap.sources["cas_mailboxes"].reason == "403 Forbidden"
    with pytest.raises(ValueError, match="unknown source 'no_such_source'"):
        generate_tenant(FIXED, now=NOW, options=GenOptions(failed_sources={"no_such_source": "x"}))


# --- command line ------------------------------------------------------------------------------------


def test_cli_writes_a_loadable_owner_only_snapshot(tmp_path, capsys) -> None:
    out = tmp_path / "t.json.gz"
    assert main(["--users", "120", "--seed", "5", "--now", "2026-11-23T06:00:00Z", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert comparable(load(out)) == comparable(generate_tenant(120, seed=5, now=NOW))


def test_cli_rejects_bad_input(tmp_path, capsys) -> None:
    assert main(["--users", "3", "--out", str(tmp_path / "x.json.gz")]) == 2
    assert "scenario users" in capsys.readouterr().err
    assert not (tmp_path / "x.json.gz").exists()
    with pytest.raises(SystemExit) as exc:
        main(["--users", "100", "--now", "yesterday", "--out", str(tmp_path / "y.json.gz")])
    assert exc.value.code == 2
    assert "--now 'yesterday' is not an ISO-8601 date-time" in capsys.readouterr().err
