"""v2 classifications: emergency access accounts, directory sync accounts, PIM-for-Groups eligible members."""

from __future__ import annotations

from typing import Any

from auditor.config import parse_config
from auditor.model.special_accounts import DIRECTORY_SYNC_ACCOUNTS, ON_PREMISES_DIRECTORY_SYNC_ACCOUNT
from auditor.model.tenant import TenantModel, build_model
from auditor.testing import GA, admin_policy_for_portals_only, baseline, snapshot_of, user


def model(records: dict[str, Any], config: dict | None = None) -> TenantModel:
    cfg = parse_config(config or {}, origin="test config")
    return build_model(snapshot_of(records), cfg.classification, cfg.legacy_mfa)


def row(m: TenantModel, uid: str) -> dict[str, Any]:
    return m.users[m.users["id"] == uid].iloc[0].to_dict()


def test_emergency_access_by_upn_object_id_and_group_name() -> None:
    records = baseline()
    records["users"] += [
        user("u-bg1", "bg1@contoso.com"),
        user("u-bg2", "bg2@contoso.com"),
        user("u-bg3", "bg3@contoso.com"),
    ]
    records["group_members"] = [{"id": "g-bg", "displayName": "Break Glass", "members": [{"id": "u-bg3"}]}]
    m = model(
        records,
        {"classification": {"emergency_access": ["BG1@contoso.com", "u-bg2", "break glass", "gone@contoso.com"]}},
    )
    assert row(m, "u-bg1")["emergency_signal"] == "UPN BG1@contoso.com"
    assert row(m, "u-bg2")["emergency_signal"] == "object id u-bg2"
    assert row(m, "u-bg3")["emergency_signal"] == "member of group 'Break Glass'"
    assert all(row(m, u)["is_emergency_access"] and not row(m, u)["is_daily"] for u in ("u-bg1", "u-bg2", "u-bg3"))
    assert not row(m, "u-bob")["is_emergency_access"] and row(m, "u-bob")["is_daily"]
    assert m.emergency_unresolved == ["gone@contoso.com"]


def test_sync_account_is_no_admin_for_the_rules_unless_it_holds_another_role() -> None:
    records = baseline()
    records["users"] += [
        user("u-sync", "Sync_SRV01_abc@contoso.onmicrosoft.com"),
        user("u-sync2", "Sync_SRV02_def@contoso.onmicrosoft.com"),
    ]
    records["role_assignments"] += [
        {"id": "ra-s1", "principalId": "u-sync", "roleDefinitionId": DIRECTORY_SYNC_ACCOUNTS, "directoryScopeId": "/"},
        {
            "id": "ra-s2",
            "principalId": "u-sync2",
            "roleDefinitionId": ON_PREMISES_DIRECTORY_SYNC_ACCOUNT,
            "directoryScopeId": "/",
        },
        {"id": "ra-s3", "principalId": "u-sync2", "roleDefinitionId": GA, "directoryScopeId": "/"},
    ]
    m = model(records)
    sync, sync2 = row(m, "u-sync"), row(m, "u-sync2")
    assert sync["is_sync_account"] and sync["sync_roles"] == ["Directory Synchronization Accounts"]
    assert sync["is_admin"] and not sync["counts_as_admin"] and not sync["is_daily"]
    assert sync2["is_sync_account"] and sync2["counts_as_admin"]
    assert row(m, "u-alice")["counts_as_admin"] and not row(m, "u-alice")["is_sync_account"]


def test_pim_for_groups_eligible_members_are_eligible_admins() -> None:
    records = baseline()
    records["role_assignments"].append(
        {
            "id": "ra-g",
            "principalId": "g-tier0",
            "roleDefinitionId": GA,
            "directoryScopeId": "/",
            "principal": {"@odata.type": "#microsoft.graph.group", "id": "g-tier0", "displayName": "Tier0"},
        }
    )
    records["group_members"] = [{"id": "g-tier0", "displayName": "Tier0", "members": []}]
    assert not row(model(records), "u-bob")["is_admin"]  # without the source nothing changes
    records["pim_group_eligibility"] = [
        {"id": "e1", "groupId": "g-tier0", "principalId": "u-bob", "accessId": "member", "memberType": "direct"},
        {"id": "e2", "groupId": "g-tier0", "principalId": "u-svc", "accessId": "owner", "memberType": "direct"},
    ]
    m = model(records)
    bob = row(m, "u-bob")
    assert bob["is_admin"] and bob["privileged_admin"] and bob["admin_roles"] == ["Global Administrator"]
    assert bob["role_assignment_kinds"] == ["eligible via group Tier0 (PIM for Groups)"]
    assert not row(m, "u-svc")["is_admin"]  # an eligible owner holds nothing until they add themselves


def test_pim_for_groups_eligible_member_of_an_excluded_role_is_excluded_on_activation() -> None:
    records = baseline()
    admin_policy_for_portals_only(records)  # the admins' own policy would cover them for MFA
    records["role_assignments"].append(
        {
            "id": "ra-g",
            "principalId": "g-tier0",
            "roleDefinitionId": GA,
            "directoryScopeId": "/",
            "principal": {"@odata.type": "#microsoft.graph.group", "id": "g-tier0", "displayName": "Tier0"},
        }
    )
    records["group_members"] = [{"id": "g-tier0", "displayName": "Tier0", "members": []}]
    records["pim_group_eligibility"] = [
        {"id": "e1", "groupId": "g-tier0", "principalId": "u-bob", "accessId": "member"}
    ]
    records["conditional_access"][0]["conditions"]["users"]["excludeRoles"] = [GA]
    m = model(records)
    bob = m.coverage[m.coverage["user_id"] == "u-bob"].iloc[0]
    assert bob["mfa_covered"] and bob["mfa_exclusion"] == "on activation"
