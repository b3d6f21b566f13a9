"""The collector against the simulator: group display names ($batch lookups, names from config) and the
tenant's display name / default domain from GET /organization (with its fallback)."""

from __future__ import annotations

import asyncio
import copy
import math
import uuid
from collections import Counter

from simkit import canon, sim_config

from auditor.collect.collector import Limits, collect_tenant_async
from auditor.config import AuditorConfig
from auditor.sim import SimOptions
from auditor.sim.permissions import ALL_PERMISSIONS
from auditor.sim.tenant_gen import generate_tenant
from auditor.snapshot import Snapshot, SourceData

FAST = Limits(backoff_base=0.05, reports_per_10s=1000, ca_per_second=1000)
OPEN = SimOptions(reports_per_10s=None, ca_per_second=None)


def collect(config: AuditorConfig, sources: set[str], now=None):
    return asyncio.run(collect_tenant_async(config.tenants[0], config, sources=sources, limits=FAST, now=now))


def with_extra_groups(
    served: Snapshot, count: int, *, referenced: bool = True, names: list[str] | None = None, security: bool = True
) -> tuple[Snapshot, list[dict]]:
    """``served`` plus ``count`` groups of a few users each, excluded by one CA policy when ``referenced``.

    Groups that are not ``security`` (Microsoft 365 groups) are expanded only because a policy names them,
    and their names are not in the security-group listing."""
    snap = copy.deepcopy(served)
    users = [u for u in snap.records("users") if u.get("userType") == "Member"]
    extra = []
    for i in range(count):
        members = [
            {"@odata.type": "#microsoft.graph.user", "id": u["id"], "userPrincipalName": u["userPrincipalName"]}
            for u in users[i % 7 : i % 7 + 3]
        ]
        name = names[i] if names else f"Project <{i}> & Co"
        extra.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"group:{name}")),
                "displayName": name,
                "members": members,
                **({} if security else {"securityEnabled": False}),
            }
        )
    snap.sources["group_members"] = SourceData.collected(snap.records("group_members") + extra)
    if referenced:
        policies = snap.records("conditional_access")
        cond = policies[0]["conditions"]["users"]
        # plus one deleted group: it is skipped (404 on its members), never looked up by name
        cond["excludeGroups"] = [*(cond.get("excludeGroups") or []), *(g["id"] for g in extra), str(uuid.uuid4())]
        snap.sources["conditional_access"] = SourceData.collected(policies)
    return snap, extra


def names_from_role_principals(snap: Snapshot) -> set[str]:
    return {
        str(r["principalId"])
        for r in snap.records("role_assignments")
        if "group" in str((r.get("principal") or {}).get("@odata.type", "")).lower()
        and (r.get("principal") or {}).get("displayName")
    }


def without_flag(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "securityEnabled"} for r in records]


def test_group_names_are_looked_up_in_batches_of_20(running_sim, sim_secret) -> None:
    served, extra = with_extra_groups(generate_tenant(60, seed=7), 25, security=False)
    groups = without_flag(served.records("group_members"))
    # security groups are named by their listing; the others a CA policy names are looked up by id
    unnamed = extra
    assert len(unnamed) > 20 and len(unnamed) < len(groups)
    with running_sim(served, options=OPEN) as sim:
        run = collect(sim_config(sim, served), {"group_members"}, now=served.collected_at)
        stats = sim.stats
    got = run.snapshot.sources["group_members"]
    assert got.status == "collected", got.reason
    assert canon(got.records) == canon(groups)
    assert all(rec["displayName"] for rec in got.records)
    assert {r["displayName"] for r in got.records} >= {g["displayName"] for g in extra}
    # one listing page of security groups, then one GET /groups/{id} per group without a known name, all
    # inside $batch, 20 per batch
    assert stats.requests_by_route["groups"] == 1 + len(unnamed)
    assert stats.batch_subrequests == len(unnamed)
    assert stats.batch_requests == math.ceil(len(unnamed) / 20)
    assert "group_names_unavailable" not in run.notes


def test_service_account_group_named_in_config_carries_its_name(running_sim, sim_secret) -> None:
    served, extra = with_extra_groups(generate_tenant(50, seed=8), 1, referenced=False, names=["O'Neil's Service Crew"])
    with running_sim(served, options=OPEN) as sim:
        base = sim_config(sim, served)
        config = AuditorConfig.model_validate(
            {
                **base.model_dump(exclude_none=True),
                "classification": {"service_accounts": {"groups": ["o'neil's SERVICE crew"]}},
            }
        )
        snap = collect(config, {"group_members"}, now=served.collected_at).snapshot
    by_id = {r["id"]: r for r in snap.records("group_members")}
    assert by_id[extra[0]["id"]]["displayName"] == "O'Neil's Service Crew"
    assert canon(by_id[extra[0]["id"]]["members"]) == canon(extra[0]["members"])


def test_unreadable_group_names_keep_the_membership(running_sim, sim_secret) -> None:
    served, _ = with_extra_groups(generate_tenant(50, seed=9), 3)
    named = names_from_role_principals(served)
    # /groups (the listing and GET /groups/{id}) denied: referenced groups are still expanded
    opts = SimOptions(forbidden={"groups"}, reports_per_10s=None, ca_per_second=None)
    with running_sim(served, options=opts) as sim:
        run = collect(sim_config(sim, served), {"group_members"}, now=served.collected_at)
    got = run.snapshot.sources["group_members"]
    # partial, not collected (issue 13): without the listing, unreferenced security groups may be missing
    assert got.status == "partial", got.reason
    want = {g["id"]: g for g in served.records("group_members")}
    assert {r["id"] for r in got.records} == set(want)
    for rec in got.records:
        assert canon(rec["members"]) == canon(want[rec["id"]]["members"])
        assert rec["displayName"] == (want[rec["id"]]["displayName"] if rec["id"] in named else None)
    problems = run.notes["group_names_unavailable"]
    assert len(problems) == len(want) - len(named) and all("403" in p for p in problems)
    assert "403" in run.notes["security_groups_unlisted"]


def test_snapshot_carries_the_served_organization_name_and_default_domain(running_sim, sim_secret) -> None:
    served = generate_tenant(40, seed=4)
    served.tenant["display_name"] = "Contoso Pharmaceuticals <EU>"
    served.tenant["default_domain"] = "contoso-pharma.example"  # not the users' UPN domain
    with running_sim(served, options=OPEN) as sim:
        run = collect(sim_config(sim, served, name="contoso-eu"), {"security_defaults"})
        stats = sim.stats
    meta = run.snapshot.tenant
    assert meta["display_name"] == "Contoso Pharmaceuticals <EU>"
    assert meta["default_domain"] == "contoso-pharma.example"
    assert meta["name"] == "contoso-eu" and meta["tenant_id"] == served.tenant_id
    assert stats.requests_by_route["organization"] == 1
    assert "organization" not in run.notes


def test_without_organization_permission_the_upn_domain_and_config_name_are_used(running_sim, sim_secret) -> None:
    served = generate_tenant(40, seed=4)
    served.tenant["default_domain"] = "contoso-pharma.example"
    granted = set(ALL_PERMISSIONS) - {"Organization.Read.All"}
    with running_sim(served, options=OPEN, granted=granted) as sim:
        run = collect(sim_config(sim, served, name="contoso-eu"), {"users"})
    upn_domains = Counter(
        u["userPrincipalName"].rsplit("@", 1)[1].lower()
        for u in served.records("users")
        if "#EXT#" not in u["userPrincipalName"]
    )
    meta = run.snapshot.tenant
    assert meta["default_domain"] == upn_domains.most_common(1)[0][0] != "contoso-pharma.example"
    assert meta["display_name"] == "contoso-eu"
    assert "403" in run.notes["organization"]


def test_doctor_advises_the_optional_organization_permission(running_sim, sim_secret) -> None:
    from auditor.doctor import doctor

    served = generate_tenant(40, seed=4)
    with running_sim(served, options=OPEN, granted=set(ALL_PERMISSIONS) - {"Organization.Read.All"}) as sim:
        config = sim_config(sim, served)
        without = doctor(config.tenants[0], config)
    with running_sim(served, options=OPEN) as sim:
        config = sim_config(sim, served)
        granted = doctor(config.tenants[0], config)
    assert without.ok and granted.ok  # optional: coverage is unaffected
    assert len(without.notes) == 1 and "Organization.Read.All" in without.notes[0] and "403" in without.notes[0]
    assert "Organization.Read.All" in without.render()
    assert granted.notes == [] and " i " not in granted.render()
