"""Tenants without Entra ID P1/P2 (issue 12 item 12): a licence refusal is ``skipped`` with its reason, a
source that only disabled rules need is not collected, and the run is ``complete`` (exit 0, not 3)."""

from __future__ import annotations

import json
from pathlib import Path

from simkit import sim_config

from auditor.config import AuditorConfig
from auditor.pipeline import run_audit
from auditor.rules import REGISTRY
from auditor.sim import SimOptions
from auditor.sim.tenant_gen import generate_tenant

UNLICENSED = SimOptions(unlicensed_p1=True, unlicensed_p2=True, reports_per_10s=None, ca_per_second=None)
#: the rules that need only Entra ID P1 sources
# The rules that read the two P1-only sources this test expects skipped, from the registry.
P1_RULES = tuple(
    rule_id
    for rule_id, spec in REGISTRY.items()
    if {"registration_details", "sign_in_activity"} & (set(spec.needs) | set(spec.optional_needs))
)


def _config(sim, served, tmp_path: Path, **extra) -> AuditorConfig:
    base = sim_config(sim, served)
    data = base.model_dump(exclude_unset=True)
    data.update({"reports": {"dir": str(tmp_path / "r")}, **extra})
    return AuditorConfig.model_validate(data)


def test_licence_refusals_are_skipped_and_the_run_is_complete(running_sim, sim_secret, tmp_path) -> None:
    served = generate_tenant(40, seed=31)
    with running_sim(served, options=UNLICENSED) as sim:
        outcome = run_audit(_config(sim, served, tmp_path), "contoso", formats=["json"], email=False)
    doc = json.loads(outcome.files["json"].read_text())
    coverage = {c["source"]: c for c in doc["coverage"]}
    for name, licence in [
        ("registration_details", "Entra ID P1"),
        ("sign_ins", "Entra ID P1"),
        ("sign_in_activity", "Entra ID P1"),
        ("role_eligibility", "Entra ID P2"),
    ]:
        assert coverage[name]["status"] == "skipped", (name, coverage[name])
        assert licence in coverage[name]["reason"]
    assert not [c for c in doc["coverage"] if c["status"] == "failed"]
    assert doc["run"]["status"] == "complete" and outcome.status == "complete"
    rules = {r["id"]: r for r in doc["rules"]}
    assert rules["legacy-auth-sign-ins"]["status"] == "not_assessed"
    assert "Entra ID P1" in rules["legacy-auth-sign-ins"]["reason"]


def test_a_source_only_disabled_rules_need_is_not_collected(running_sim, sim_secret, tmp_path) -> None:
    served = generate_tenant(40, seed=32)
    rules = {rule: {"enabled": False} for rule in P1_RULES}
    with running_sim(served, options=UNLICENSED) as sim:
        config = _config(sim, served, tmp_path, rules=rules)
        outcome = run_audit(config, "contoso", formats=["json"], email=False)
        served_requests = dict(sim.stats.requests_by_route)
    doc = json.loads(outcome.files["json"].read_text())
    coverage = {c["source"]: c for c in doc["coverage"]}
    for name in ("registration_details", "sign_in_activity"):
        assert coverage[name]["status"] == "skipped"
        assert "disabled" in coverage[name]["reason"], coverage[name]
    # sign_ins is still optionally used by enabled rules: collected or refused for the licence
    assert "licence" in coverage["sign_ins"]["reason"]
    assert doc["run"]["status"] == "complete"
    assert served_requests.get("users") and not served_requests.get("registration_details")


def test_a_real_failure_still_makes_the_run_partial(running_sim, sim_secret, tmp_path) -> None:
    from auditor.sim.permissions import ALL_PERMISSIONS

    served = generate_tenant(40, seed=33)
    with running_sim(served, options=UNLICENSED, granted=set(ALL_PERMISSIONS) - {"Policy.Read.All"}) as sim:
        outcome = run_audit(_config(sim, served, tmp_path), "contoso", formats=["json"], email=False)
    doc = json.loads(outcome.files["json"].read_text())
    failed = {c["source"] for c in doc["coverage"] if c["status"] == "failed"}
    assert "conditional_access" in failed
    assert doc["run"]["status"] == "partial"
