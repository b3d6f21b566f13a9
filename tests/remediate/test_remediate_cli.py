"""``entra-auditor remediate``, run as a user would (a real subprocess): every input source, the file it
writes (0600, UTF-8 with BOM, atomic) and its errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from auditor.config import parse_config
from auditor.demo import demo_snapshot
from auditor.history import HistoryStore
from auditor.pipeline import run_audit
from auditor.snapshot import save

BOM = b"\xef\xbb\xbf"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "auditor.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _script(path: Path) -> str:
    data = path.read_bytes()
    assert data.startswith(BOM)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return data[len(BOM) :].decode("utf-8")


def test_demo_writes_a_reviewable_script_in_the_working_directory(tmp_path: Path) -> None:
    proc = cli("remediate", "--format", "powershell", "--demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    script = _script(tmp_path / "remediate-contoso.ps1")
    assert "Set-TransportConfig -SmtpClientAuthenticationDisabled $true" in script
    assert "remediate-contoso.ps1" in proc.stdout and "not run" in proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["remediate-contoso.ps1"]  # no temp file left behind


def test_rule_selection_and_a_past_runs_findings_json(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("audit", "--demo", "--out", str(out), "--format", "json", cwd=tmp_path).returncode == 0
    [findings] = list(out.glob("contoso/*/findings.json"))
    target = tmp_path / "fix" / "imap.ps1"
    proc = cli(
        "remediate", "--findings", str(findings), "--rule", "imap-pop-enabled", "--out", str(target), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    script = _script(target)
    doc = json.loads(findings.read_text())
    imap = [f for f in doc["findings"] if f["rule_id"] == "imap-pop-enabled" and f["status"] == "open"]
    assert f"({len(imap)} open findings)" in script
    assert all(f"'{f['entity_id']}'" in script for f in imap if f["entity_type"] == "mailbox")
    assert "Set-TransportConfig" not in script and "Invoke-MgGraphRequest" not in script


def test_snapshot_source(tmp_path: Path) -> None:
    snap = save(demo_snapshot(), tmp_path / "contoso.json.gz")
    proc = cli("remediate", "--snapshot", str(snap), "--rule", "smtp-auth-org-enabled", "--out", "s.ps1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    script = _script(tmp_path / "s.ps1")
    assert "    Set-TransportConfig -SmtpClientAuthenticationDisabled $true -Confirm:$false" in script


def test_latest_recorded_run_of_a_configured_tenant(tmp_path: Path) -> None:
    config = {
        "tenants": [
            {
                "name": "contoso",
                "tenant_id": "92fa6fae-1d6c-477b-a4ba-2666c0213e0f",
                "client_id": "11111111-1111-1111-1111-111111111111",
                "client_secret_env": "NOT_USED",
            }
        ],
        "storage": {"url": f"sqlite:///{tmp_path}/h.db"},
        "reports": {"dir": str(tmp_path / "reports")},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    missing = cli("remediate", "-c", "c.yaml", "--tenant", "contoso", cwd=tmp_path)
    assert missing.returncode == 2 and "has no run of tenant 'contoso'" in missing.stderr

    store = HistoryStore(config["storage"]["url"])
    store.migrate()
    outcome = run_audit(parse_config(config), "contoso", snapshot=demo_snapshot(), history=store, formats=["json"])
    store.close()
    proc = cli("remediate", "-c", "c.yaml", "--out", "latest.ps1", cwd=tmp_path)  # the only tenant
    assert proc.returncode == 0, proc.stderr
    assert f"# Run: {outcome.result.run.id} " in _script(tmp_path / "latest.ps1")


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    for args, message in [
        (["--demo", "--rule", "no-such-rule"], "Unknown --rule no-such-rule"),
        (["--findings", str(tmp_path / "none.json")], "Cannot read"),
        (["--format", "bash", "--demo"], "invalid choice: 'bash'"),
    ]:
        proc = cli("remediate", *args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "other.json").write_text('{"schema": "something-else"}')
    proc = cli("remediate", "--findings", "other.json", cwd=tmp_path)
    assert proc.returncode == 2 and "is not an entra-auditor findings.json document" in proc.stderr
