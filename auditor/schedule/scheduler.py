"""``AuditScheduler``: one persistent APScheduler cron job per tenant, catch-up of missed and
interrupted runs, graceful stop (see the package docstring for the guarantees)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from auditor.errors import AuditorError, ConfigError
from auditor.schedule.isolate import (
    ChildAuditCrashed,
    ChildDeadlineExceeded,
    PipelineRun,
    kill_all,
    run_in_child,
)
from auditor.schedule.logs import json_logging
from auditor.schedule.rollup import RollupBatches, groups_by_trigger, write_group_rollup
from auditor.schedule.signals import install_stop_signals
from auditor.schedule.triggers import build_trigger, describe_schedule, previous_fire_time, trigger_signature

if TYPE_CHECKING:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.base import BaseTrigger

    from auditor.config import AuditorConfig
    from auditor.history import HistoryStore

LOGGER = "auditor.schedule"
JOB_PREFIX = "audit:"
CATCH_UP_PREFIX = "catch_up:"
CATCH_UP_STORE = "catch_up"  # an in-memory job store: a catch-up run is never persisted
JOB_FUNC = "auditor.schedule:run_scheduled_job"
LOCK_TTL_SECONDS = 600

RunFn = Callable[["AuditorConfig", str], Any]

# APScheduler's persistent job store can only serialise a module-level function, so a stored job
# names ``run_scheduled_job`` plus the key of the live scheduler of this process; this weak map
# finds that scheduler. It holds nothing at import time and never keeps a scheduler alive.
_LIVE: weakref.WeakValueDictionary[str, AuditScheduler] = weakref.WeakValueDictionary()


def _tenant_of(job_id: str) -> str:
    return job_id.split(":", 1)[1] if ":" in job_id else job_id


def _parse_since(value: Any) -> datetime | None:
    """``scheduled_since`` of a stored job (ISO text); None when absent (older versions) or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        return None
    return since if since.tzinfo is not None else since.replace(tzinfo=UTC)


# -- the job ---------------------------------------------------------------------------------------
def run_scheduled_job(scheduler_key: str, tenant: str, scheduled_since: str | None = None) -> None:
    """What the persistent job calls: hand the tenant to the live scheduler of this process.

    ``scheduled_since`` is bookkeeping stored with the job (since when the job has existed with this
    trigger); the run does not need it.
    """
    scheduler = _LIVE.get(scheduler_key) or _live_for(tenant)
    if scheduler is None:
        logging.getLogger(LOGGER).warning(
            "no live scheduler for this job; skipped",
            extra={"event": "job_orphaned", "tenant": tenant},
        )
        return
    scheduler.run_tenant(tenant)


def _live_for(tenant: str) -> AuditScheduler | None:
    """The live scheduler of this process that runs ``tenant``, for a job stored by another scheduler.

    Schedulers sharing one database replace each other's stored jobs (the last one started wins), so a
    stored job may name a scheduler of another process — one that has since stopped. The scheduler of
    this process that executes it is the one to run it (the tenant lock keeps two processes from
    auditing the same tenant twice)."""
    for candidate in list(_LIVE.values()):
        if not candidate._stopping.is_set() and any(t.name == tenant for t in candidate.config.tenants):
            return candidate
    return None


def pipeline_run_fn(store: HistoryStore) -> RunFn:
    """The default ``run_fn``: ``auditor.pipeline.run_audit`` recording into ``store``; like a worker's
    run it leaves the e-mail decision to the pipeline (sent when ``email`` is configured)."""

    def run(config: AuditorConfig, tenant: str) -> Any:
        from auditor.pipeline import run_audit  # imported lazily: heavy, and not needed by tests

        guarded = cast("HistoryStore", _AbandonGuard(store))  # the store, with record() refused once abandoned
        return run_audit(config, tenant, history=guarded)

    return run


class AuditScheduler:
    """Schedules every configured tenant; ``run()`` blocks until ``stop()`` or SIGTERM/SIGINT.

    ``run_fn(config, tenant_name)`` performs one audit (default: ``run_audit`` recording into the store's
    database). ``store`` defaults to a ``HistoryStore`` on ``config.storage.url``; ``trigger`` overrides the
    cron trigger (tests); ``clock`` returns aware UTC now (logs and catch-up decisions).

    ``isolate``: run each audit in a child process that is killed at ``schedule.run_deadline_seconds``
    (``auditor.schedule.isolate``). Default: isolated for the default audit; an injected ``run_fn`` runs in a
    thread unless ``isolate=True`` (then it must be picklable: a module-level function). A thread past the
    deadline is abandoned (lock released, run recorded failed, its late result refused) but runs on.
    """

    def __init__(
        self,
        config: AuditorConfig,
        *,
        run_fn: RunFn | None = None,
        store: HistoryStore | None = None,
        trigger: BaseTrigger | None = None,
        clock: Callable[[], datetime] | None = None,
        lock_ttl_seconds: float = LOCK_TTL_SECONDS,
        install_signal_handlers: bool = True,
        isolate: bool | None = None,
    ) -> None:
        if not config.tenants:
            raise ConfigError("No tenants are configured, so the scheduler has nothing to run.")
        self.config = config
        self._run_fn = run_fn
        self.isolate = isolate if isolate is not None else run_fn is None
        self._children: set[Any] = set()  # live audit processes (isolated runs)
        self._store = store
        self._own_store = store is None
        if trigger is None:
            fires, line = describe_schedule(config.schedule, datetime.now(UTC))
            if not fires:
                raise ConfigError(line)
        self.trigger = trigger if trigger is not None else build_trigger(config.schedule)
        self._fixed_trigger = trigger is not None
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock_ttl_seconds = lock_ttl_seconds
        self.install_signal_handlers = install_signal_handlers
        self.key = uuid.uuid4().hex
        self.owner = f"entra-auditor schedule (pid {os.getpid()} on {socket.gethostname()})"
        self.log = logging.getLogger(LOGGER)
        self._scheduler: BlockingScheduler | None = None
        self._stopping = threading.Event()
        self._running: dict[str, int] = {}
        self._running_cond = threading.Condition()
        self.started = threading.Event()
        self._rollups = RollupBatches(
            groups_by_trigger((t.name for t in config.tenants), lambda n: trigger_signature(self.trigger_for(n)))
        )

    def trigger_for(self, tenant: str) -> BaseTrigger:
        """The tenant's own trigger: its ``overrides.schedule`` over the global schedule (or the
        injected ``trigger``, which applies to every tenant)."""
        if self._fixed_trigger:
            return self.trigger
        return build_trigger(self.config.for_tenant(tenant).schedule)

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def run_fn(self) -> RunFn:
        if self._run_fn is None:
            self._run_fn = pipeline_run_fn(self.store)
        return self._run_fn

    @property
    def store(self) -> HistoryStore:
        if self._store is None:
            from auditor.history import HistoryStore

            self._store = HistoryStore(self.config.storage.url)
        return self._store

    def run(self) -> int:
        """Run in the foreground until stopped; returns 0 after a graceful stop."""
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_SCHEDULER_STARTED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.blocking import BlockingScheduler

        from auditor.history.models import JOBS_TABLE

        self.store.migrate()
        workers = max(1, min(len(self.config.tenants), self.config.collect.tenant_concurrency))
        scheduler = BlockingScheduler(
            timezone=ZoneInfo(self.config.schedule.timezone),
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.store.new_engine(), tablename=JOBS_TABLE),
                CATCH_UP_STORE: MemoryJobStore(),
            },
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.config.schedule.misfire_grace_seconds,
            },
        )
        scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
        scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        scheduler.add_listener(self._on_overlap, EVENT_JOB_MAX_INSTANCES)
        self._scheduler = scheduler
        _LIVE[self.key] = self
        restore = self._install_signals()
        try:
            self.log.info(
                "scheduler starting",
                extra={
                    "event": "scheduler_starting",
                    "owner": self.owner,
                    "database": self.store.display_url,
                    "cron": self.config.schedule.cron,
                    "timezone": self.config.schedule.timezone,
                    "tenants": [t.name for t in self.config.tenants],
                },
            )
            if not self._stopping.is_set():
                scheduler.start()  # blocks until shutdown
            self._wait_idle()
            self.log.info("scheduler stopped", extra={"event": "scheduler_stopped"})
            return 0
        finally:
            restore()
            _LIVE.pop(self.key, None)
            if self._own_store and self._store is not None:
                self._store.close()

    def stop(self) -> None:
        """Stop scheduling; a running audit is allowed to finish (``run()`` waits for it)."""
        from apscheduler.schedulers import SchedulerNotRunningError

        self._stopping.set()
        if self._scheduler is not None:
            with suppress(SchedulerNotRunningError):
                self._scheduler.shutdown(wait=False)

    def running_tenants(self) -> list[str]:
        with self._running_cond:
            return sorted(t for t, n in self._running.items() if n)

    def _wait_idle(self) -> None:
        with self._running_cond:
            while any(self._running.values()):
                self._running_cond.wait(timeout=1)

    def _install_signals(self) -> Callable[[], None]:
        if not self.install_signal_handlers:
            return lambda: None
        return install_stop_signals(self._first_signal, self._second_signal)

    def _first_signal(self, name: str) -> None:
        self._stopping.set()
        self.log.info(
            "stopping; running audits finish first",
            extra={"event": "scheduler_stopping", "signal": name, "running": self.running_tenants()},
        )
        self.stop()

    def _second_signal(self, name: str, signum: int) -> None:
        self.log.warning(
            "second signal: abandoning running audits, nothing of them is committed",
            extra={"event": "scheduler_abandoned", "signal": name, "running": self.running_tenants()},
        )
        kill_all(self._children)
        for h in logging.getLogger("auditor").handlers:
            h.flush()
        os._exit(128 + signum)

    # -- APScheduler listeners -------------------------------------------------------------------
    def _on_started(self, _event: Any) -> None:
        scheduler = self._scheduler
        assert scheduler is not None
        wanted = {t.name for t in self.config.tenants}
        for job in scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id[len(JOB_PREFIX) :] not in wanted:
                scheduler.remove_job(job.id)
                self.log.info(
                    "tenant no longer configured; job removed",
                    extra={"event": "job_removed", "tenant": job.id[len(JOB_PREFIX) :]},
                )
        now = self.clock()
        for name in sorted(wanted):
            job_id = JOB_PREFIX + name
            trigger = self.trigger_for(name)
            grace = self.config.for_tenant(name).schedule.misfire_grace_seconds
            kwargs: dict[str, Any] = {}
            since: datetime | None = now
            interrupted: datetime | None = None
            existing = self._existing_job(job_id)
            if (
                existing is not None
                and existing.next_run_time is not None
                and trigger_signature(existing.trigger) == trigger_signature(trigger)
            ):
                kwargs["next_run_time"] = existing.next_run_time  # keep it: a missed time is caught up
                since = _parse_since(existing.kwargs.get("scheduled_since"))
                late = (now - existing.next_run_time).total_seconds()
                if late > 0:  # APScheduler itself runs (or skips as missed) this stored fire time
                    self.log.info(
                        "scheduled run was missed while the scheduler was not running",
                        extra={
                            "event": "catch_up" if late <= grace else "missed",
                            "reason": "not_running",
                            "tenant": name,
                            "scheduled_at": existing.next_run_time.isoformat(),
                            "late_seconds": round(late, 1),
                            "misfire_grace_seconds": grace,
                        },
                    )
                elif late < 0:  # the stored time is ahead: was the occurrence before it ever finished?
                    interrupted = self._interrupted_occurrence(name, since, now, grace, trigger)
            scheduler.add_job(
                JOB_FUNC,
                trigger=trigger,
                id=job_id,
                misfire_grace_time=grace,
                name=f"audit {name}",
                kwargs={
                    "scheduler_key": self.key,
                    "tenant": name,
                    "scheduled_since": since.isoformat() if since is not None else None,
                },
                replace_existing=True,
                **kwargs,
            )
            job = scheduler.get_job(job_id)
            self.log.info(
                "tenant scheduled",
                extra={
                    "event": "job_scheduled",
                    "tenant": name,
                    "next_run_time": job.next_run_time.isoformat() if job and job.next_run_time else None,
                },
            )
            if interrupted is not None:
                scheduler.add_job(
                    JOB_FUNC,
                    trigger="date",
                    run_date=now,
                    id=CATCH_UP_PREFIX + name,
                    name=f"catch-up audit {name}",
                    jobstore=CATCH_UP_STORE,
                    misfire_grace_time=None,
                    kwargs={"scheduler_key": self.key, "tenant": name},
                    replace_existing=True,
                )
        self.started.set()
        if self._stopping.is_set():
            self.stop()

    def _existing_job(self, job_id: str) -> Any:
        assert self._scheduler is not None
        try:
            return self._scheduler.get_job(job_id)
        except Exception as exc:  # an unreadable stored job (e.g. from another version): start afresh
            self.log.warning(
                "stored job could not be read; recreated",
                extra={"event": "job_unreadable", "job": job_id, "error": str(exc)},
            )
            from apscheduler.jobstores.base import JobLookupError

            with suppress(JobLookupError):
                self._scheduler.remove_job(job_id)
            return None

    def _interrupted_occurrence(
        self, tenant: str, since: datetime | None, now: datetime, grace: int, trigger: BaseTrigger | None = None
    ) -> datetime | None:
        """The tenant's latest fire time if it has to be run again now because its run never finished.

        Called only at start-up and only when the stored next fire time is in the future, i.e. the
        occurrence ``prev`` was already taken by a scheduler (its fire time advanced) that did not
        record a run for it. ``since``: since when the job has existed with this trigger (None:
        unknown, a job stored by an older version); an occurrence before that was never scheduled.
        Returns None, logging ``missed`` when the occurrence is older than the grace.
        """
        prev = previous_fire_time(trigger or self.trigger, now, not_before=since)
        if prev is None:
            return None
        try:
            latest = self.store.list_runs(tenant, limit=1)
        except AuditorError as exc:
            self.log.warning(
                "could not check history for an interrupted run; not caught up",
                extra={"event": "catch_up_check_failed", "tenant": tenant, "error": str(exc)},
            )
            return None
        if latest and latest[0].started >= prev:
            return None
        late = (now - prev).total_seconds()
        facts = {
            "tenant": tenant,
            "reason": "interrupted",
            "scheduled_at": prev.isoformat(),
            "late_seconds": round(late, 1),
            "misfire_grace_seconds": grace,
        }
        if late > grace:
            self.log.warning(
                "the scheduled run was interrupted before it was recorded and is now later "
                "than misfire_grace_seconds; skipped",
                extra={"event": "missed", **facts},
            )
            return None
        self.log.info(
            "the scheduled run was interrupted before it was recorded; running it once now",
            extra={"event": "catch_up", **facts},
        )
        return prev

    def _on_missed(self, event: Any) -> None:
        self.log.warning(
            "scheduled run skipped: later than misfire_grace_seconds",
            extra={
                "event": "run_missed",
                "tenant": _tenant_of(event.job_id),
                "scheduled_at": event.scheduled_run_time.isoformat(),
            },
        )

    def _on_overlap(self, event: Any) -> None:
        self.log.warning(
            "scheduled run skipped: the previous run of this tenant is still going",
            extra={"event": "run_overlap", "tenant": _tenant_of(event.job_id)},
        )

    # -- one audit -------------------------------------------------------------------------------
    @contextmanager
    def _track(self, tenant: str) -> Iterator[None]:
        with self._running_cond:
            self._running[tenant] = self._running.get(tenant, 0) + 1
        try:
            yield
        finally:
            with self._running_cond:
                self._running[tenant] -= 1
                self._running_cond.notify_all()

    def run_tenant(self, tenant: str) -> None:
        """Audit one tenant under its lock, logging the outcome; never raises."""
        with self._track(tenant):
            if self._stopping.is_set():
                self.log.info(
                    "scheduler is stopping; run not started", extra={"event": "audit_skipped", "tenant": tenant}
                )
                return
            from auditor.history import TenantBusy

            started = self.clock()
            settled: tuple[str | None, str] | None = None  # (run id, problem) once the tenant's run is over
            try:
                with self.store.tenant_lock(tenant, owner=self.owner, ttl_seconds=self.lock_ttl_seconds):
                    self.log.info("audit started", extra={"event": "audit_started", "tenant": tenant})
                    outcome = self._audit(tenant)
            except RunDeadlineExceeded as exc:
                settled = (self._record_abandoned(tenant, started, str(exc)), str(exc))
            except TenantBusy as exc:
                self.log.warning(
                    str(exc),
                    extra={
                        "event": "tenant_busy",
                        "tenant": tenant,
                        "holder": exc.owner,
                        "since": exc.since.isoformat(),
                    },
                )
            except AuditorError as exc:
                settled = (None, str(exc))
                self.log.error(
                    str(exc),
                    extra={
                        "event": "audit_failed",
                        "tenant": tenant,
                        "error": getattr(exc, "kind", type(exc).__name__),
                        "exit_code": exc.exit_code,
                    },
                )
            except ChildAuditCrashed as exc:
                settled = (None, f"audit crashed: {exc.kind}")
                self.log.error(
                    f"audit crashed: {exc}",
                    extra={"event": "audit_crashed", "tenant": tenant, "error": exc.kind, "traceback": exc.details},
                )
            except Exception as exc:
                settled = (None, f"audit crashed: {type(exc).__name__}")
                self.log.error(
                    f"audit crashed: {type(exc).__name__}: {exc}",
                    exc_info=True,
                    extra={"event": "audit_crashed", "tenant": tenant, "error": type(exc).__name__},
                )
            else:
                facts = _describe(outcome)
                settled = (facts.get("run_id"), "")
                self.log.info(
                    "audit finished",
                    extra={
                        "event": "audit_finished",
                        "tenant": tenant,
                        "seconds": round((self.clock() - started).total_seconds(), 3),
                        **facts,
                    },
                )
            if settled is not None:
                self._settle_for_rollup(tenant, *settled)

    def _settle_for_rollup(self, tenant: str, run_id: str | None, problem: str) -> None:
        """When this completes the tenant's schedule group, write the group's cross-tenant roll-up."""
        group = self._rollups.settle(tenant, run_id, problem)
        if group is not None:
            write_group_rollup(self.config, self.store, group)

    def _audit(self, tenant: str) -> Any:
        """One audit within the run deadline: in a child process killed at the deadline (``isolate``), else
        in a thread abandoned at it. Raises ``RunDeadlineExceeded`` past the deadline."""
        seconds = self.config.schedule.run_deadline_seconds
        if not self.isolate:
            return run_with_deadline(lambda: self.run_fn(self.config, tenant), seconds, tenant)
        run_fn = self._run_fn or PipelineRun(self.store.url.render_as_string(hide_password=False))
        try:
            return run_in_child(run_fn, self.config, tenant, seconds, facts=_describe, children=self._children)
        except ChildDeadlineExceeded as exc:
            raise RunDeadlineExceeded(
                f"the scheduled audit of tenant {tenant} ran past its deadline of {seconds:g} s "
                "(schedule.run_deadline_seconds); its process was killed, lock released, run recorded as failed"
            ) from exc

    def _record_abandoned(self, tenant: str, started: datetime, reason: str) -> str:
        """The run deadline passed: the lock is already released; record the run as failed."""
        from auditor.findings import AuditResult, RunInfo

        tenant_id = next((t.tenant_id for t in self.config.tenants if t.name == tenant), "")
        run = RunInfo(started=started, finished=self.clock(), status="failed", errors=[reason])
        result = AuditResult(
            tenant={"name": tenant, "tenant_id": tenant_id}, run=run, coverage=[], rules=[], findings=[]
        )
        try:
            self.store.record(result)
        except AuditorError as exc:
            reason = f"{reason}; recording it failed: {exc}"
        self.log.error(reason, extra={"event": "audit_abandoned", "tenant": tenant, "run_id": run.id})
        return run.id


class RunDeadlineExceeded(AuditorError):
    """A scheduled audit ran past ``schedule.run_deadline_seconds``."""


_RUN = threading.local()  # ``abandoned``: the Event of the audit thread's run_with_deadline


class _AbandonGuard:
    """The history store as an abandoned run's thread sees it: ``record`` refuses once the run is abandoned
    (it is already recorded as failed), everything else is the store's."""

    def __init__(self, store: HistoryStore) -> None:
        self._store = store

    def record(self, *args: Any, **kwargs: Any) -> Any:
        flag = getattr(_RUN, "abandoned", None)
        if flag is not None and flag.is_set():
            raise RunDeadlineExceeded("this audit was abandoned at its run deadline; its late result is not recorded")
        return self._store.record(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def run_with_deadline(fn: Callable[[], Any], seconds: float, tenant: str) -> Any:
    """``fn()`` in a daemon thread; ``RunDeadlineExceeded`` when it has not returned within ``seconds``.

    The abandoned thread cannot be killed; it is left to finish or hang on its own (the next scheduled time
    is not blocked by it: the lock is released when this raises). Only an injected, non-isolated ``run_fn``
    runs this way; the default audit runs in a child process that is killed at the deadline
    (``auditor.schedule.isolate``)."""
    box: dict[str, Any] = {}
    abandoned = threading.Event()

    def target() -> None:
        _RUN.abandoned = abandoned
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"audit-{tenant}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        abandoned.set()  # the run, should it ever get there, records nothing (_AbandonGuard)
        raise RunDeadlineExceeded(
            f"the scheduled audit of tenant {tenant} ran past its deadline of {seconds:g} s "
            "(schedule.run_deadline_seconds); abandoned, lock released, run recorded as failed"
        )
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _describe(outcome: Any) -> dict[str, Any]:
    """Loggable facts of a ``RunOutcome`` (read defensively: any object is accepted; a dict is facts already,
    as an isolated run returns them)."""
    if isinstance(outcome, dict):
        return outcome
    out: dict[str, Any] = {}
    result = getattr(outcome, "result", None)
    run = getattr(result, "run", None)
    if run is not None:
        out["run_id"] = getattr(run, "id", None)
        out["status"] = getattr(run, "status", None)
    if result is not None and hasattr(result, "summary"):
        out["open"] = result.summary().get("open")
    if getattr(outcome, "report_dir", None) is not None:
        out["report_dir"] = str(outcome.report_dir)
    if hasattr(outcome, "email_sent"):
        out["email_sent"] = outcome.email_sent
    if getattr(outcome, "errors", None):
        out["errors"] = [str(e) for e in outcome.errors]
    return out


def run_scheduler(
    config: AuditorConfig,
    *,
    run_fn: RunFn | None = None,
    log_stream: IO[str] | None = None,
    **kwargs: Any,
) -> int:
    """``entra-auditor schedule``: JSON-line logs on stderr, block until SIGTERM/SIGINT, return 0."""
    with json_logging(log_stream):
        return AuditScheduler(config, run_fn=run_fn, **kwargs).run()
