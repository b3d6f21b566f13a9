"""A source that takes too long as a whole fails alone with its reason (a per-source deadline); a
group_members collection without the security-group listing says in its coverage that it is incomplete."""

from __future__ import annotations

import time

from simkit import sim_config
from test_collect_hostile import bounded, collect, options

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


def test_group_members_without_the_group_listing_is_marked_incomplete(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=9)
    opts = SimOptions(forbidden={"groups"}, reports_per_10s=None, ca_per_second=None)
    with running_sim(served, options=opts) as sim:
        snap = bounded(lambda: collect(sim_config(sim, served), sources={"group_members"}), 60)
    row = next(c for c in snap.coverage() if c["source"] == "group_members")
    assert row["status"] == "collected"  # the groups roles and CA policies name are still there
    assert row["reason"] and row["reason"].startswith("incomplete: security groups could not be listed")
    assert "403" in row["reason"]
