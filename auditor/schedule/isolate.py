"""A scheduled audit in a child process, so that the run deadline can really stop it.

A thread cannot be killed: an audit hung past ``schedule.run_deadline_seconds`` in a thread keeps its
memory, sockets and threads until it ends on its own. Here each audit runs in a process of its own
(``multiprocessing`` *spawn*: a fresh interpreter, no forked locks or sockets of the scheduler), which the
scheduler kills (SIGKILL) at the deadline; nothing of a killed run is committed (the run is recorded in one
transaction at its end, its report folder is renamed into place only when complete).

* The child's log records are sent to the scheduler and emitted by its loggers (one JSON-line stream).
* The child ignores SIGINT and SIGTERM: the scheduler decides its fate (a first signal lets the running
  audit finish, a second kills it), also when a terminal or a service manager signals the whole group.
* A child whose scheduler died (``kill -9``) notices within a second and exits: no orphan audits on.
* What comes back is plain data: the loggable facts of the outcome, or the error's kind and sentence.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor.errors import AuditorError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from auditor.config import AuditorConfig

    RunFn = Callable[[AuditorConfig, str], Any]

#: how long a child that sent its result may take to exit before it is killed
EXIT_GRACE_SECONDS = 10.0
_PARENT_POLL_SECONDS = 1.0


class ChildAuditError(AuditorError):
    """An ``AuditorError`` raised by the audit in the child process (``kind``: its class name)."""

    def __init__(self, kind: str, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.exit_code = exit_code


class ChildAuditCrashed(Exception):
    """The audit in the child raised something unexpected, or the child died without an answer."""

    def __init__(self, kind: str, message: str, details: str = "") -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.details = details


class ChildDeadlineExceeded(Exception):
    """The child was still running at the deadline and has been killed."""


@dataclass(frozen=True)
class PipelineRun:
    """The default scheduled audit, picklable for the child: ``run_audit`` recording into the history
    database at ``storage_url`` (its own connection, opened in the child)."""

    storage_url: str

    def __call__(self, config: AuditorConfig, tenant: str) -> Any:
        from auditor.history import HistoryStore
        from auditor.pipeline import run_audit

        store = HistoryStore(self.storage_url)
        try:
            return run_audit(config, tenant, history=store)
        finally:
            store.close()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_PARENT_POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(70)  # the scheduler is gone: nobody waits for this audit any more


def _child_main(run_fn: RunFn, config: AuditorConfig, tenant: str, out: Any, parent: int, facts: Any) -> None:
    """The child's entry point (module level: spawn imports it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-scheduler", daemon=True).start()
    handler = logging.handlers.QueueHandler(out)
    for name in ("auditor", "apscheduler"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    try:
        outcome = run_fn(config, tenant)
        answer: tuple[Any, ...] = ("result", facts(outcome))
    except AuditorError as exc:
        answer = ("auditor_error", type(exc).__name__, str(exc), exc.exit_code)
    except BaseException as exc:
        answer = ("crash", type(exc).__name__, str(exc), traceback.format_exc(limit=20))
    out.put(answer)
    out.close()
    out.join_thread()  # everything is in the pipe before the process ends


def run_in_child(
    run_fn: RunFn,
    config: AuditorConfig,
    tenant: str,
    seconds: float,
    *,
    facts: Any,
    children: set[BaseProcess] | None = None,
) -> dict[str, Any]:
    """``run_fn(config, tenant)`` in a child process; its outcome's ``facts(outcome)`` (a picklable dict).

    Raises :class:`ChildDeadlineExceeded` after killing a child still running after ``seconds``,
    :class:`ChildAuditError` for an ``AuditorError`` of the audit, :class:`ChildAuditCrashed` otherwise.
    ``children``: the live children, for a scheduler that must kill them on a second signal.
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(
        target=_child_main,
        args=(run_fn, config, tenant, out, os.getpid(), facts),
        name=f"audit-{tenant}",
        daemon=True,
    )
    proc.start()
    if children is not None:
        children.add(proc)
    try:
        answer = _await_answer(proc, out, time.monotonic() + seconds)
        if answer is None:
            raise ChildDeadlineExceeded(f"still running after {seconds:g} s")
        proc.join(EXIT_GRACE_SECONDS)
        return _unpack(answer)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        if children is not None:
            children.discard(proc)
        out.cancel_join_thread()
        out.close()


def _await_answer(proc: BaseProcess, out: Any, end: float) -> tuple[Any, ...] | None:
    """Forward the child's log records until its answer arrives (None: the deadline passed first)."""
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return None
        try:
            item = out.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            if not proc.is_alive():
                try:  # it may have answered just before exiting
                    item = out.get(timeout=1.0)
                except queue.Empty:
                    return (
                        "crash",
                        "ChildDied",
                        f"the audit process ended without an answer (exit code {proc.exitcode})",
                        "",
                    )
            else:
                continue
        if isinstance(item, logging.LogRecord):
            logging.getLogger(item.name).handle(item)
            continue
        return tuple(item)


def _unpack(answer: tuple[Any, ...]) -> dict[str, Any]:
    kind = answer[0]
    if kind == "result":
        return dict(answer[1] or {})
    if kind == "auditor_error":
        raise ChildAuditError(str(answer[1]), str(answer[2]), int(answer[3]))
    raise ChildAuditCrashed(str(answer[1]), str(answer[2]), str(answer[3]))


def kill_all(children: set[BaseProcess]) -> None:
    """Kill every live child at once (a second stop signal: nothing of their runs is committed)."""
    for proc in list(children):
        if proc.is_alive():
            proc.kill()
