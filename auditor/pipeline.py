"""run_audit: the one straight pipeline the CLI, the scheduler and the workers all call.

Each stage is a small function over typed values, called in order by ``run_audit``:

    obtain_snapshot (collect, or a given / demo snapshot) → build_model → evaluate (the rules)
    → annotate_history → build_report_context (once) → render_all into
    ``reports.dir/<tenant>/<UTC timestamp>/`` (each file atomic, folder 0700) → deliver_report (compose
    with ``render.email``, send with ``deliver``) → record_history (one transaction, with any delivery
    error in the run's errors) → prune.

Whether a run e-mails its report is decided in one place, ``wants_email``: a run asked for e-mail
explicitly (CLI ``--email``) or explicitly not (CLI without it) does as told; a run that does not say
(the scheduler, the Celery workers) e-mails when the configuration has an ``email`` section.

The email goes out before the run is recorded: a process killed in between leaves no recorded run, so
the scheduler's catch-up runs the audit again and the report is not silently lost (the reverse order
would record a run whose email never left); the already-sent marker keeps that retry from mailing twice.
A failure of one tenant never raises out of ``run_audits``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import rundir
from auditor.config import AuditorConfig, EmailConfig, TenantConfig
from auditor.deliver.registry import DeliveryResult
from auditor.engine import evaluate
from auditor.errors import AuditorError
from auditor.findings import AuditResult, RunInfo
from auditor.model import build_model
from auditor.plan import build_plan
from auditor.render.context import ReportContext, build_report_context
from auditor.rules import REGISTRY
from auditor.snapshot import Snapshot
from auditor.snapshot import save as save_snapshot

if TYPE_CHECKING:
    from auditor.history import HistoryStore, TrendPoint
    from auditor.render.rollup import RollupRow

log = logging.getLogger("auditor.pipeline")
Progress = Callable[[str, str, int | None], None]


@dataclass
class RunOutcome:
    tenant: str
    result: AuditResult | None = None
    report_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    email_sent: bool | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.result is None:
            return "failed"
        return self.result.run.status


def render_all(
    context: ReportContext, snapshot: Snapshot, folder: Path, formats: list[str] | None, *, saved: Path | None = None
) -> dict[str, Path]:
    """Save the snapshot (unless ``saved`` already holds it) and run each requested renderer of the registry
    over the one report context (``formats`` None: every registered format)."""
    from auditor.render import registry

    files: dict[str, Path] = {"snapshot": saved or save_snapshot(snapshot, folder / "snapshot.json.gz")}
    for output in registry.selected(formats):  # an unknown format raises ConfigError
        files[output.format] = output.write(context, folder / output.filename)
    return files


def _save_first(base: Path, tenant: str, started: datetime, snapshot: Snapshot) -> tuple[Path, Path]:
    """The run's ``.partial`` folder with the snapshot already in it, before anything evaluates it. When the
    folder cannot take it (disk full, permissions changed mid-run) the snapshot is kept elsewhere, and the
    run fails naming where."""
    try:
        partial = rundir.start_run_folder(base, tenant, started)
        return partial, save_snapshot(snapshot, partial / "snapshot.json.gz")
    except OSError as exc:
        kept = rundir.keep_snapshot(snapshot, None)
        raise AuditorError(
            f"Cannot write the run's folder under {base} ({exc.strerror or exc}); "
            f"the collected snapshot is kept at {kept}"
        ) from exc


def _short(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def wants_email(config: AuditorConfig, email: bool | None) -> bool:
    """The one delivery decision: ``email`` True/False is an explicit request (CLI ``--email`` or not);
    None (scheduled and dispatched runs) means "when the configuration has an ``email`` section"."""
    if email is None:
        return config.email is not None
    return email


# ---------------------------------------------------------------- stages


def obtain_snapshot(
    config: AuditorConfig,
    tenant_name: str | None,
    *,
    snapshot: Snapshot | None,
    demo: bool,
    progress: Progress | None,
) -> Snapshot:
    """The snapshot to evaluate: the given one, the bundled demo tenant, or a fresh collection."""
    if snapshot is None and demo:
        from auditor.demo import demo_snapshot

        snapshot = demo_snapshot()
    if snapshot is None:
        if tenant_name is None:
            raise AuditorError("No tenant named and no snapshot given.")
        from auditor.collect.collector import collect_tenant
        from auditor.rules.settings import sources_only_disabled_rules_need

        skip = sources_only_disabled_rules_need(config.rules)
        snapshot = collect_tenant(config.tenant(tenant_name), config, progress=progress, skip=skip)
    if tenant_name and snapshot.tenant.get("name") != tenant_name:
        snapshot.tenant["name"] = tenant_name
    return snapshot


def annotate_history(result: AuditResult, history: HistoryStore | None, trend_runs: int = 0) -> list[TrendPoint]:
    """Mark each finding new / persisting against the tenant's previous run (all new without history).

    Returns the tenant's recorded runs before this one for the report's trend (the newest
    ``trend_runs - 1``, oldest first; none without history or with ``trend_runs`` 0)."""
    if history is not None:
        history.annotate(result)
        if trend_runs < 2:
            return []
        tenant = str(result.tenant.get("name") or result.tenant.get("tenant_id") or "tenant")
        return history.trend(tenant, trend_runs - 1, exclude=result.run.id)
    for finding in result.findings:
        finding.change = "new"
        finding.first_seen = result.run.started
    return []


def deliver_report(
    email: EmailConfig,
    tenant: TenantConfig | None,
    result: AuditResult,
    report_dir: Path,
    files: dict[str, Path],
    context: ReportContext | None = None,
) -> DeliveryResult:
    """Compose the run's e-mail (the reports of renderers with attach=True attached) and deliver it once.

    Idempotent through ``<report_dir>/.email-sent``: calling it again for the same run, e.g. after a
    crash between delivery and bookkeeping, sends nothing.
    """
    from auditor.deliver import already_sent, deliver_email, skipped
    from auditor.render import registry
    from auditor.render.email import compose_email

    previous = already_sent(report_dir, result.run.id)
    if previous is not None:  # nothing to compose either
        return skipped(previous, email.transport)
    attachments = [files[r.format] for r in registry.attachments() if r.format in files]
    if context is None:  # a re-delivery outside a run: the context without the model's entity rows
        context = build_report_context(result)
    message = compose_email(
        context,
        attachments,
        sender=email.sender,
        to=email.to,
        cc=email.cc,
        zip_over_mb=email.zip_attachments_over_mb,
        max_attachment_mb=email.max_attachment_mb,
        report_location=str(report_dir),
    )
    return deliver_email(email, tenant, message, run_id=result.run.id, report_dir=report_dir)


def _deliver(
    config: AuditorConfig, tenant: str, result: AuditResult, outcome: RunOutcome, context: ReportContext
) -> bool:
    """The delivery stage inside a run: a failure is recorded on the outcome, the reports stay on disk."""
    if config.email is None:
        outcome.errors.append("--email given but the configuration has no email section")
        result.run.errors.append(outcome.errors[-1])
        return False
    assert outcome.report_dir is not None
    try:
        tenant_config = next((t for t in config.tenants if t.name == tenant), None)
        deliver_report(config.email, tenant_config, result, outcome.report_dir, outcome.files, context)
        return True
    except AuditorError as exc:
        log.error("email delivery failed for tenant %s: %s", tenant, exc)
        outcome.errors.append(f"email delivery failed: {exc}")
        result.run.errors.append(outcome.errors[-1])
        return False


def record_history(
    history: HistoryStore | None, result: AuditResult, report_dir: Path, tenant: str, keep_runs: int
) -> None:
    """Record the run (one transaction), then prune the tenant's runs beyond ``keep_runs``."""
    if history is None:
        return
    history.record(result, report_dir)
    history.prune(tenant, keep_runs)


# ---------------------------------------------------------------- the pipeline


def run_audit(
    config: AuditorConfig,
    tenant_name: str | None = None,
    *,
    snapshot: Snapshot | None = None,
    demo: bool = False,
    out_dir: Path | None = None,
    formats: list[str] | None = None,
    email: bool | None = None,
    history: HistoryStore | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Audit one tenant end to end. Raises ``AuditorError`` when the tenant cannot be audited at all.

    ``email``: see ``wants_email`` (None: e-mail when the configuration has an ``email`` section).
    """
    if demo and snapshot is None:
        from auditor.demo import demo_config

        config = demo_config(config)  # the demo tenant's emergency access accounts, unless the config lists its own
    if tenant_name is not None:
        config = config.for_tenant(tenant_name)  # the tenant's own waivers, rules, e-mail, ... over the defaults
    send = wants_email(config, email)
    if send:
        from auditor.deliver import validate_email_config

        validate_email_config(config)  # an unknown channel fails the run before anything is collected
    started = now or datetime.now(UTC)
    run = RunInfo(started=started)
    base = Path(out_dir) if out_dir is not None else Path(config.reports.dir)
    rundir.check_writable(base)  # before an hour of collection, not after
    given = snapshot is not None or demo
    snapshot = obtain_snapshot(config, tenant_name, snapshot=snapshot, demo=demo, progress=progress)
    name = tenant_name or snapshot.tenant_name
    if tenant_name is None:
        config = config.for_tenant(name)  # never another tenant's waivers
    outcome = RunOutcome(tenant=name)
    partial, saved = _save_first(base, name, started, snapshot)
    try:
        phase(progress, "evaluate", "started")
        model = build_model(snapshot, config.classification, config.legacy_mfa)
        result = evaluate(model, REGISTRY, config.rules, config.waivers, coverage=snapshot.coverage(), now=now, run=run)
        result.migration_plan = build_plan(model)  # not a rule: the engine never sees it
        phase(progress, "evaluate", "done", len(result.findings))
        outcome.result = result
        earlier = annotate_history(result, history, config.reports.trend_runs)
        # built once: every renderer and the e-mail read it
        context = build_report_context(result, model, earlier_runs=earlier, trend_runs=config.reports.trend_runs)
        del model  # nothing after the report context reads the pandas tables
        phase(progress, "render", "started")
        files = render_all(context, snapshot, partial, formats or config.reports.formats, saved=saved)
        outcome.report_dir = rundir.finish_run_folder(partial, started)
        phase(progress, "render", "done", len(files))
    except Exception as exc:
        if given:  # the caller has the snapshot already
            shutil.rmtree(partial, ignore_errors=True)
            raise
        kept = rundir.keep_snapshot(snapshot, partial.parent / f"{rundir.stamp(started)}-failed.json.gz")
        shutil.rmtree(partial, ignore_errors=True)
        raise AuditorError(
            f"the run failed after collection ({_short(exc)}); the collected snapshot is kept at {kept} "
            "(re-evaluate it with: entra-auditor audit --snapshot FILE)"
        ) from exc
    outcome.files = {k: outcome.report_dir / p.name for k, p in files.items()}
    if send:
        phase(progress, "deliver", "started")
        outcome.email_sent = _deliver(config, name, result, outcome, context)
        phase(progress, "deliver", "done")
    if history is not None:
        phase(progress, "record", "started")
    record_history(history, result, outcome.report_dir, name, config.reports.keep_runs)
    if history is not None:
        phase(progress, "record", "done")
    return outcome


def phase(progress: Progress | None, step: str, status: str, items: int | None = None) -> None:
    """Report a phase after collection (``auditor.progress.PHASES``); a broken display never stops a run."""
    if progress is not None:
        with contextlib.suppress(Exception):
            progress(step, status, items)


def run_audits(
    config: AuditorConfig,
    tenant_names: list[str],
    *,
    history: HistoryStore | None = None,
    progress_for: Callable[[str], Progress | None] | None = None,
    **kwargs: Any,
) -> list[RunOutcome]:
    """Audit several tenants concurrently; one failing tenant does not stop the others."""

    def one(name: str) -> RunOutcome:
        try:
            progress = progress_for(name) if progress_for else None
            if history is None:
                return run_audit(config, name, progress=progress, **kwargs)
            owner = f"audit pid {os.getpid()}"
            with history.tenant_lock(name, owner):
                return run_audit(config, name, history=history, progress=progress, **kwargs)
        except AuditorError as exc:
            log.error("tenant %s failed: %s", name, exc)
            return RunOutcome(tenant=name, errors=[str(exc)])
        except Exception as exc:  # a bug in one tenant's run must not stop the others
            log.exception("tenant %s failed unexpectedly", name)
            return RunOutcome(tenant=name, errors=[f"unexpected error: {exc!r}"])

    workers = max(1, min(config.collect.tenant_concurrency, len(tenant_names)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tenant") as pool:
        outcomes = list(pool.map(one, tenant_names))
    if len(outcomes) > 1:
        write_rollup(config, outcomes, out_dir=kwargs.get("out_dir"), email=kwargs.get("email"))
    return outcomes


def write_rollup(
    config: AuditorConfig,
    outcomes: list[RunOutcome],
    *,
    out_dir: Path | None = None,
    email: bool | None = None,
    now: datetime | None = None,
) -> dict[str, Path]:
    """The cross-tenant roll-up of a multi-tenant run in ``reports.dir/_rollup/<UTC stamp>/`` (HTML page
    and workbook), e-mailed as the MSP summary to the global ``email`` recipients when the run e-mails
    (``wants_email``). Never raises: a failed roll-up or summary e-mail is logged and the tenants' own
    reports stand."""
    from auditor.render.rollup import row_for

    rows = [row_for(o.tenant, o.result, o.errors) for o in outcomes]
    return write_rollup_rows(config, rows, out_dir=out_dir, email=email, now=now)


def write_rollup_rows(
    config: AuditorConfig,
    rows: list[RollupRow],
    *,
    out_dir: Path | None = None,
    email: bool | None = None,
    now: datetime | None = None,
    folder_name: str | None = None,
) -> dict[str, Path]:
    """Write the roll-up of ``rows`` and send the MSP summary (see ``write_rollup``). ``folder_name`` fixes
    the folder under ``_rollup/`` (a dispatched period's roll-up: written again into the same folder, its
    ``.email-sent`` marker keeps the summary from going out twice). Never raises."""
    from auditor.render.rollup import HTML_NAME, XLSX_NAME, render_rollup_html, render_rollup_xlsx

    generated = now or datetime.now(UTC)
    files: dict[str, Path] = {}
    try:
        base = Path(out_dir) if out_dir is not None else Path(config.reports.dir)
        folder = _rollup_folder(base, generated, folder_name)
        files["html"] = render_rollup_html(rows, folder / HTML_NAME, generated)
        files["xlsx"] = render_rollup_xlsx(rows, folder / XLSX_NAME)
    except Exception as exc:  # the tenants' reports are written; a roll-up failure must not undo that
        log.error("the cross-tenant roll-up could not be written: %s", exc, exc_info=not isinstance(exc, OSError))
        return files
    if wants_email(config, email) and config.email is not None:
        _send_rollup(config, config.email, rows, files, folder)
    return files


def _rollup_folder(base: Path, generated: datetime, name: str | None = None) -> Path:
    """``base/_rollup/<UTC stamp>`` (0700), or ``base/_rollup/<name>`` reused when it exists; no tenant
    folder can be called ``_rollup`` (names start with a letter or digit)."""
    stamp = generated.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    parent = base / "_rollup"
    parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    if name is not None:
        folder = parent / name
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder
    folder, suffix = parent / stamp, 1
    while folder.exists():
        suffix += 1
        folder = parent / f"{stamp}-{suffix}"
    folder.mkdir(mode=0o700)
    return folder


def _send_rollup(config: AuditorConfig, email: EmailConfig, rows: Any, files: dict[str, Path], folder: Path) -> None:
    from auditor.deliver import deliver_email
    from auditor.render.rollup import compose_rollup_email

    message = compose_rollup_email(rows, list(files.values()), sender=email.sender, to=email.to, cc=email.cc)
    sender_tenant = config.tenants[0] if config.tenants else None  # Graph sendMail: the first tenant's app
    try:
        deliver_email(email, sender_tenant, message, run_id=f"rollup-{folder.name}", report_dir=folder)
    except AuditorError as exc:
        log.error("the MSP summary e-mail could not be delivered: %s", exc)
