"""The dispatcher: one ``audit_tenant`` task per tenant per period.

A *period* is the scheduled fire time the audit belongs to, as an ISO-8601 UTC minute
(``2026-11-23T07:00Z`` for the Monday 07:00 run). Every worker and dispatcher derive the same period
from the same cron, so a dispatcher that fires twice (two schedulers, a restart) registers the same
claims and enqueues nothing new.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery import Celery

from auditor.config import AuditorConfig, ScheduleConfig
from auditor.errors import ConfigError
from auditor.scale.app import TASK_NAME
from auditor.scale.claims import ClaimStore
from auditor.scale.settings import redact
from auditor.scale.task import WorkerRuntime
from auditor.schedule import build_trigger

log = logging.getLogger(__name__)

_LOOKBACK = (
    timedelta(minutes=2),
    timedelta(hours=2),
    timedelta(days=2),
    timedelta(days=9),
    timedelta(days=33),
    timedelta(days=367),
    timedelta(days=366 * 5),
)


def format_period(fire_time: datetime) -> str:
    return fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def current_period(schedule: ScheduleConfig, now: datetime | None = None) -> str:
    """The period of the latest scheduled fire time at or before ``now``.

    Uses the scheduler's own trigger (standard cron day-of-week numbering: 0 and 7 are Sunday).
    """
    return format_period(latest_fire_time(schedule, now))


@dataclass
class DispatchReport:
    period: str
    enqueued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def dispatch(
    app: Celery,
    store: ClaimStore,
    config: AuditorConfig,
    period: str,
    *,
    tenants: Iterable[str] | None = None,
    requeue_after: float | None = 3600.0,
) -> DispatchReport:
    """Register a claim and enqueue one task for every (selected) tenant not yet dispatched."""
    if len(period) > 40:
        raise ConfigError(f"The period {period!r} is longer than 40 characters.")
    names = list(tenants) if tenants is not None else [t.name for t in config.tenants]
    for name in names:
        config.tenant(name)  # unknown names fail here, before anything is enqueued
    store.ensure_schema()
    report = DispatchReport(period)
    # Every claim is registered before the first task is sent: a worker that settles the period's last
    # tenant (and writes the cross-tenant roll-up, ``auditor.scale.rollup``) sees the whole batch.
    due = [name for name in names if store.register(name, period, requeue_after=requeue_after)]
    report.skipped = [name for name in names if name not in due]
    for index, name in enumerate(due):
        try:
            app.send_task(TASK_NAME, args=(name, period), task_id=f"audit-{name}-{period}")
        except Exception:
            for unsent in due[index:]:
                store.unregister(unsent, period)  # so the next dispatch enqueues them again
            raise
        report.enqueued.append(name)
    log.info(
        "period %s: %d tenant(s) enqueued, %d already dispatched", period, len(report.enqueued), len(report.skipped)
    )
    return report


def latest_fire_time(schedule: ScheduleConfig, now: datetime | None = None) -> datetime:
    """The latest scheduled fire time at or before ``now`` (aware UTC)."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    trigger = build_trigger(schedule)
    for back in _LOOKBACK:
        latest = None
        fire: datetime | None = trigger.get_next_fire_time(None, now - back)
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if latest is not None:
            return latest.astimezone(UTC)
    raise ConfigError(f"The schedule {schedule.cron!r} has no fire time in the last five years.")


def dispatch_due(
    app: Celery,
    runtime: WorkerRuntime,
    *,
    requeue_after: float | None = 3600.0,
    stop: threading.Event | None = None,
    retry_seconds: float = 30.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DispatchReport | None:
    """Dispatch the current period with a freshly loaded configuration (what the scheduler calls).

    When the broker or database is down, keep trying every ``retry_seconds`` until the period's
    misfire grace time has passed (a week's audits must not be lost to a short outage).
    """
    stop = stop or threading.Event()
    while True:
        config = runtime.load_config()
        fire = latest_fire_time(config.schedule, now())
        try:
            return dispatch(app, runtime.claims(config), config, format_period(fire), requeue_after=requeue_after)
        except ConfigError:
            raise
        except Exception as exc:
            deadline = fire + timedelta(seconds=config.schedule.misfire_grace_seconds)
            if now() + timedelta(seconds=retry_seconds) > deadline:
                log.error("period %s not dispatched, giving up: %s", format_period(fire), redact(str(exc)))
                raise
            log.warning(
                "period %s: dispatch failed, retrying in %.0f s: %s",
                format_period(fire),
                retry_seconds,
                redact(str(exc)),
            )
            if stop.wait(retry_seconds):
                return None


def run_dispatcher(app: Celery, runtime: WorkerRuntime, *, stop: threading.Event | None = None) -> None:
    """Dispatch at every fire time of ``schedule.cron`` until SIGTERM/SIGINT (or ``stop`` is set).

    Catch-up on start: when the latest fire time is within ``schedule.misfire_grace_seconds``, that
    period is dispatched again with every still-queued tenant re-enqueued (the previous dispatcher may
    have died between registering and publishing; duplicate messages are no-ops thanks to claims).
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    stop = stop or threading.Event()
    config = runtime.load_config()
    fire = latest_fire_time(config.schedule)
    if datetime.now(UTC) - fire <= timedelta(seconds=config.schedule.misfire_grace_seconds):
        dispatch_due(app, runtime, requeue_after=0.0, stop=stop)
    scheduler = BackgroundScheduler(timezone=config.schedule.timezone)
    scheduler.add_job(
        dispatch_due,
        build_trigger(config.schedule),
        args=(app, runtime),
        kwargs={"stop": stop},
        id="dispatch",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=config.schedule.misfire_grace_seconds,
    )
    restore = _on_signals(stop) if threading.current_thread() is threading.main_thread() else None
    scheduler.start()
    log.info("dispatcher started: %s (%s)", config.schedule.cron, config.schedule.timezone)
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        if restore:
            restore()
        log.info("dispatcher stopped")


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def run_dispatch_scheduler(config: AuditorConfig) -> int:
    """What ``entra-auditor schedule --dispatch`` calls: dispatch at every fire time until stopped.

    The configuration is re-read at each fire time when it came from a file
    (``ENTRA_AUDITOR_CONFIG``); otherwise the one given is used.
    """
    from auditor.scale.app import create_app
    from auditor.scale.settings import ScaleSettings

    settings = ScaleSettings.from_env()
    settings.require_broker()
    runtime = WorkerRuntime(settings, config_loader=None if settings.config_path else (lambda: config))
    run_dispatcher(create_app(settings, runtime=runtime), runtime)
    return 0
