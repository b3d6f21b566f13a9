"""A cron that never fires (``0 7 30 2 *``) is refused by ``schedule`` and reported by ``doctor``, which says
when a valid one next fires."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import AuditorConfig, ScheduleConfig
from auditor.errors import ConfigError
from auditor.schedule import AuditScheduler
from auditor.schedule.triggers import describe_schedule

TENANT = (
    "tenants:\n  - {name: contoso, tenant_id: t, client_id: c, client_secret_env: X, cloud: custom, "
    "authority_host: 'https://127.0.0.1:9', graph_endpoint: 'https://127.0.0.1:9', "
    "exchange_endpoint: 'https://127.0.0.1:9'}\n"
)


def _cli(tmp_path: Path, cron: str, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "auditor.yaml"
    cfg.write_text(
        TENANT
        + f"schedule: {{cron: '{cron}', timezone: Europe/Berlin}}\n"
        + f"storage: {{url: 'sqlite:///{tmp_path}/h.db'}}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_CONFIG"} | {"X": "s"}
    return subprocess.run(
        [sys.executable, "-m", "auditor.cli", *args, "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )


def test_describe_schedule() -> None:
    now = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert describe_schedule(ScheduleConfig(cron="0 7 30 2 *"), now) == (
        False,
        "schedule.cron '0 7 30 2 *' (UTC) never fires; no scheduled audit would ever run.",
    )
    fires, line = describe_schedule(ScheduleConfig(cron="0 7 29 2 *", timezone="Europe/Berlin"), now)
    assert fires and line.endswith("next fires at 2028-02-29T07:00:00+01:00.")


def test_scheduler_refuses_a_cron_that_never_fires(tmp_path: Path) -> None:
    config = AuditorConfig.model_validate(
        {
            "tenants": [{"name": "c", "tenant_id": "t", "client_id": "c", "client_secret_env": "X"}],
            "schedule": {"cron": "0 7 30 2 *"},
        }
    )
    with pytest.raises(ConfigError, match="never fires"):
        AuditScheduler(config, install_signal_handlers=False)
    proc = _cli(tmp_path, "0 7 30 2 *", "schedule")
    assert proc.returncode == 2 and "never fires" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_doctor_says_when_the_schedule_fires(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "0 7 30 2 *", "doctor")
    assert "schedule.cron '0 7 30 2 *' (Europe/Berlin) never fires" in proc.stdout
    assert proc.returncode == 3
    proc = _cli(tmp_path, "0 7 * * mon", "doctor")
    assert "schedule.cron '0 7 * * mon' (Europe/Berlin) next fires at " in proc.stdout
