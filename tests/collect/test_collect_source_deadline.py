"""A source that takes too long as a whole fails alone with its reason (a per-source deadline); a
group_members collection without the security-group listing is ``partial``, and the rules reading it say so."""

from __future__ import annotations

import time

from simkit import sim_config
from test_collect_hostile import bounded, collect, options

from auditor.config import ServiceAccountConfig
from auditor.engine import evaluate_snapshot
from auditor.rules import REGISTRY
from auditor.sim import SimOptions
from auditor.sim.tenant_gen import generate_tenant


def test_a_source_past_its_deadline_fails_alone(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=4)
    # each answer trickles but stays within the per-request deadline: only the source deadline stops it
    opts = options(trickle={"role_definitions"}, trickle_interval_s=0.05)
    with running_sim(served, options=opts) as sim:
        config = sim_config(sim, served, collect={"timeout_seconds": 120, "source_deadline_seconds": 2})
        started = time.monotonic()
        snap = bounded(lambda: collect(config, sources={"role_definitions", "users"}), 60)
    assert time.monotonic() - started < 20
    src = snap.sources["role_definitions"]
    assert src.status == "failed" and "source deadline of 2 s" in src.reason
    assert snap.sources["users"].status == "collected"


def test_group_members_without_the_group_listing_is_partial(running_sim, sim_secret) -> None:
    # Was pinned as ``collected`` with an "incomplete:" reason (issue 13 names that a defect): the source now
    # says ``partial``, so the run is partial and no rule reading group membership passes silently.
    served = generate_tenant(50, seed=9)
    opts = SimOptions(forbidden={"groups"}, reports_per_10s=None, ca_per_second=None)
    with running_sim(served, options=opts) as sim:
        snap = bounded(lambda: collect(sim_config(sim, served), sources={"group_members"}), 60)
    row = next(c for c in snap.coverage() if c["source"] == "group_members")
    assert row["status"] == "partial"
    assert row["reason"] and row["reason"].startswith("security groups could not be listed")
    assert "403" in row["reason"]
    assert snap.collected("group_members")  # the groups roles and CA policies name are still there to read
    served_ids = {g["displayName"]: g["id"] for g in served.records("group_members")}
    assert {g["id"] for g in snap.records("group_members")} >= {served_ids["Tier0 Admins"], served_ids["All Staff"]}


def test_rules_reading_partial_group_members_name_the_missing_groups(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=9)
    # a security group no role and no CA policy names: only the (refused) listing would find it
    served.sources["group_members"].records.append(
        {"id": "0badc0de-0000-4000-8000-000000000001", "displayName": "Batch Jobs", "members": []}
    )
    opts = SimOptions(forbidden={"groups"}, reports_per_10s=None, ca_per_second=None)
    with running_sim(served, options=opts) as sim:
        config = sim_config(sim, served)
        snap = bounded(lambda: collect(config), 120)
    config = config.model_copy(
        update={
            "classification": config.classification.model_copy(
                update={"service_accounts": ServiceAccountConfig(groups=["Batch Jobs"])}
            )
        }
    )
    result = evaluate_snapshot(snap, config)
    assert result.run.status == "partial"
    readers = [r for r in result.rules if "group_members" in (*r.needs, *REGISTRY[r.id].optional_needs)]
    assert readers
    for outcome in readers:
        if outcome.status != "assessed":
            continue
        assert outcome.reason and outcome.reason.startswith("assessed without the members of groups Batch Jobs; ")
        assert "part of group_members (security groups could not be listed" in outcome.reason
    others = [r for r in result.rules if r not in readers and r.status == "assessed"]
    assert all("group_members" not in (r.reason or "") for r in others)
