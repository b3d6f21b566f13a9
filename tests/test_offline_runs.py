"""Offline runs (``--demo``, ``--snapshot``) never touch a configured tenant's history or reports folder,
unless ``--record`` says so; ``--record`` only records a snapshot under its own tenant, in collection order."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from test_cli import cli

from auditor.snapshot import save
from auditor.testing import NOW, TENANT_ID, baseline, snapshot_of


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config" / "auditor.yaml"
    cfg.parent.mkdir()
    cfg.write_text(
        "tenants:\n"
        f"  - {{name: contoso, tenant_id: {TENANT_ID}, client_id: c, client_secret_env: X}}\n"
        "  - {name: fabrikam, tenant_id: 22222222-2222-2222-2222-222222222222, client_id: c, client_secret_env: X}\n"
        f"storage: {{url: 'sqlite:///{tmp_path}/history.db'}}\n"
        f"reports: {{dir: {tmp_path}/reports, formats: [json]}}\n"
    )
    return cfg


def _runs(tmp_path: Path) -> list[tuple[str, str]]:
    db = tmp_path / "history.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [(t, s) for t, s in conn.execute("SELECT tenant, started FROM runs ORDER BY started")]


def test_demo_with_the_default_config_records_nothing_and_writes_no_tenant_folder(tmp_path: Path) -> None:
    _config(tmp_path)  # config/auditor.yaml in the working directory, as in a real installation
    proc = cli("audit", "--demo", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _runs(tmp_path) == []
    assert not (tmp_path / "reports").exists()
    assert list((tmp_path / "offline-reports").glob("contoso/*/findings.json"))


def test_snapshot_without_record_touches_no_history(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    snap = save(snapshot_of(baseline()), tmp_path / "s.json.gz")
    proc = cli("audit", "-c", str(cfg), "--snapshot", str(snap), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _runs(tmp_path) == []
    assert list((tmp_path / "o").glob("contoso/*/findings.json"))


def test_demo_ignores_a_missing_config_named_by_the_environment(tmp_path: Path) -> None:
    env = {"ENTRA_AUDITOR_CONFIG": str(tmp_path / "nowhere" / "auditor.yaml")}
    proc = cli("audit", "--demo", "--format", "json", "--out", str(tmp_path / "o"), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "o").glob("contoso/*/findings.json"))


def test_record_refuses_a_snapshot_of_another_tenant(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    snap = save(snapshot_of(baseline()), tmp_path / "contoso.json.gz")
    proc = cli("audit", "-c", str(cfg), "--snapshot", str(snap), "--tenant", "fabrikam", "--record", cwd=tmp_path)
    assert proc.returncode == 2
    assert "tenant id" in proc.stderr and "fabrikam" in proc.stderr
    assert _runs(tmp_path) == []
    assert not (tmp_path / "reports").exists()


def test_record_stores_the_run_at_collection_time_and_keeps_collection_order(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    newer = snapshot_of(baseline())
    newer.collected_at = NOW
    older = snapshot_of(baseline())
    older.collected_at = NOW - timedelta(days=7)
    new_path, old_path = save(newer, tmp_path / "new.json.gz"), save(older, tmp_path / "old.json.gz")
    proc = cli("audit", "-c", str(cfg), "--snapshot", str(new_path), "--record", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [(tenant, started)] = _runs(tmp_path)
    assert tenant == "contoso" and started.startswith(NOW.strftime("%Y-%m-%d %H:%M:%S"))
    assert list((tmp_path / "reports").glob("contoso/*/findings.json"))
    proc = cli("audit", "-c", str(cfg), "--snapshot", str(old_path), "--record", cwd=tmp_path)
    assert proc.returncode == 2
    assert "older" in proc.stderr
    assert len(_runs(tmp_path)) == 1


def test_record_refuses_the_demo_tenant_when_it_is_not_configured(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    proc = cli("audit", "-c", str(cfg), "--demo", "--record", cwd=tmp_path)
    assert proc.returncode == 2
    assert _runs(tmp_path) == []


def test_a_snapshot_without_sources_is_a_failed_run_even_with_fail_on(tmp_path: Path) -> None:
    empty = snapshot_of({})
    assert empty.sources == {}
    snap = save(empty, tmp_path / "empty.json.gz")
    out = tmp_path / "o"
    proc = cli(
        "audit", "--snapshot", str(snap), "--out", str(out), "--format", "json", "--fail-on", "low", cwd=tmp_path
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "run failed" in proc.stdout


def test_remediate_demo_ignores_a_missing_config_named_by_the_environment(tmp_path: Path) -> None:
    env = {"ENTRA_AUDITOR_CONFIG": str(tmp_path / "nowhere.yaml")}
    proc = cli("remediate", "--demo", "--out", str(tmp_path / "r.ps1"), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r.ps1").exists()
