"""The audit_tenant task body against a real SQLite history database and the real pipeline."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from scale_workload import sim_config

from auditor.config import parse_config
from auditor.history import HistoryStore
from auditor.scale.claims import ClaimStore
from auditor.scale.settings import ScaleSettings
from auditor.scale.task import RetryLater, WorkerRuntime, run_claimed_audit

PERIOD = "2026-11-23T07:00Z"


@pytest.fixture
def env(tmp_path, monkeypatch):
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("ENTRA_SCALE_TEST_MARKERS", str(markers))
    monkeypatch.delenv("ENTRA_SCALE_TEST_SLOW", raising=False)
    monkeypatch.delenv("ENTRA_SCALE_TEST_FAIL", raising=False)
    url = f"sqlite:///{tmp_path / 'history.db'}"
    config = parse_config(sim_config(["sim-001", "sim-002"], url, str(tmp_path / "reports")))
    settings = ScaleSettings(lease_seconds=30, max_attempts=3, retry_seconds=5, run_fn="scale_workload:run_sim_tenant")
    runtime = WorkerRuntime(settings, config_loader=lambda: config)
    return runtime, config, tmp_path


def runs_of(config, tenant):
    return HistoryStore(config.storage.url).list_runs(tenant)


def test_runs_once_and_a_redelivery_is_a_no_op(env):
    runtime, config, _ = env
    first = run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
    assert first["outcome"] == "completed" and first["run_status"] == "complete"
    second = run_claimed_audit(runtime, "sim-001", PERIOD, "w2:2")
    assert second == {
        "tenant": "sim-001",
        "period": PERIOD,
        "worker": "w2:2",
        "outcome": "duplicate",
        "run_id": first["run_id"],
    }
    runs = runs_of(config, "sim-001")
    assert [r.id for r in runs] == [first["run_id"]]
    assert (Path(runs[0].report_dir) / "findings.json").exists()
    # The next period is a new audit.
    assert run_claimed_audit(runtime, "sim-001", "2026-11-30T07:00Z", "w1:1")["outcome"] == "completed"
    assert len(runs_of(config, "sim-001")) == 2


def test_a_claim_held_by_a_live_worker_makes_the_task_wait(env):
    runtime, config, _ = env
    store = runtime.claims(config)
    store.acquire("sim-001", PERIOD, "other:9")
    with pytest.raises(RetryLater) as info:
        run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
    assert 25 <= info.value.countdown <= 31
    assert "other:9" in info.value.reason
    assert runs_of(config, "sim-001") == []


def test_failures_are_retried_then_given_up(env, monkeypatch):
    runtime, config, _ = env
    monkeypatch.setenv("ENTRA_SCALE_TEST_FAIL", "sim-001:5")
    for attempt in (1, 2):
        with pytest.raises(RetryLater) as info:
            run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
        assert info.value.countdown == 5 * 2 ** (attempt - 1)
        assert "injected failure" in info.value.reason
    last = run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
    assert last["outcome"] == "failed" and last["attempt"] == 3
    assert run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")["outcome"] == "gave_up"
    assert runs_of(config, "sim-001") == []


def test_transient_failure_then_success(env, monkeypatch):
    runtime, config, _ = env
    monkeypatch.setenv("ENTRA_SCALE_TEST_FAIL", "sim-002:1")
    with pytest.raises(RetryLater):
        run_claimed_audit(runtime, "sim-002", PERIOD, "w1:1")
    done = run_claimed_audit(runtime, "sim-002", PERIOD, "w1:1")
    assert done["outcome"] == "completed" and done["attempt"] == 2
    assert len(runs_of(config, "sim-002")) == 1


def test_unknown_tenant_fails_with_one_sentence(env):
    runtime, _, _ = env
    out = run_claimed_audit(runtime, "nope", PERIOD, "w1:1")
    assert out["outcome"] == "failed"
    assert "No tenant named 'nope'" in out["error"]


def test_a_worker_that_lost_its_claim_does_not_record(env, monkeypatch):
    """The lease expires while the run is in flight and another worker takes over: fenced."""
    runtime, config, _ = env
    store: ClaimStore = runtime.claims(config)
    import scale_workload

    real = scale_workload.run_sim_tenant

    def stolen(config, tenant_name, **kwargs):
        with store.engine.begin() as conn:  # simulate: lease expired, another worker took it
            from sqlalchemy import update

            from auditor.scale.claims import claims_table

            conn.execute(update(claims_table).values(token="someone-else", worker="w9:9"))
        return real(config, tenant_name, **kwargs)

    monkeypatch.setattr(scale_workload, "run_sim_tenant", stolen)
    out = run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
    assert out["outcome"] == "lost"
    assert runs_of(config, "sim-001") == []


def test_a_run_recorded_by_a_worker_that_died_is_kept(env):
    """The holder recorded its run and died before marking the claim done: the next one keeps it."""
    runtime, config, _ = env
    store = runtime.claims(config)
    first = run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
    from sqlalchemy import update

    from auditor.scale.claims import claims_table

    with store.engine.begin() as conn:  # as if the process died right after history.record
        conn.execute(update(claims_table).values(state="running", lease_expires=None, finished_at=None))
    with store.engine.begin() as conn:
        conn.execute(update(claims_table).values(lease_expires=store.clock().replace(year=2000)))
    again = run_claimed_audit(runtime, "sim-001", PERIOD, "w2:2")
    assert again["outcome"] == "recovered" and again["run_id"] == first["run_id"]
    assert len(runs_of(config, "sim-001")) == 1
    assert store.get("sim-001", PERIOD)["state"] == "done"


def test_tenant_busy_hands_the_claim_back(env):
    """An on-demand audit holds the tenant lock: the task waits without using up an attempt."""
    runtime, config, _ = env
    history = HistoryStore(config.storage.url)
    held, release = threading.Event(), threading.Event()

    def cli_audit():
        with history.tenant_lock("sim-001", "entra-auditor audit (pid 1)"):
            held.set()
            release.wait(30)

    t = threading.Thread(target=cli_audit)
    t.start()
    try:
        assert held.wait(30)
        with pytest.raises(RetryLater) as info:
            run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
        assert "being audited" in info.value.reason
        row = runtime.claims(config).get("sim-001", PERIOD)
        assert (row["state"], row["attempts"]) == ("queued", 0)
    finally:
        release.set()
        t.join(30)
    assert run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")["outcome"] == "completed"


def test_history_database_down_is_a_failed_attempt_then_retried(env):
    runtime, config, tmp = env
    import dataclasses

    runtime = WorkerRuntime(
        dataclasses.replace(runtime.settings, history_fn="scale_workload:flaky_history"), config_loader=lambda: config
    )
    (tmp / "markers" / "history-down").write_text("")
    with pytest.raises(RetryLater) as info:
        run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
    assert "connection refused" in info.value.reason
    row = runtime.claims(config).get("sim-001", PERIOD)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    done = run_claimed_audit(runtime, "sim-001", PERIOD, "w1:1")
    assert done["outcome"] == "completed" and done["attempt"] == 2
    assert len(runs_of(config, "sim-001")) == 1
