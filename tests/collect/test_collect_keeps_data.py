"""Collected data is never lost: an unwritable reports folder or ``--out`` path is found before collecting;
a failure after collection keeps the snapshot and says where; a run's folder appears only when complete."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from simkit import SECRET_ENV, sim_config

from auditor import pipeline
from auditor.config import AuditorConfig
from auditor.errors import AuditorError
from auditor.pipeline import run_audit
from auditor.render import registry
from auditor.rundir import UnwritableError
from auditor.snapshot import load
from auditor.testing import baseline, snapshot_of

UNREACHABLE = {
    "name": "contoso",
    "tenant_id": "7e1c0000-0000-4000-8000-000000000001",
    "client_id": "c",
    "client_secret_env": SECRET_ENV,
    "cloud": "custom",
    "authority_host": "https://127.0.0.1:9",
    "graph_endpoint": "https://127.0.0.1:9",
    "exchange_endpoint": "https://127.0.0.1:9",
}


def _kept_path(message: str) -> Path:
    match = re.search(r"kept at (\S+\.json\.gz)", message)
    assert match, message
    return Path(match.group(1))


def test_unwritable_reports_folder_fails_before_collecting(tmp_path: Path, sim_secret: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = AuditorConfig.model_validate({"tenants": [UNREACHABLE], "reports": {"dir": str(blocker / "reports")}})
    calls: list[Any] = []
    with pytest.raises(UnwritableError, match=f"Cannot write to {blocker / 'reports'}.*nothing was collected"):
        run_audit(config, "contoso", progress=lambda *a: calls.append(a))
    assert calls == []  # collection never started


def test_evaluation_crash_keeps_the_collected_snapshot(running_sim, sim_secret, tmp_path, monkeypatch) -> None:
    served = snapshot_of(baseline())

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("evaluation bug")

    monkeypatch.setattr(pipeline, "evaluate", crash)
    with running_sim(served) as sim:
        config = sim_config(sim, served)
        with pytest.raises(AuditorError) as err:
            run_audit(config, "contoso", out_dir=tmp_path / "reports", formats=["json"])
    assert "evaluation bug" in str(err.value)
    kept = load(_kept_path(str(err.value)))
    assert {u["id"] for u in kept.records("users")} == {u["id"] for u in served.records("users")}
    assert not list((tmp_path / "reports").glob("*/.*.partial"))  # no half-written run folder stays


def test_reports_folder_lost_during_collection_keeps_the_snapshot(running_sim, sim_secret, tmp_path) -> None:
    served = snapshot_of(baseline())
    base = tmp_path / "reports"

    def sabotage(*args: Any) -> None:  # the reports volume goes away while collecting
        if base.is_dir():
            shutil.rmtree(base)
            base.write_text("now a file")

    with running_sim(served) as sim:
        config = sim_config(sim, served)
        with pytest.raises(AuditorError) as err:
            run_audit(config, "contoso", out_dir=base, formats=["json"], progress=sabotage)
    assert str(base) in str(err.value)
    kept = load(_kept_path(str(err.value)))
    assert kept.collected("users")
    assert _kept_path(str(err.value)).stat().st_mode & 0o777 == 0o600


def test_collect_out_unwritable_fails_before_collecting(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "tenants:\n  - {name: contoso, tenant_id: t, client_id: c, client_secret_env: X, cloud: custom, "
        "authority_host: 'https://127.0.0.1:9', graph_endpoint: 'https://127.0.0.1:9', "
        "exchange_endpoint: 'https://127.0.0.1:9'}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "collect", "-c", str(cfg), "--out", str(blocker / "s.json.gz")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "X": "secret"},
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"Cannot write to {blocker}" in proc.stderr and "Traceback" not in proc.stderr


def test_run_folder_is_partial_until_complete(tmp_path: Path) -> None:
    seen: list[Path] = []

    def spy(ctx: Any, path: Path) -> Path:
        seen.append(path.parent)
        path.write_text("x")
        return path

    def broken(ctx: Any, path: Path) -> Path:
        raise RuntimeError("renderer bug")

    registry.renderer("spy", filename="spy.txt", order=98)(spy)
    registry.renderer("broken", filename="broken.txt", order=99)(broken)
    try:
        outcome = run_audit(AuditorConfig(), demo=True, out_dir=tmp_path, formats=["spy", "json"])
        assert seen[0].name.endswith(".partial") and seen[0].name.startswith(".")
        assert outcome.report_dir is not None and not outcome.report_dir.name.endswith(".partial")
        assert outcome.files["json"].parent == outcome.report_dir and outcome.files["json"].exists()
        assert not seen[0].exists()
        with pytest.raises(RuntimeError, match="renderer bug"):
            run_audit(AuditorConfig(), demo=True, out_dir=tmp_path / "b", formats=["json", "broken"])
        assert [p.name for p in (tmp_path / "b" / "contoso").iterdir()] == []  # nothing that looks like a report
    finally:
        registry.unregister("spy")
        registry.unregister("broken")
