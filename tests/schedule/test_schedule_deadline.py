"""A hung scheduled audit does not block its tenant: past ``schedule.run_deadline_seconds`` the lock is
released and the run is recorded as failed; an abandoned pipeline run that wakes up records nothing."""

from __future__ import annotations

import threading
import time

from auditor.config import AuditorConfig
from auditor.findings import AuditResult, RunInfo
from auditor.history import HistoryStore
from auditor.schedule.scheduler import AuditScheduler, _AbandonGuard


def _config(url: str, deadline: float) -> AuditorConfig:
    return AuditorConfig.model_validate(
        {
            "tenants": [{"name": "contoso", "tenant_id": "t-1", "client_id": "c", "client_secret_env": "NOPE"}],
            "storage": {"url": url},
            "schedule": {"run_deadline_seconds": deadline},
        }
    )


def test_hung_audit_is_abandoned_at_the_run_deadline(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    store = HistoryStore(url)
    store.migrate()
    wake = threading.Event()
    late: dict[str, BaseException] = {}

    def hung(cfg: AuditorConfig, tenant: str) -> None:
        wake.wait(60)  # a stalled audit
        result = AuditResult(
            tenant={"name": tenant, "tenant_id": "t-1"}, run=RunInfo(), coverage=[], rules=[], findings=[]
        )
        try:
            _AbandonGuard(store).record(result)
        except BaseException as exc:
            late["error"] = exc

    sched = AuditScheduler(_config(url, 1.5), run_fn=hung, store=store, install_signal_handlers=False)
    runner = threading.Thread(target=sched.run_tenant, args=("contoso",), daemon=True)
    started = time.monotonic()
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "the scheduled audit was never abandoned"
    assert time.monotonic() - started < 15
    assert store.lock_holder("contoso") is None
    [run] = store.list_runs("contoso")
    assert run.status == "failed" and "run_deadline_seconds" in run.errors[0]
    wake.set()  # the hung audit wakes up: its late result is not recorded
    deadline = time.monotonic() + 10
    while "error" not in late and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "abandoned" in str(late["error"])
    assert len(store.list_runs("contoso")) == 1
    store.close()
