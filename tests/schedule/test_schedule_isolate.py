"""A hung scheduled audit is really stopped: isolated runs (the default audit's) happen in a child process
that is killed at ``schedule.run_deadline_seconds``; the lock is released and the run recorded as failed.
The child's logs reach the scheduler's stream, its errors are reported as the audit's, and a child whose
scheduler was killed does not run on. Every test is bounded (a hang fails it instead of the suite)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from auditor.config import AuditorConfig
from auditor.errors import ConfigError
from auditor.history import HistoryStore
from auditor.schedule.scheduler import AuditScheduler

PIDFILE_ENV = "ENTRA_AUDITOR_TEST_AUDIT_PIDFILE"
ROOT = Path(__file__).resolve().parents[2]


# -- fake audits (module level: the child process imports them) -----------------------------------
def hang_forever(config: AuditorConfig, tenant: str) -> None:
    Path(os.environ[PIDFILE_ENV]).write_text(str(os.getpid()))
    ballast = bytearray(50 * 1024 * 1024)  # what a hung audit holds on to until it is stopped
    while ballast:
        time.sleep(1)


def quick_audit(config: AuditorConfig, tenant: str) -> Any:
    logging.getLogger("auditor.test").info("hello from the audit process", extra={"event": "child_says"})
    result = SimpleNamespace(run=SimpleNamespace(id="r-1", status="complete"), summary=lambda: {"open": {"high": 2}})
    return SimpleNamespace(result=result, report_dir=Path("/tmp/r"), email_sent=False, errors=[])


def refused_audit(config: AuditorConfig, tenant: str) -> None:
    raise ConfigError(f"Tenant {tenant}: the client secret variable is not set.")


# -- helpers ---------------------------------------------------------------------------------------
def _config(url: str, deadline: float = 600) -> AuditorConfig:
    return AuditorConfig.model_validate(
        {
            "tenants": [{"name": "contoso", "tenant_id": "t-1", "client_id": "c", "client_secret_env": "NOPE"}],
            "storage": {"url": url},
            "schedule": {"run_deadline_seconds": deadline},
        }
    )


def _run_bounded(sched: AuditScheduler, seconds: float) -> float:
    runner = threading.Thread(target=sched.run_tenant, args=("contoso",), daemon=True)
    started = time.monotonic()
    runner.start()
    runner.join(seconds)
    assert not runner.is_alive(), f"the scheduled audit still runs after {seconds} s"
    return time.monotonic() - started


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- tests -----------------------------------------------------------------------------------------
def test_hung_audit_process_is_killed_at_the_run_deadline(tmp_path, monkeypatch, caplog) -> None:
    pidfile = tmp_path / "audit.pid"
    monkeypatch.setenv(PIDFILE_ENV, str(pidfile))
    url = f"sqlite:///{tmp_path / 'history.db'}"
    store = HistoryStore(url)
    store.migrate()
    sched = AuditScheduler(
        _config(url, deadline=4), run_fn=hang_forever, store=store, install_signal_handlers=False, isolate=True
    )
    with caplog.at_level(logging.INFO, logger="auditor"):
        elapsed = _run_bounded(sched, 60)
    assert elapsed < 30
    pid = int(pidfile.read_text())  # the audit really ran, in a process of its own
    assert pid != os.getpid()
    assert not _alive(pid), "the hung audit process still runs after the deadline"
    assert store.lock_holder("contoso") is None
    [run] = store.list_runs("contoso")
    assert run.status == "failed"
    assert "run_deadline_seconds" in run.errors[0] and "killed" in run.errors[0]
    assert any(getattr(r, "event", None) == "audit_abandoned" for r in caplog.records)
    assert not sched._children
    store.close()


def test_isolated_audit_logs_through_the_scheduler_and_reports_its_outcome(tmp_path, caplog) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    store = HistoryStore(url)
    store.migrate()
    sched = AuditScheduler(_config(url), run_fn=quick_audit, store=store, install_signal_handlers=False, isolate=True)
    with caplog.at_level(logging.INFO, logger="auditor"):
        _run_bounded(sched, 60)
    said = [r for r in caplog.records if getattr(r, "event", None) == "child_says"]
    assert said and said[0].getMessage() == "hello from the audit process" and said[0].process != os.getpid()
    [done] = [r for r in caplog.records if getattr(r, "event", None) == "audit_finished"]
    assert (done.run_id, done.status, done.open, done.report_dir) == ("r-1", "complete", {"high": 2}, "/tmp/r")
    assert store.lock_holder("contoso") is None
    store.close()


def test_isolated_audit_error_is_reported_as_the_audits(tmp_path, caplog) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    store = HistoryStore(url)
    store.migrate()
    sched = AuditScheduler(_config(url), run_fn=refused_audit, store=store, install_signal_handlers=False, isolate=True)
    with caplog.at_level(logging.INFO, logger="auditor"):
        _run_bounded(sched, 60)
    [failed] = [r for r in caplog.records if getattr(r, "event", None) == "audit_failed"]
    assert failed.getMessage() == "Tenant contoso: the client secret variable is not set."
    assert (failed.error, failed.exit_code) == ("ConfigError", 2)
    assert store.lock_holder("contoso") is None
    store.close()


def test_the_default_audit_is_isolated_and_an_injected_one_is_not(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    assert AuditScheduler(_config(url), install_signal_handlers=False).isolate
    assert not AuditScheduler(_config(url), run_fn=lambda c, t: None, install_signal_handlers=False).isolate


ORPHAN = """
import sys
sys.path.insert(0, {here!r})
from auditor.config import AuditorConfig
from auditor.schedule.isolate import run_in_child
from test_schedule_isolate import _config, hang_forever
if __name__ == "__main__":  # spawn imports this module again in the child
    run_in_child(hang_forever, _config("sqlite://"), "contoso", 600, facts=dict)
"""


def test_audit_process_of_a_killed_scheduler_does_not_run_on(tmp_path) -> None:
    pidfile = tmp_path / "audit.pid"
    script = tmp_path / "scheduler.py"
    script.write_text(ORPHAN.format(here=str(Path(__file__).parent)))
    env = {**os.environ, PIDFILE_ENV: str(pidfile), "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        end = time.monotonic() + 60
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < end and parent.poll() is None, "the audit process never started"
            time.sleep(0.1)
        child = int(pidfile.read_text())
        assert _alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)  # the scheduler dies without a chance to clean up
        parent.wait(30)
    end = time.monotonic() + 15
    while _alive(child) and time.monotonic() < end:
        time.sleep(0.2)
    if _alive(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the audit process outlived its killed scheduler")
