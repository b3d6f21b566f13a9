"""The foreground scheduler behind ``entra-auditor schedule``.

One APScheduler 3 ``BlockingScheduler`` with one cron job per configured tenant (job id
``audit:<tenant>``), persisted in the history database (table ``entra_auditor_jobs``) so that:

* a machine that was off (or a process that was killed) at the scheduled time runs **once** when it
  comes back, if it is back within ``schedule.misfire_grace_seconds`` (``coalesce=True``: several
  missed times collapse into one run); later than that the run is logged as missed and skipped;
* it never runs twice: the next fire time is advanced in the job store before an audit starts, and a
  restart keeps the stored fire time instead of recomputing it (unless the cron/timezone changed);
* a run that was interrupted (``kill -9``, OOM kill, reboot, a second SIGTERM) is retried **once** on
  the next start: because the fire time was advanced before the audit began, APScheduler would not
  run that occurrence again, so at start-up (and only then) the scheduler takes the tenant's most
  recent fire time ``prev`` and, if it is within ``misfire_grace_seconds``, the job already existed
  then, and history has no run of the tenant started at or after ``prev`` (a killed run leaves no
  row: runs are recorded in one transaction at the end), runs one catch-up audit now (log event
  ``catch_up``, reason ``interrupted``); later than the grace it logs ``missed`` instead. This only
  applies when the stored next fire time is in the future; a stored time in the past is APScheduler's
  own catch-up (reason ``not_running``), so the two never both fire for one occurrence.

Each run holds the tenant's lock in the history database (``HistoryStore.tenant_lock``), so an
``entra-auditor audit`` of the same tenant at the same time does not collide: whichever comes second
gives up with "tenant X is being audited by <owner> since <time>".

SIGTERM/SIGINT stop the scheduler gracefully: no new audit starts and a running one finishes (its run
and report are written whole). A second signal abandons the running audit at once: nothing is
committed (the run is one transaction, reports are written atomically) and the lock of the dead
process is taken over by the next run on this host, also when a restarted container gets the same host
name and PID (1) as the killed process (the lock row carries a per-process incarnation marker).

Each audit runs in a child process of its own (``isolate``), killed (SIGKILL) when it is still running at
``schedule.run_deadline_seconds``: its memory, sockets and threads go with it, the tenant lock is released
and the run is recorded as failed. The child's logs are emitted by the scheduler; a child whose scheduler
was killed exits within a second.

Logs are JSON lines on stderr. Tests inject ``run_fn``, ``trigger`` and ``clock``.

Run with one scheduler process per history database; APScheduler 3 job stores are not meant to be
shared by several live schedulers.

Modules: ``scheduler`` (``AuditScheduler``, the job, ``run_scheduler``), ``isolate`` (an audit in a child
process), ``triggers`` (cron parsing, the
latest past fire time), ``signals`` (two-stage stop), ``logs`` (JSON-line logging).
"""

from __future__ import annotations

from auditor.schedule.logs import JsonLineFormatter, json_logging
from auditor.schedule.scheduler import (
    JOB_FUNC,
    AuditScheduler,
    RunFn,
    pipeline_run_fn,
    run_scheduled_job,
    run_scheduler,
)
from auditor.schedule.triggers import build_trigger, previous_fire_time, trigger_signature

__all__ = [
    "JOB_FUNC",
    "AuditScheduler",
    "JsonLineFormatter",
    "RunFn",
    "build_trigger",
    "json_logging",
    "pipeline_run_fn",
    "previous_fire_time",
    "run_scheduled_job",
    "run_scheduler",
    "trigger_signature",
]
