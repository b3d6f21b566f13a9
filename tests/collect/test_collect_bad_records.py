"""A duplicated or ``null`` record from the server loses nothing (issue 13, item 4), end to end: a real
collection over HTTPS from a simulator serving such pages, then the audit. The snapshot keeps the records as
sent; the model keeps the first of each duplicate, skips the ``null``s, and says how many in the coverage."""

from __future__ import annotations

from pathlib import Path

from simkit import sim_config
from test_collect_hostile import bounded, options

from auditor.pipeline import run_audit
from auditor.sim.tenant_gen import generate_tenant
from auditor.snapshot import load

SPOILED = (
    "users",
    "role_definitions",
    "role_assignments",
    "role_eligibility",
    "registration_details",
    "conditional_access",
    "named_locations",
    "sign_ins",
    "cas_mailboxes",
    "mailboxes",
    "exchange_users",
)


def test_duplicate_and_null_records_from_the_server_are_counted_not_fatal(running_sim, sim_secret, tmp_path) -> None:
    served = generate_tenant(60, seed=5)
    opts = options(duplicate_records=set(SPOILED), null_records=set(SPOILED))
    with running_sim(served, options=opts) as sim:
        config = sim_config(sim, served)
        outcome = bounded(lambda: run_audit(config, "contoso", out_dir=tmp_path / "reports", formats=["json"]), 240)
        assert sim.options.faults.injected >= len(SPOILED)
    result = outcome.result
    assert result is not None and outcome.report_dir is not None
    assert not result.run.errors
    assert result.run.status == "complete", [c for c in result.coverage if c["status"] != "collected"]
    assert sum(r.status == "assessed" for r in result.rules) > 20
    coverage = {c["source"]: c for c in result.coverage}
    for name in SPOILED:
        row = coverage[name]
        assert row["status"] == "collected", row
        if name != "sign_ins":  # the collector itself keeps a sign-in once (it merges two lists by id)
            assert "duplicate record" in row["reason"] and "first kept" in row["reason"], row
        assert "malformed record" in row["reason"] and "skipped" in row["reason"], row
    # every served user once in the model's count; the snapshot on disk keeps what the server sent
    want = {u["id"] for u in served.records("users")}
    assert coverage["users"]["items"] == len(want)
    saved = load(Path(outcome.report_dir) / "snapshot.json.gz")
    raw = saved.records("users")
    assert None in raw and len([u for u in raw if u is not None]) > len(want)
    assert {u["id"] for u in raw if u is not None} == want
