"""The body of the ``audit_tenant`` task, independent of Celery.

``run_claimed_audit`` takes the (tenant, period) claim, keeps its lease alive while the audit runs,
calls the audit function (``auditor.pipeline.run_audit`` unless ``ENTRA_AUDITOR_RUN_FN`` names another)
and marks the claim done. It never runs an audit twice for one period: a done claim makes the task a
no-op, a claim held by a live worker makes it wait (``RetryLater``) until that worker finishes or its
lease expires.

The task passes no e-mail choice, exactly like the foreground scheduler: ``run_audit`` e-mails the report
when the configuration has an ``email`` section (``auditor.pipeline.wants_email``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine

from auditor.config import AuditorConfig, load_config, resolve_config_path
from auditor.errors import AuditorError, ConfigError, UsageError
from auditor.history.locks import TenantBusy
from auditor.scale.claims import AcquireOutcome, Claim, ClaimLost, ClaimStore, Heartbeat, utcnow
from auditor.scale.settings import ScaleSettings, redact, resolve

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Ask the task queue to run this task again after ``countdown`` seconds."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(reason)
        self.countdown = max(1.0, countdown)
        self.reason = reason


@dataclass
class WorkerRuntime:
    """What a worker process needs to run tasks; one per process, created after the fork."""

    settings: ScaleSettings
    config_loader: Callable[[], AuditorConfig] | None = None
    _engines: dict[tuple[int, str], Engine] = field(default_factory=dict)
    _histories: dict[tuple[int, str], Any] = field(default_factory=dict)

    def load_config(self) -> AuditorConfig:
        if self.config_loader is not None:
            return self.config_loader()
        path = self.settings.config_path or resolve_config_path(None)
        if path is None:
            raise ConfigError("No configuration file: set ENTRA_AUDITOR_CONFIG or create config/auditor.yaml.")
        from auditor.render.registry import validate_formats
        from auditor.rules.settings import validate_config_rules

        config = load_config(path)
        validate_config_rules(config, str(path))
        validate_formats(config.reports.formats, str(path))
        return config

    def engine(self, url: str) -> Engine:
        """One SQLAlchemy engine per process and URL (engines must not cross a fork)."""
        key = (os.getpid(), url)
        engine = self._engines.get(key)
        if engine is None:
            engine = _make_engine(url)
            self._engines[key] = engine
        return engine

    def claims(self, config: AuditorConfig) -> ClaimStore:
        store = ClaimStore(
            self.engine(config.storage.url),
            lease_seconds=self.settings.lease_seconds,
            max_attempts=self.settings.max_attempts,
        )
        store.ensure_schema()
        return store

    def dispose(self) -> None:
        """Close this process's database connections (call before forking workers)."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        for history in self._histories.values():
            close = getattr(history, "close", None)
            if close:
                close()
        self._histories.clear()

    def run_fn(self) -> Callable[..., Any]:
        return resolve(self.settings.run_fn)

    def history(self, config: AuditorConfig) -> Any:
        """The history store for ``config`` (cached per process and URL)."""
        key = (os.getpid(), config.storage.url)
        if key not in self._histories:
            self._histories[key] = resolve(self.settings.history_fn)(config)
        return self._histories[key]


def _make_engine(url: str) -> Engine:
    """The history package's engine settings (SQLite busy timeout, WAL) when it is installed."""
    try:
        from auditor.history.db import make_engine
    except ImportError:
        return create_engine(url, pool_pre_ping=True)
    return make_engine(url)


def default_history(config: AuditorConfig) -> Any:
    """The ``HistoryStore`` of ``config.storage.url``."""
    from auditor.history import HistoryStore

    return HistoryStore(config.storage.url)


class FencedHistory:
    """Wrap a history store so a run is recorded only while its claim is still held.

    The check sits right before ``record``: a worker that stalled past its lease (and whose tenant was
    taken over by another worker) raises ``ClaimLost`` instead of recording a second run.
    """

    def __init__(self, inner: Any, store: ClaimStore, claim: Claim) -> None:
        self._inner = inner
        self._store = store
        self._claim = claim

    def record(self, result: Any, *args: Any, **kwargs: Any) -> Any:
        self._store.ensure_held(self._claim)
        # Note the run id first: if this process dies between the record and marking the claim
        # done, the next holder finds the recorded run instead of auditing the tenant again.
        self._store.note_run(self._claim, result.run.id)
        return self._inner.record(result, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def run_claimed_audit(runtime: WorkerRuntime, tenant_name: str, period: str, worker: str) -> dict[str, Any]:
    """Audit ``tenant_name`` once for ``period``. Returns a small JSON-able outcome."""
    settings = runtime.settings
    config = runtime.load_config()
    base = {"tenant": tenant_name, "period": period, "worker": worker}
    store = runtime.claims(config)
    try:
        config.tenant(tenant_name)
    except ConfigError as exc:
        log.error("tenant %s, period %s: %s", tenant_name, period, exc)
        return {**base, "outcome": "failed", "error": str(exc)}

    found = store.acquire(tenant_name, period, worker)
    settled = _not_ours(found, base, settings)
    if settled is not None:
        return settled

    claim = found.claim
    assert claim is not None
    try:
        with Heartbeat(store, claim, settings.heartbeat_seconds):
            recovered = _recorded_run(runtime, config, claim)
            if recovered is not None:
                # The previous holder recorded its run and died before marking the claim done.
                store.complete(claim, run_id=recovered.id, run_status=recovered.status)
                log.info(
                    "tenant %s, period %s: run %s was recorded by a worker that died; kept",
                    tenant_name,
                    period,
                    recovered.id,
                )
                return {**base, "outcome": "recovered", "run_id": recovered.id, "attempt": claim.attempt}
            log.info("tenant %s, period %s: audit starts (attempt %d)", tenant_name, period, claim.attempt)
            history = runtime.history(config)
            if history is None:
                outcome = runtime.run_fn()(config, tenant_name, history=None)
            else:
                fenced = FencedHistory(history, store, claim)
                lock = getattr(history, "tenant_lock", None)
                # The tenant lock expires like the claim lease: a dead worker on another host
                # (whose pid cannot be checked) blocks the tenant for one lease, not the default TTL.
                guard = (
                    lock(tenant_name, f"entra-auditor worker {worker}", ttl_seconds=settings.lease_seconds)
                    if lock
                    else nullcontext()
                )
                with guard:
                    outcome = runtime.run_fn()(config, tenant_name, history=fenced)
    except ClaimLost as exc:
        log.warning("%s", exc)
        return {**base, "outcome": "lost", "attempt": claim.attempt}
    except TenantBusy as exc:
        # Someone else (e.g. an on-demand CLI audit) is auditing this tenant right now: hand the
        # claim back without counting an attempt and come back later.
        store.release(claim)
        raise RetryLater(settings.retry_seconds, str(exc)) from exc
    except AuditorError as exc:
        message = redact(str(exc))
        final = exc.exit_code == 2 or claim.attempt >= settings.max_attempts
        store.fail(claim, message, final=final)
        log.error("tenant %s, period %s, attempt %d failed: %s", tenant_name, period, claim.attempt, message)
        if final:
            return {**base, "outcome": "failed", "error": message, "attempt": claim.attempt}
        raise RetryLater(_backoff(settings, claim.attempt), message) from exc
    except Exception as exc:
        message = redact(f"{type(exc).__name__}: {exc}")
        final = claim.attempt >= settings.max_attempts
        store.fail(claim, message, final=final)
        log.exception("tenant %s, period %s, attempt %d failed", tenant_name, period, claim.attempt)
        if final:
            return {**base, "outcome": "failed", "error": message, "attempt": claim.attempt}
        raise RetryLater(_backoff(settings, claim.attempt), message) from exc

    run = getattr(getattr(outcome, "result", None), "run", None)
    run_id = getattr(run, "id", None)
    run_status = getattr(run, "status", None)
    try:
        store.complete(claim, run_id=run_id, run_status=run_status)
    except ClaimLost as exc:
        log.warning("%s", exc)
        return {**base, "outcome": "lost", "attempt": claim.attempt, "run_id": run_id}
    except Exception as exc:
        # The run is recorded (its id is noted on the claim) but the claim could not be closed: come
        # back after the lease; the next holder finds the recorded run and keeps it.
        raise RetryLater(settings.lease_seconds, redact(f"{type(exc).__name__}: {exc}")) from exc
    log.info("tenant %s, period %s: audit done (run %s, %s)", tenant_name, period, run_id, run_status)
    return {**base, "outcome": "completed", "run_id": run_id, "run_status": run_status, "attempt": claim.attempt}


def _not_ours(found: AcquireOutcome, base: dict[str, Any], settings: ScaleSettings) -> dict[str, Any] | None:
    """The outcome when the claim was not taken (done, given up); raises RetryLater while another worker holds
    it; None when this worker holds the claim now."""
    tenant_name, period = base["tenant"], base["period"]
    if found.kind == "done":
        log.info("tenant %s, period %s: already audited (run %s); nothing to do", tenant_name, period, found.run_id)
        return {**base, "outcome": "duplicate", "run_id": found.run_id}
    if found.kind == "exhausted":
        return {**base, "outcome": "gave_up", "error": found.error}
    if found.kind == "held":
        wait = settings.lease_seconds
        if found.lease_expires is not None:
            wait = (found.lease_expires - utcnow()).total_seconds() + 0.5
        raise RetryLater(wait, f"tenant {tenant_name} is being audited by {found.holder}")
    return None


def _recorded_run(runtime: WorkerRuntime, config: AuditorConfig, claim: Claim) -> Any:
    """The run a previous holder of ``claim`` recorded, if it made it into the history."""
    if not claim.noted_run_id:
        return None
    history = runtime.history(config)
    if history is None:
        return None
    try:
        return history.get_run(claim.noted_run_id)
    except UsageError:  # unknown run id: the previous attempt died before its record committed
        return None


def _backoff(settings: ScaleSettings, attempt: int) -> float:
    return float(min(settings.retry_seconds * (2 ** max(attempt - 1, 0)), 3600.0))
