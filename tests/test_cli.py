"""The command line, run as a user would: a real subprocess of the installed console script."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from auditor.rules import REGISTRY
from auditor.rules.registry import silent_on_one_tenant
from auditor.snapshot import save
from auditor.testing import baseline, snapshot_of

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "auditor/render/findings.schema.json").read_text())


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_CONFIG"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "auditor.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def _findings(out: Path) -> dict:
    [path] = list(out.glob("*/*/findings.json"))
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo")
    proc = cli("audit", "--demo", "--out", str(out), cwd=out)
    return proc, out


def test_demo_audit_writes_every_output_and_fires_every_rule(demo_run) -> None:
    proc, out = demo_run
    assert proc.returncode == 0, proc.stderr
    [folder] = [p for p in out.glob("contoso/*") if p.is_dir()]  # next to it: decisions.json (auditor.review)
    assert stat.S_IMODE((out / "contoso" / "decisions.json").stat().st_mode) == 0o600
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["findings.json", "report.html", "report.xlsx", "snapshot.json.gz"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    doc = _findings(out)
    jsonschema.validate(doc, SCHEMA)
    assert not silent_on_one_tenant({f["rule_id"] for f in doc["findings"]})
    assert all(r["status"] == "assessed" for r in doc["rules"])
    assert "open findings" in proc.stdout


def test_fail_on_sets_exit_code(tmp_path: Path) -> None:
    assert (
        cli(
            "audit", "--demo", "--out", str(tmp_path), "--format", "json", "--fail-on", "critical", cwd=tmp_path
        ).returncode
        == 1
    )
    clean = save(snapshot_of(baseline()), tmp_path / "clean.json.gz")
    proc = cli(
        "audit",
        "--snapshot",
        str(clean),
        "--out",
        str(tmp_path / "o"),
        "--format",
        "json",
        "--fail-on",
        "low",
        "--no-history",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr


def test_partial_snapshot_exits_3_and_names_not_assessed(tmp_path: Path) -> None:
    snap = save(
        snapshot_of(baseline(), failed={"cas_mailboxes": "403 Exchange.ManageAsApp missing"}), tmp_path / "p.json.gz"
    )
    proc = cli(
        "audit", "--snapshot", str(snap), "--out", str(tmp_path / "o"), "--format", "json", "--no-history", cwd=tmp_path
    )
    assert proc.returncode == 3
    assert "not assessed: imap-pop-enabled" in proc.stdout
    doc = _findings(tmp_path / "o")
    jsonschema.validate(doc, SCHEMA)
    assert doc["run"]["status"] == "partial"
    status = {r["id"]: r for r in doc["rules"]}
    assert status["imap-pop-enabled"]["status"] == "not_assessed"
    assert "Exchange.ManageAsApp" in status["imap-pop-enabled"]["reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "--demo", "--format", "pdf"], "Unknown --format pdf; available formats: html, xlsx, json, csv."),
        (["audit"], "No configuration"),
        (["audit", "--snapshot", "/nonexistent.json.gz"], "does not exist"),
        (["audit", "-c", "/nonexistent.yaml"], "Configuration file /nonexistent.yaml does not exist."),
    ],
)
def test_usage_errors_are_one_sentence_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_config_key_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("reports:\n  dirr: x\n")
    proc = cli("audit", "--demo", "-c", str(cfg), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{cfg}: unknown key 'reports.dirr'." in proc.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = cli("audit", "--snapshot", "/nonexistent.json.gz", "--debug", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_rules_lists_the_catalog(tmp_path: Path) -> None:
    proc = cli("rules", cwd=tmp_path)
    assert proc.returncode == 0
    for rule_id in REGISTRY:
        assert rule_id in proc.stdout
