"""The dispatcher: one ``audit_tenant`` task per tenant per period.

A *period* is the scheduled fire time the audit belongs to, as an ISO-8601 UTC minute
(``2026-11-23T07:00Z`` for the Monday 07:00 run). Every worker and dispatcher derive the same period
from the same cron, so a dispatcher that fires twice (two schedulers, a restart) registers the same
claims and enqueues nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery import Celery

from auditor.config import AuditorConfig, ScheduleConfig
from auditor.errors import ConfigError
from auditor.scale.app import TASK_NAME
from auditor.scale.claims import ClaimStore
from auditor.scale.task import WorkerRuntime
from auditor.schedule import build_trigger

log = logging.getLogger(__name__)

_LOOKBACK = (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=9),
             timedelta(days=33), timedelta(days=367), timedelta(days=366 * 5))


def format_period(fire_time: datetime) -> str:
    return fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def current_period(schedule: ScheduleConfig, now: datetime | None = None) -> str:
    """The period of the latest scheduled fire time at or before ``now``.

    Uses the scheduler's own trigger (standard cron day-of-week numbering: 0 and 7 are Sunday).
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    trigger = build_trigger(schedule)
    for back in _LOOKBACK:
        latest = None
        fire = trigger.get_next_fire_time(None, now - back)
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if latest is not None:
            return format_period(latest)
    raise ConfigError(f"The schedule {schedule.cron!r} has no fire time in the last five years.")


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
    for name in names:
        if store.register(name, period, requeue_after=requeue_after):
            try:
                app.send_task(TASK_NAME, args=(name, period), task_id=f"audit-{name}-{period}")
            except Exception:
                store.unregister(name, period)  # so the next dispatch enqueues it again
                raise
            report.enqueued.append(name)
        else:
            report.skipped.append(name)
    log.info("period %s: %d tenant(s) enqueued, %d already dispatched", period, len(report.enqueued),
             len(report.skipped))
    return report


def dispatch_due(app: Celery, runtime: WorkerRuntime) -> DispatchReport:
    """Dispatch the current period with a freshly loaded configuration (what the scheduler calls)."""
    config = runtime.load_config()
    return dispatch(app, runtime.claims(config), config, current_period(config.schedule))


def run_dispatcher(app: Celery, runtime: WorkerRuntime) -> None:
    """Dispatch at every fire time of ``schedule.cron`` until stopped (SIGTERM/SIGINT).

    Catch-up: on start the current period is dispatched too; its claims make that a no-op when it
    was already dispatched, so a restarted dispatcher never double-enqueues.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    config = runtime.load_config()
    scheduler = BlockingScheduler(timezone=config.schedule.timezone)
    trigger = build_trigger(config.schedule)
    scheduler.add_job(
        dispatch_due, trigger, args=(app, runtime), id="dispatch", coalesce=True, max_instances=1,
        misfire_grace_time=config.schedule.misfire_grace_seconds,
    )
    dispatch_due(app, runtime)
    log.info("dispatcher started: %s (%s)", config.schedule.cron, config.schedule.timezone)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)


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
