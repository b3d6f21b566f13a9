"""The foreground scheduler writes the cross-tenant roll-up once every tenant sharing a schedule has run
(issue 12, item 3: a multi-tenant run of the weekly scheduler ends with one roll-up)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from auditor.config import AuditorConfig
from auditor.errors import ConfigError
from auditor.findings import AuditResult, RunInfo
from auditor.history import HistoryStore
from auditor.render.rollup import HTML_NAME
from auditor.schedule import AuditScheduler


def _config(tmp_path: Path) -> AuditorConfig:
    tenant = {"tenant_id": "t", "client_id": "c", "client_secret_env": "NOPE"}
    return AuditorConfig.model_validate(
        {
            "tenants": [
                {"name": "contoso", **tenant},
                {"name": "fabrikam", **tenant},
                {"name": "tailspin", **tenant, "overrides": {"schedule": {"cron": "0 6 * * tue"}}},
            ],
            "storage": {"url": f"sqlite:///{tmp_path / 'history.db'}"},
            "reports": {"dir": str(tmp_path / "reports")},
        }
    )


def _rollups(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "reports" / "_rollup").glob(f"*/{HTML_NAME}"))


def test_a_schedule_group_gets_one_rollup_once_every_tenant_has_run(tmp_path: Path) -> None:
    config = _config(tmp_path)
    store = HistoryStore(config.storage.url)

    def run_fn(cfg: AuditorConfig, tenant: str) -> SimpleNamespace:
        if tenant == "fabrikam":
            raise ConfigError("The secret for tenant fabrikam is expected in environment variable NOPE.")
        result = AuditResult(
            tenant={"name": tenant, "tenant_id": "t"}, run=RunInfo(), coverage=[], rules=[], findings=[]
        )
        store.annotate(result)
        store.record(result)
        return SimpleNamespace(result=result)

    sched = AuditScheduler(config, run_fn=run_fn, store=store, install_signal_handlers=False)
    sched.run_tenant("contoso")
    sched.run_tenant("tailspin")  # alone on its schedule: never part of a roll-up
    assert _rollups(tmp_path) == []  # fabrikam has not run yet
    sched.run_tenant("fabrikam")
    [page] = _rollups(tmp_path)
    assert page.stat().st_mode & 0o777 == 0o600  # owner-only, like every report
    text = page.read_text(encoding="utf-8")
    assert "contoso" in text and "fabrikam" in text and "tailspin" not in text
    assert "environment variable NOPE" in text  # the failed tenant's row says why

    sched.run_tenant("contoso")  # a new batch starts: no roll-up until fabrikam has run again
    assert len(_rollups(tmp_path)) == 1
    store.close()


def test_a_tenant_alone_on_the_schedule_gets_no_rollup(tmp_path: Path) -> None:
    config = AuditorConfig.model_validate(
        {
            "tenants": [{"name": "contoso", "tenant_id": "t", "client_id": "c", "client_secret_env": "NOPE"}],
            "storage": {"url": f"sqlite:///{tmp_path / 'history.db'}"},
            "reports": {"dir": str(tmp_path / "reports")},
        }
    )
    store = HistoryStore(config.storage.url)

    def run_fn(cfg: AuditorConfig, tenant: str) -> SimpleNamespace:
        result = AuditResult(
            tenant={"name": tenant, "tenant_id": "t"}, run=RunInfo(), coverage=[], rules=[], findings=[]
        )
        store.record(result)
        return SimpleNamespace(result=result)

    sched = AuditScheduler(config, run_fn=run_fn, store=store, install_signal_handlers=False)
    sched.run_tenant("contoso")
    sched.run_tenant("contoso")
    assert _rollups(tmp_path) == []
    store.close()
