"""run_audit: the one straight pipeline the CLI, the scheduler and the workers all call.

collect (or a given snapshot) → evaluate → history.annotate → render into
``reports.dir/<tenant>/<UTC timestamp>/`` (each file atomic, folder 0700) → deliver the email →
history.record (one transaction, with any delivery error in the run's errors) → prune.

The email goes out before the run is recorded: a process killed in between leaves no recorded run, so
the scheduler's catch-up runs the audit again and the report is not silently lost (the reverse order
would record a run whose email never left). A failure of one tenant never raises out of ``run_audits``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.config import AuditorConfig
from auditor.engine import evaluate
from auditor.errors import AuditorError
from auditor.findings import AuditResult, RunInfo
from auditor.snapshot import Snapshot
from auditor.snapshot import save as save_snapshot

if TYPE_CHECKING:
    from auditor.history import HistoryStore

log = logging.getLogger("auditor.pipeline")
Progress = Callable[[str, str, int | None], None]
ALL_FORMATS = ("html", "xlsx", "json", "csv")


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


def report_folder(base: Path, tenant: str, started: datetime) -> Path:
    """A new folder ``base/<tenant>/<UTC stamp>`` (0700, like the tenant folder it creates)."""
    from auditor.render.safe import file_component

    stamp = started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    tenant_dir = base / file_component(tenant)  # the name may come from a snapshot file: never a path
    folder = tenant_dir / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = tenant_dir / f"{stamp}-{suffix}"
    if not tenant_dir.exists():
        tenant_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def render_all(result: AuditResult, snapshot: Snapshot, folder: Path, formats: list[str]) -> dict[str, Path]:
    from auditor.render.json import render_json

    files: dict[str, Path] = {"snapshot": save_snapshot(snapshot, folder / "snapshot.json.gz")}
    if "json" in formats:
        files["json"] = render_json(result, folder / "findings.json")
    if "html" in formats:
        from auditor.render.html import render_html

        files["html"] = render_html(result, folder / "report.html")
    if "xlsx" in formats:
        from auditor.render.excel import render_xlsx

        files["xlsx"] = render_xlsx(result, folder / "report.xlsx")
    if "csv" in formats:
        from auditor.render.csv import render_csv

        files["csv"] = render_csv(result, folder / "findings.csv")
    return files


def _mark_without_history(result: AuditResult) -> None:
    for finding in result.findings:
        finding.change = "new"
        finding.first_seen = result.run.started


def run_audit(
    config: AuditorConfig,
    tenant_name: str | None = None,
    *,
    snapshot: Snapshot | None = None,
    demo: bool = False,
    out_dir: Path | None = None,
    formats: list[str] | None = None,
    email: bool = False,
    history: HistoryStore | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Audit one tenant end to end. Raises ``AuditorError`` when the tenant cannot be audited at all."""
    started = now or datetime.now(UTC)
    run = RunInfo(started=started)
    if snapshot is None and demo:
        from auditor.demo import demo_snapshot

        snapshot = demo_snapshot()
    if snapshot is None:
        if tenant_name is None:
            raise AuditorError("No tenant named and no snapshot given.")
        from auditor.collect.collector import collect_tenant

        snapshot = collect_tenant(config.tenant(tenant_name), config, progress=progress)
    name = tenant_name or snapshot.tenant_name
    if tenant_name and snapshot.tenant.get("name") != tenant_name:
        snapshot.tenant["name"] = tenant_name
    outcome = RunOutcome(tenant=name)
    result = evaluate(snapshot, config, now=now, run=run)
    outcome.result = result
    if history is not None:
        history.annotate(result)
    else:
        _mark_without_history(result)

    base = Path(out_dir) if out_dir is not None else Path(config.reports.dir)
    outcome.report_dir = report_folder(base, name, started)
    outcome.files = render_all(result, snapshot, outcome.report_dir, list(formats or config.reports.formats))
    if email:
        outcome.email_sent = _deliver(config, name, result, outcome)
    if history is not None:
        history.record(result, outcome.report_dir)
        history.prune(name, config.reports.keep_runs)
    return outcome


def _deliver(config: AuditorConfig, tenant: str, result: AuditResult, outcome: RunOutcome) -> bool:
    """Send the report e-mail; a delivery failure is recorded on the outcome, the reports stay on disk."""
    from auditor.deliver import send_report

    if config.email is None:
        outcome.errors.append("--email given but the configuration has no email section")
        result.run.errors.append(outcome.errors[-1])
        return False
    try:
        tenant_config = next((t for t in config.tenants if t.name == tenant), None)
        send_report(config, tenant_config, result, outcome.report_dir, outcome.files)
        return True
    except AuditorError as exc:
        log.error("email delivery failed for tenant %s: %s", tenant, exc)
        outcome.errors.append(f"email delivery failed: {exc}")
        result.run.errors.append(outcome.errors[-1])
        return False


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
        return list(pool.map(one, tenant_names))
