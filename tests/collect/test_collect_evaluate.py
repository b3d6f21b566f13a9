"""Collect the demo tenant from the simulator and evaluate: same findings as evaluating it directly."""

from __future__ import annotations

import asyncio

import pytest
from simkit import sim_config

from auditor.collect.collector import Limits, collect_tenant_async
from auditor.demo import demo_snapshot
from auditor.engine import evaluate_snapshot
from auditor.sim import SimOptions

FAST = Limits(backoff_base=0.05, reports_per_10s=1000, ca_per_second=1000)


def _summary(result):
    findings = sorted((f.rule_id, f.entity_id, f.severity) for f in result.findings)
    rules = sorted((r.id, r.status, r.findings) for r in result.rules)
    return findings, rules


@pytest.mark.parametrize("faults", ["none", "all"])
def test_collected_demo_tenant_evaluates_like_the_served_one(running_sim, sim_secret, faults) -> None:
    served = demo_snapshot()
    opts = SimOptions(reports_per_10s=None, ca_per_second=None)
    if faults == "all":
        # every transient fault at once: throttling, 503s, expiring and revoked tokens, per-user MFA
        # fallback in shuffled $batches, one malformed and one truncated page per affected route
        opts = SimOptions(
            identity_budget_units=400,
            random_503_rate=0.1,
            retry_after_503_s=0,
            force_401_after_requests=25,
            token_lifetime_s=2,
            per_user_mfa_bulk=False,
            shuffle_batch=True,
            default_page=40,
            malformed_json={"conditional_access": 1, "users": 1},
            truncated_page={"registration_details": 1, "cas_mailboxes": 1},
            reports_per_10s=None,
            ca_per_second=None,
            seed=5,
        )
    with running_sim(served, options=opts) as sim:
        config = sim_config(sim, served)
        run = asyncio.run(collect_tenant_async(config.tenants[0], config, now=served.collected_at, limits=FAST))
        stats = sim.stats
    got = run.snapshot
    failed = {n: s.reason for n, s in got.sources.items() if s.status != served.sources[n].status}
    assert not failed
    now = served.collected_at
    want = evaluate_snapshot(served, config, now=now)
    have = evaluate_snapshot(got, config, now=now)
    assert want.findings, "the demo tenant makes rules fire"
    assert _summary(have) == _summary(want)
    if faults == "all":
        assert stats.faults_injected >= 4 and stats.unauthorized_401 > 0 and stats.unavailable_503 > 0
        assert run.notes["per_user_mfa_path"] == "per-user"
