"""The cross-tenant roll-up of a dispatched period, written once by the worker that settles it.

A foreground multi-tenant run (``audit`` with several tenants) has every result in memory and writes the
roll-up at its end (``auditor.pipeline.write_rollup``). Under ``schedule --dispatch`` the tenants run as
separate tasks on any number of workers, so no process holds the batch. Instead, every task, once its
tenant is settled, asks the claim table whether the whole period is settled (every tenant done, or failed
with no attempt left). The first worker to find it so takes the period's roll-up (``scale_rollups``, one
row per period, fenced by a lease like a claim), builds the rows from the runs recorded in history (their
stored counts; a failed tenant's row carries its claim's error) and writes ``reports.dir/_rollup/<period>/``
and the MSP summary e-mail, exactly as the foreground run does. The folder is named after the period, so a
roll-up written again after a crash reuses it and its ``.email-sent`` marker: the summary goes out once.

A period with a single tenant has no roll-up (as a single-tenant foreground run has none).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from auditor.config import AuditorConfig
from auditor.scale.claims import ClaimStore
from auditor.scale.settings import redact

log = logging.getLogger(__name__)


def period_folder(period: str) -> str:
    """``2026-11-23T07:00Z`` -> ``20261123T0700Z`` (a folder name like the runs' UTC stamps)."""
    return "".join(ch for ch in period if ch.isalnum())[:40] or "period"


def rollup_rows(claims: list[dict[str, Any]], history: Any) -> list[Any]:
    """One roll-up row per claim of the period, from the run its claim recorded."""
    from auditor.render.rollup import row_from_history

    rows = []
    for claim in sorted(claims, key=lambda c: str(c["tenant"])):
        problem = str(claim.get("error") or "")
        run_id = claim.get("run_id") if claim["state"] == "done" else None
        if claim["state"] == "done" and not run_id:
            problem = problem or "no run recorded"
        rows.append(row_from_history(str(claim["tenant"]), history, run_id, problem))
    return rows


def write_period_rollup(
    config: AuditorConfig, store: ClaimStore, history: Any, period: str, worker: str
) -> dict[str, Path] | None:
    """Write the period's roll-up and send the MSP summary when the period is settled and nobody else has
    (or is). Returns the files written, None when there was nothing to do. Never raises: the tenants' own
    reports stand whatever happens here."""
    token = None
    try:
        claims = store.settled(period)
        if claims is None or len(claims) < 2:
            return None
        token = store.take_rollup(period, worker)
        if token is None:
            return None
        return _write(config, store, history, period, token, claims)
    except Exception as exc:
        message = redact(f"{type(exc).__name__}: {exc}")
        log.error("period %s: the cross-tenant roll-up could not be written: %s", period, message)
        if token is not None:
            try:
                store.finish_rollup(period, token, error=message[:2000])
            except Exception:  # the lease runs out and the next settled task takes it over
                log.warning("period %s: could not mark the roll-up failed", period)
        return None


def _write(
    config: AuditorConfig, store: ClaimStore, history: Any, period: str, token: str, claims: list[dict[str, Any]]
) -> dict[str, Path] | None:
    from auditor.pipeline import write_rollup_rows

    files = write_rollup_rows(config, rollup_rows(claims, history), folder_name=period_folder(period))
    if not files:
        store.finish_rollup(period, token, error="the roll-up files could not be written (see the worker log)")
        return None
    store.finish_rollup(period, token, folder=str(files["html"].parent))
    log.info("period %s: cross-tenant roll-up of %d tenants written to %s", period, len(claims), files["html"].parent)
    return files


def after_task(runtime: Any, period: str, worker: str) -> dict[str, Path] | None:
    """What the ``audit_tenant`` task calls once its tenant is settled (``WorkerRuntime``). Never raises."""
    try:
        config = runtime.load_config()
        store = runtime.claims(config)
        history = runtime.history(config)
    except Exception as exc:
        log.error("period %s: roll-up check skipped: %s", period, redact(f"{type(exc).__name__}: {exc}"))
        return None
    return write_period_rollup(config, store, history, period, worker)
