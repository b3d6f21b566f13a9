"""The Celery application factory and the ``audit_tenant`` task.

Nothing here connects at import: ``create_app`` builds a configured ``Celery`` object (which connects
lazily, when a task is sent or a worker starts). The delivery guarantees come from the configuration:

* ``task_acks_late`` - a message is acknowledged only after the task returned, so a worker that dies
  mid-run leaves it unacknowledged and RabbitMQ redelivers it to another worker;
* ``task_reject_on_worker_lost`` - a pool child killed mid-task (OOM killer, SIGKILL) requeues it too;
* ``worker_prefetch_multiplier = 1`` - a worker reserves one task at a time, so a dead worker strands
  no queued tenants behind the one it was running;
* the claim table (``auditor.scale.claims``) turns "at least once" delivery into "exactly one run per
  tenant per period".
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery

from auditor.scale.rollup import after_task
from auditor.scale.settings import ScaleSettings, redact
from auditor.scale.task import RetryLater, WorkerRuntime, run_claimed_audit

TASK_NAME = "entra_auditor.audit_tenant"
log = logging.getLogger(__name__)


def create_app(settings: ScaleSettings | None = None, *, runtime: WorkerRuntime | None = None) -> Celery:
    """A Celery app for the broker in ``settings`` (default: from the environment)."""
    settings = settings or ScaleSettings.from_env()
    runtime = runtime or WorkerRuntime(settings)
    app = Celery("entra_auditor", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        task_ignore_result=settings.result_backend is None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        task_track_started=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
        timezone="UTC",
    )
    register_tasks(app, runtime)
    return app


def register_tasks(app: Celery, runtime: WorkerRuntime) -> None:
    settings = runtime.settings

    @app.task(bind=True, name=TASK_NAME, max_retries=settings.max_wait_retries)  # type: ignore[untyped-decorator]
    def audit_tenant(self: Any, tenant_name: str, period: str) -> dict[str, Any]:
        """Audit one tenant for one period, at most once across all workers."""
        worker = f"{self.request.hostname or 'local'}:{os.getpid()}"
        try:
            outcome = run_claimed_audit(runtime, tenant_name, period, worker)
        except RetryLater as exc:
            raise self.retry(countdown=exc.countdown, exc=exc) from None
        except Exception as exc:
            # Infrastructure trouble before a claim was taken (database down, configuration being
            # rewritten): an acks_late task that fails is acknowledged and gone, so retry instead.
            log.warning(
                "tenant %s, period %s: %s; retrying", tenant_name, period, redact(f"{type(exc).__name__}: {exc}")
            )
            raise self.retry(countdown=settings.retry_seconds, exc=exc) from None
        # The tenant is settled: the last one of a dispatched period writes the cross-tenant roll-up.
        after_task(runtime, period, worker)
        return outcome
