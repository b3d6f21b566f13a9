"""systemd units: `systemd-analyze verify` clean, hardened (offline security score), real CLI commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_files import DEPLOY, cli_accepts, exec_args, unit_file, unit_values

UNITS = DEPLOY / "systemd"
INSTALLED = "/opt/entra-auditor/venv/bin/entra-auditor"
SERVICES = ["entra-auditor-scheduler.service", "entra-auditor-audit.service", "entra-auditor-worker.service"]


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return tool


def _copy_for_verify(tmp_path: Path) -> list[Path]:
    """verify checks ExecStart exists: point it at an executable present on this machine."""
    out = []
    for unit in sorted(UNITS.glob("entra-auditor*.service")) + sorted(UNITS.glob("*.timer")):
        target = tmp_path / unit.name
        target.write_text(unit.read_text().replace(INSTALLED, sys.executable))
        out.append(target)
    return out


def test_units_exist():
    names = {p.name for p in UNITS.iterdir()}
    assert set(SERVICES) | {"entra-auditor-audit.timer", "entra-auditor.env.example"} <= names


def test_systemd_analyze_verify_is_clean(tmp_path):
    tool = _systemd_analyze()
    units = _copy_for_verify(tmp_path)
    proc = subprocess.run(
        [tool, "verify", "--man=no", *map(str, units)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "" and proc.stderr.strip() == "", proc.stdout + proc.stderr


def test_verify_catches_a_broken_unit(tmp_path):
    tool = _systemd_analyze()
    bad = tmp_path / "broken.service"
    bad.write_text("[Service]\nExecStart=/nonexistent/entra-auditor schedule\nProtectSystem=bogus\n")
    proc = subprocess.run([tool, "verify", "--man=no", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 or proc.stderr.strip()


@pytest.mark.parametrize("service", SERVICES)
def test_offline_security_exposure_is_low(tmp_path, service):
    tool = _systemd_analyze()
    _copy_for_verify(tmp_path)
    proc = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(tmp_path / service)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    if match is None:
        pytest.skip(f"systemd-analyze security --offline is not supported here: {proc.stderr.strip()[:200]}")
    assert float(match[1]) <= 2.0, proc.stdout[-3000:]


@pytest.mark.parametrize("service", SERVICES)
def test_services_are_hardened_and_take_secrets_from_a_file(service):
    unit = unit_file(UNITS / service)
    get = lambda key: unit_values(unit, "Service", key)  # noqa: E731
    assert get("DynamicUser") == ["yes"]
    assert get("ProtectSystem") == ["strict"]
    assert get("ReadWritePaths") == ["/var/lib/entra-auditor"]
    assert get("StateDirectory") == ["entra-auditor"]
    assert get("NoNewPrivileges") == ["yes"]
    assert get("CapabilityBoundingSet") == [""]
    assert get("UMask") == ["0077"]
    assert get("EnvironmentFile") == ["/etc/entra-auditor/entra-auditor.env"]
    for env in get("Environment"):
        assert not re.search(r"(SECRET|PASSWORD|TOKEN|BROKER_URL)", env), f"secret inline in {service}: {env}"
    args = exec_args(get("ExecStart")[0])
    assert args[0] == INSTALLED
    cli_accepts(args[1:])


def test_timer_starts_the_one_shot_audit():
    timer = unit_file(UNITS / "entra-auditor-audit.timer")
    assert unit_values(timer, "Timer", "Unit") == ["entra-auditor-audit.service"]
    assert unit_values(timer, "Timer", "Persistent") == ["true"]
    assert unit_values(unit_file(UNITS / "entra-auditor-audit.service"), "Service", "Type") == ["oneshot"]
