"""The scheduler: cron translation, firing once, catch-up after a kill (before or during the audit),
coalescing, misfire grace, graceful SIGTERM, lock contention. Scheduler processes are real
subprocesses with a real SQLite job store; the audit they run is a small function that records a
real run in the history database."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from auditor.config import AuditorConfig, ScheduleConfig
from auditor.errors import ConfigError
from auditor.history import HistoryStore
from auditor.schedule import AuditScheduler, JsonLineFormatter, build_trigger, previous_fire_time

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys, time
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger
    from auditor.config import AuditorConfig
    from auditor.findings import AuditResult, RunInfo
    from auditor.history import HistoryStore
    from auditor.schedule import run_scheduler

    url, kind, fire_arg, grace, work_seconds = sys.argv[1:6]
    if len(sys.argv) > 6 and sys.argv[6] == "reused-pid":
        # what a restarted container sees: a lock left by the killed process with this host and PID
        import os, socket
        from auditor.history.models import tenant_locks
        store = HistoryStore(url)
        store.migrate()
        now = datetime.now(UTC)
        with store.engine.begin() as conn:
            conn.execute(tenant_locks.delete())
            conn.execute(tenant_locks.insert(), [{
                "tenant": "contoso", "token": "dead", "owner": f"entra-auditor schedule (pid {os.getpid()})",
                "host": socket.gethostname(), "pid": os.getpid(), "thread": "1",
                "acquired_at": now - timedelta(seconds=5), "expires_at": now + timedelta(seconds=600)}])
        store.close()
    fire = (datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=int(fire_arg[5:]))
            if fire_arg.startswith("auto+") else datetime.fromtimestamp(float(fire_arg), UTC))
    config = AuditorConfig.model_validate({
        "tenants": [{"name": "contoso", "tenant_id": "t", "client_id": "c", "client_secret_env": "NOPE"}],
        "storage": {"url": url}, "schedule": {"misfire_grace_seconds": int(grace)}})
    if kind == "daily":
        trigger = CronTrigger(hour=fire.hour, minute=fire.minute, second=fire.second, timezone=UTC)
    elif kind == "pair":  # two fire times, three seconds apart
        trigger = IntervalTrigger(seconds=3, start_date=fire, end_date=fire + timedelta(seconds=3), timezone=UTC)
    else:  # four fire times, one second apart
        trigger = IntervalTrigger(seconds=1, start_date=fire, end_date=fire + timedelta(seconds=3), timezone=UTC)

    def run_fn(cfg, tenant):
        time.sleep(float(work_seconds))
        result = AuditResult(tenant={"name": tenant, "tenant_id": "t"}, run=RunInfo(), coverage=[], rules=[],
                             findings=[])
        store = HistoryStore(cfg.storage.url)
        store.annotate(result)
        store.record(result)
        store.close()
        return SimpleNamespace(result=result, report_dir=None, email_sent=None, errors=[])

    sys.exit(run_scheduler(config, run_fn=run_fn, trigger=trigger))
""")


class Child:
    """A scheduler subprocess whose JSON-line stderr is parsed as it arrives."""

    def __init__(
        self, tmp_path: Path, url: str, kind: str, fire: str, grace: int = 3600, work: float = 0.2, *extra: str
    ):
        script = tmp_path / "sched_child.py"
        script.write_text(CHILD)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(script), url, kind, fire, str(grace), str(work), *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.raw.append(line)
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._cond:
                self.events.append(doc)
                self._cond.notify_all()

    def wait_for(self, event: str, timeout: float = 60, count: int = 1) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [e for e in self.events if e.get("event") == event]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no {event!r} event; stderr:\n{''.join(self.raw)}")
                self._cond.wait(min(left, 0.5))

    def names(self) -> list[str]:
        with self._cond:
            return [e.get("event") for e in self.events]

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        return code

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)


def runs_recorded(url: str) -> int:
    store = HistoryStore(url)
    try:
        return len(store.list_runs("contoso"))
    finally:
        store.close()


def stored_next_run(url: str) -> datetime | None:
    store = HistoryStore(url)
    with store.engine.connect() as conn:
        value = conn.execute(text("SELECT next_run_time FROM entra_auditor_jobs WHERE id='audit:contoso'")).scalar()
    store.close()
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def wait_stored_next_run(url: str, expected: datetime, timeout: float = 30) -> None:
    """Wait until the job store holds ``expected``: APScheduler submits a run before it stores the
    advanced fire time, so a kill right after ``audit_started`` may otherwise beat that write."""
    deadline = time.monotonic() + timeout
    while (stored := stored_next_run(url)) != expected:
        assert time.monotonic() < deadline, f"stored next run time is {stored}, expected {expected}"
        time.sleep(0.05)


def sleep_until(when: datetime) -> None:
    delay = (when - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'history.db'}"


# -- subprocess scenarios ---------------------------------------------------------------------------
def test_schedule_runs_the_audit_once_then_waits_for_the_next_time(tmp_path, url):
    child = Child(tmp_path, url, "daily", "auto+3")
    scheduled = child.wait_for("job_scheduled")
    fire = datetime.fromisoformat(scheduled["next_run_time"])
    finished = child.wait_for("audit_finished")
    assert finished["tenant"] == "contoso" and finished["run_id"] and finished["status"] == "complete"
    time.sleep(1.5)  # nothing else fires
    assert runs_recorded(url) == 1
    assert stored_next_run(url) == fire + timedelta(days=1)
    assert child.terminate() == 0
    assert child.names().count("audit_started") == 1
    assert child.names()[-1] == "scheduler_stopped"
    assert all(json.loads(line) for line in child.raw)  # every stderr line is a JSON object


def test_killed_scheduler_catches_up_exactly_once_after_restart(tmp_path, url):
    first = Child(tmp_path, url, "daily", "auto+5")
    scheduled = first.wait_for("job_scheduled")
    first.kill()  # the machine goes down before the scheduled time
    fire = datetime.fromisoformat(scheduled["next_run_time"])
    assert "audit_started" not in first.names(), "machine too slow: the run fired before the kill"
    sleep_until(fire + timedelta(seconds=1.5))
    assert runs_recorded(url) == 0

    second = Child(tmp_path, url, "daily", str(fire.timestamp()))
    catch_up = second.wait_for("catch_up")
    assert catch_up["scheduled_at"] == fire.isoformat() and catch_up["reason"] == "not_running"
    second.wait_for("audit_finished")
    time.sleep(1.5)
    assert second.terminate() == 0
    assert runs_recorded(url) == 1
    assert second.names().count("audit_started") == 1

    third = Child(tmp_path, url, "daily", str(fire.timestamp()))  # restart again: nothing to catch up
    again = third.wait_for("job_scheduled")
    assert datetime.fromisoformat(again["next_run_time"]) == fire + timedelta(days=1)
    time.sleep(1)
    assert third.terminate() == 0
    assert "catch_up" not in third.names() and "audit_started" not in third.names()
    assert runs_recorded(url) == 1


def test_missed_fire_times_are_coalesced_into_one_run(tmp_path, url):
    first = Child(tmp_path, url, "burst", "auto+5")
    scheduled = first.wait_for("job_scheduled")
    first.kill()
    fire = datetime.fromisoformat(scheduled["next_run_time"])
    sleep_until(fire + timedelta(seconds=4.5))  # all four fire times (fire .. fire+3s) missed

    second = Child(tmp_path, url, "burst", str(fire.timestamp()))
    second.wait_for("audit_finished")
    time.sleep(1.5)
    assert second.terminate() == 0
    assert runs_recorded(url) == 1  # without coalescing: 4
    assert second.names().count("audit_started") == 1


def test_run_later_than_misfire_grace_is_skipped_and_logged(tmp_path, url):
    first = Child(tmp_path, url, "daily", "auto+4", grace=1)
    scheduled = first.wait_for("job_scheduled")
    first.kill()
    fire = datetime.fromisoformat(scheduled["next_run_time"])
    sleep_until(fire + timedelta(seconds=3))

    second = Child(tmp_path, url, "daily", str(fire.timestamp()), grace=1)
    missed = second.wait_for("missed")
    assert missed["scheduled_at"] == fire.isoformat() and missed["misfire_grace_seconds"] == 1
    second.wait_for("run_missed")
    assert second.terminate() == 0
    assert "audit_started" not in second.names()
    assert runs_recorded(url) == 0
    assert stored_next_run(url) == fire + timedelta(days=1)


def test_run_killed_mid_audit_is_caught_up_once_on_restart(tmp_path, url):
    first = Child(tmp_path, url, "daily", "auto+3", work=60)
    fire = datetime.fromisoformat(first.wait_for("job_scheduled")["next_run_time"])
    first.wait_for("audit_started")
    wait_stored_next_run(url, fire + timedelta(days=1))  # advanced as the audit starts: APScheduler won't retry
    first.kill()  # OOM kill / reboot in the middle of the audit
    assert runs_recorded(url) == 0

    second = Child(tmp_path, url, "daily", str(fire.timestamp()))
    catch_up = second.wait_for("catch_up")
    assert catch_up["reason"] == "interrupted" and catch_up["scheduled_at"] == fire.isoformat()
    assert catch_up["tenant"] == "contoso"
    second.wait_for("audit_finished")
    time.sleep(1)
    assert second.terminate() == 0
    assert runs_recorded(url) == 1
    assert second.names().count("audit_started") == 1 and second.names().count("catch_up") == 1
    assert stored_next_run(url) == fire + timedelta(days=1)

    third = Child(tmp_path, url, "daily", str(fire.timestamp()))  # the occurrence is recorded now
    third.wait_for("job_scheduled")
    time.sleep(1)
    assert third.terminate() == 0
    assert "catch_up" not in third.names() and "audit_started" not in third.names()
    assert runs_recorded(url) == 1


def test_run_killed_mid_audit_and_restarted_after_the_grace_is_missed(tmp_path, url):
    first = Child(tmp_path, url, "daily", "auto+3", grace=2, work=60)
    fire = datetime.fromisoformat(first.wait_for("job_scheduled")["next_run_time"])
    first.wait_for("audit_started")
    wait_stored_next_run(url, fire + timedelta(days=1))
    first.kill()
    sleep_until(fire + timedelta(seconds=3.5))

    second = Child(tmp_path, url, "daily", str(fire.timestamp()), grace=2)
    missed = second.wait_for("missed")
    assert missed["reason"] == "interrupted" and missed["scheduled_at"] == fire.isoformat(), missed
    assert missed["misfire_grace_seconds"] == 2 and missed["late_seconds"] > 2
    time.sleep(1)
    assert second.terminate() == 0
    assert "catch_up" not in second.names() and "audit_started" not in second.names()
    assert runs_recorded(url) == 0
    assert stored_next_run(url) == fire + timedelta(days=1)


def test_interrupted_catch_up_respects_the_tenant_lock(tmp_path, url):
    first = Child(tmp_path, url, "daily", "auto+3", work=60)
    fire = datetime.fromisoformat(first.wait_for("job_scheduled")["next_run_time"])
    first.wait_for("audit_started")
    wait_stored_next_run(url, fire + timedelta(days=1))
    first.kill()

    store = HistoryStore(url)
    with store.tenant_lock("contoso", owner="entra-auditor audit (pid 4242)"):  # a live audit elsewhere
        second = Child(tmp_path, url, "daily", str(fire.timestamp()))
        second.wait_for("catch_up")
        busy = second.wait_for("tenant_busy")
        assert busy["holder"] == "entra-auditor audit (pid 4242)"
        assert second.terminate() == 0
    store.close()
    assert "audit_started" not in second.names()
    assert runs_recorded(url) == 0

    third = Child(tmp_path, url, "daily", str(fire.timestamp()))  # still within the grace: not lost
    assert third.wait_for("catch_up")["reason"] == "interrupted"
    third.wait_for("audit_finished")
    assert third.terminate() == 0
    assert runs_recorded(url) == 1


def test_restarted_container_with_the_same_pid_takes_over_its_dead_lock(tmp_path, url):
    first = Child(tmp_path, url, "daily", "auto+3", work=60)
    fire = datetime.fromisoformat(first.wait_for("job_scheduled")["next_run_time"])
    first.wait_for("audit_started")
    wait_stored_next_run(url, fire + timedelta(days=1))
    first.kill()

    # PID 1 again in a restarted container: the killed process's lock names this very host and PID
    second = Child(tmp_path, url, "daily", str(fire.timestamp()), 3600, 0.2, "reused-pid")
    assert second.wait_for("catch_up")["reason"] == "interrupted"
    second.wait_for("audit_finished")
    assert second.terminate() == 0
    assert "tenant_busy" not in second.names()
    assert runs_recorded(url) == 1


def test_killed_mid_audit_and_down_past_the_next_fire_time_runs_exactly_once(tmp_path, url):
    first = Child(tmp_path, url, "pair", "auto+3", work=60)
    fire = datetime.fromisoformat(first.wait_for("job_scheduled")["next_run_time"])
    first.wait_for("audit_started")
    wait_stored_next_run(url, fire + timedelta(seconds=3))
    first.kill()
    assert "run_overlap" not in first.names(), "machine too slow: killed after the second fire time"
    sleep_until(fire + timedelta(seconds=4))  # the second fire time is missed too

    second = Child(tmp_path, url, "pair", str(fire.timestamp()))
    second.wait_for("audit_finished")
    time.sleep(1.5)
    assert second.terminate() == 0
    catch_ups = [e for e in second.events if e.get("event") == "catch_up"]
    assert [e["reason"] for e in catch_ups] == ["not_running"]  # APScheduler's catch-up only, not both
    assert second.names().count("audit_started") == 1
    assert runs_recorded(url) == 1


def test_sigterm_lets_the_running_audit_finish(tmp_path, url):
    child = Child(tmp_path, url, "daily", "auto+2", work=3)
    child.wait_for("audit_started")
    child.proc.send_signal(signal.SIGTERM)
    code = child.proc.wait(timeout=60)
    child._reader.join(timeout=10)
    assert code == 0
    names = child.names()
    assert names.index("scheduler_stopping") < names.index("audit_finished") < names.index("scheduler_stopped")
    assert runs_recorded(url) == 1


def test_second_signal_abandons_without_a_half_written_run(tmp_path, url):
    child = Child(tmp_path, url, "daily", "auto+2", work=20)
    child.wait_for("audit_started")
    child.proc.send_signal(signal.SIGTERM)
    child.wait_for("scheduler_stopping")
    child.proc.send_signal(signal.SIGINT)
    assert child.proc.wait(timeout=60) == 128 + signal.SIGINT
    child._reader.join(timeout=10)
    assert "scheduler_abandoned" in child.names() and "audit_finished" not in child.names()
    assert runs_recorded(url) == 0
    # the dead process's tenant lock does not block the next run on this host
    store = HistoryStore(url)
    with store.tenant_lock("contoso", owner="next run"):
        pass
    store.close()


# -- in-process -----------------------------------------------------------------------------------
def _config(url: str, *tenants: str) -> AuditorConfig:
    return AuditorConfig.model_validate(
        {
            "tenants": [{"name": t, "tenant_id": "t", "client_id": "c", "client_secret_env": "NOPE"} for t in tenants],
            "storage": {"url": url},
        }
    )


def test_lock_contention_skips_the_scheduled_run(url, caplog):
    calls: list[str] = []
    store = HistoryStore(url)
    sched = AuditScheduler(
        _config(url, "contoso"), run_fn=lambda cfg, t: calls.append(t), store=store, install_signal_handlers=False
    )
    held, release = threading.Event(), threading.Event()

    def cli_audit() -> None:
        with store.tenant_lock("contoso", owner="entra-auditor audit (pid 4242)"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=cli_audit)
    holder.start()
    assert held.wait(30)
    with caplog.at_level(logging.INFO, logger="auditor.schedule"):
        sched.run_tenant("contoso")
        busy = [r for r in caplog.records if getattr(r, "event", None) == "tenant_busy"]
        assert calls == [] and len(busy) == 1
        expected = "tenant contoso is being audited by entra-auditor audit (pid 4242) since "
        assert busy[0].getMessage().startswith(expected)
        release.set()
        holder.join()
        sched.run_tenant("contoso")
    assert calls == ["contoso"]
    assert store.lock_holder("contoso") is None
    store.close()


def test_failing_audit_is_logged_and_releases_the_lock(url, caplog):
    def boom(cfg, tenant):
        raise ConfigError("The secret for tenant contoso is expected in environment variable NOPE, which is not set.")

    store = HistoryStore(url)
    sched = AuditScheduler(_config(url, "contoso"), run_fn=boom, store=store, install_signal_handlers=False)
    with caplog.at_level(logging.INFO, logger="auditor.schedule"):
        sched.run_tenant("contoso")
    [failed] = [r for r in caplog.records if getattr(r, "event", None) == "audit_failed"]
    assert "NOPE" in failed.getMessage() and failed.exit_code == 2
    assert store.lock_holder("contoso") is None
    store.close()


def test_jobs_follow_the_configured_tenants(url):
    def start_stop(*tenants: str) -> list[str]:
        sched = AuditScheduler(_config(url, *tenants), run_fn=lambda c, t: None, install_signal_handlers=False)
        thread = threading.Thread(target=sched.run)
        thread.start()
        assert sched.started.wait(60)
        sched.stop()
        thread.join(60)
        store = HistoryStore(url)
        with store.engine.connect() as conn:
            ids = sorted(conn.execute(text("SELECT id FROM entra_auditor_jobs")).scalars())
        store.close()
        return ids

    assert start_stop("contoso", "fabrikam") == ["audit:contoso", "audit:fabrikam"]
    assert start_stop("contoso") == ["audit:contoso"]


def test_no_tenants_is_a_config_error(url):
    with pytest.raises(ConfigError, match="No tenants are configured"):
        AuditScheduler(_config(url), run_fn=lambda c, t: None)


# -- trigger and logs -------------------------------------------------------------------------------
def test_previous_fire_time_of_a_weekly_cron():
    tz = ZoneInfo("Europe/Amsterdam")
    trigger = build_trigger(ScheduleConfig(cron="0 7 * * mon", timezone="Europe/Amsterdam"))
    monday = datetime(2026, 1, 12, 7, 0, tzinfo=tz)
    assert previous_fire_time(trigger, monday + timedelta(minutes=20)) == monday
    assert previous_fire_time(trigger, monday) == monday  # at the fire time itself
    assert previous_fire_time(trigger, monday - timedelta(seconds=1)) == monday - timedelta(days=7)
    assert previous_fire_time(trigger, monday + timedelta(days=3)) == monday
    # nothing since the job was created
    assert previous_fire_time(trigger, monday + timedelta(hours=1), not_before=monday + timedelta(minutes=1)) is None


def test_previous_fire_time_of_a_finite_interval():
    from apscheduler.triggers.interval import IntervalTrigger

    start = datetime(2026, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(seconds=10, start_date=start, end_date=start + timedelta(seconds=30), timezone=UTC)
    assert previous_fire_time(trigger, start - timedelta(seconds=1)) is None
    assert previous_fire_time(trigger, start + timedelta(seconds=25)) == start + timedelta(seconds=20)
    assert previous_fire_time(trigger, start + timedelta(days=2)) == start + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 7 * * mon", "2026-01-12 07:00"),  # default: weekly Monday 07:00
        ("0 7 * * 1", "2026-01-12 07:00"),  # cron numbering: 1 = Monday (APScheduler's own: Tuesday)
        ("0 7 * * 0", "2026-01-11 07:00"),  # 0 = Sunday
        ("0 7 * * 7", "2026-01-11 07:00"),  # 7 = Sunday
        ("30 6 * * 1-5", "2026-01-08 06:30"),  # weekdays, from Wednesday 7 Jan 08:00 -> Thursday
        ("0 7 1 * *", "2026-02-01 07:00"),
    ],
)
def test_cron_expressions_in_the_configured_timezone(cron, expected):
    tz = ZoneInfo("Europe/Amsterdam")
    trigger = build_trigger(ScheduleConfig(cron=cron, timezone="Europe/Amsterdam"))
    after = datetime(2026, 1, 7, 8, 0, tzinfo=tz)  # a Wednesday
    nxt = trigger.get_next_fire_time(None, after)
    assert nxt.astimezone(tz).strftime("%Y-%m-%d %H:%M") == expected
    assert nxt.utcoffset() == timedelta(hours=1)


def test_invalid_cron_is_one_sentence():
    with pytest.raises(ConfigError, match=r"schedule.cron '0 25 \* \* mon' is not a valid cron expression"):
        build_trigger(ScheduleConfig(cron="0 25 * * mon"))
    with pytest.raises(ConfigError, match="not a valid cron expression"):
        build_trigger(ScheduleConfig(cron="0 7 * * 9"))


def test_json_line_formatter_carries_extras():
    record = logging.makeLogRecord(
        {
            "name": "auditor.schedule",
            "levelname": "INFO",
            "msg": "tenant %s",
            "args": ("contoso",),
            "event": "job_scheduled",
            "tenant": "contoso",
        }
    )
    doc = json.loads(JsonLineFormatter().format(record))
    assert doc["event"] == "job_scheduled" and doc["tenant"] == "contoso" and doc["message"] == "tenant contoso"
    assert doc["level"] == "info" and doc["ts"].endswith("+00:00")
