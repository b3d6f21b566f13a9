"""The migration plan in every output of a run: findings.json (schema), report.xlsx (read back with openpyxl and
opened by LibreOffice), report.html, and ``entra-auditor plan`` as a subprocess."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import Any

import jsonschema
import openpyxl
import pytest
import yaml
from plan_tenants import FORMULA_NAME, all_safe, none_safe
from services import unavailable

from auditor.config import AuditorConfig
from auditor.pipeline import RunOutcome, run_audit
from auditor.sim import SimTenant, Simulator
from auditor.snapshot import save
from auditor.testing import snapshot_of

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "auditor/render/findings.schema.json").read_text())
ALL_SHEETS_CSV = "csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,false,true,false,false,false,-1"
REVIEWER = ("Owner", "Target date", "Status")


def _run(records: dict[str, Any], out: Path, formats: list[str]) -> RunOutcome:
    return run_audit(AuditorConfig(), snapshot=snapshot_of(records), out_dir=out, formats=formats)


@pytest.fixture(scope="module")
def none_safe_run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    return _run(none_safe(), tmp_path_factory.mktemp("plan"), ["json", "xlsx", "html"])


def test_run_audit_carries_the_plan(none_safe_run: RunOutcome) -> None:
    assert none_safe_run.result is not None
    plan = none_safe_run.result.migration_plan
    assert [u.upn for u in plan.users] == ["dave@contoso.com", "alice@contoso.com", "bob@contoso.com"]


def test_findings_json_has_a_valid_migration_plan_section(none_safe_run: RunOutcome) -> None:
    doc = json.loads(none_safe_run.files["json"].read_text())
    jsonschema.validate(doc, SCHEMA)
    section = doc["migration_plan"]
    assert section["status"] == "assessed" and section["total"] == 3
    assert [(w["wave"], w["count"]) for w in section["waves"]] == [(0, 1), (1, 0), (2, 1), (3, 1)]
    bob = next(u for u in section["users"] if u["upn"] == "bob@contoso.com")
    assert bob["legacy_protocols"] == {"Authenticated SMTP": 1, "IMAP4": 2}
    assert bob["next_action"] == bob["steps"][0]["action"] and bob["steps"][0]["step"] == "legacy_app"
    # the schema checks the section: an impossible wave is rejected
    broken = copy.deepcopy(doc)
    broken["migration_plan"]["users"][0]["wave"] = 7
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_all_safe_tenant_in_findings_json(tmp_path: Path) -> None:
    outcome = _run(all_safe(), tmp_path, ["json"])
    doc = json.loads(outcome.files["json"].read_text())
    jsonschema.validate(doc, SCHEMA)
    assert [(w["wave"], w["count"]) for w in doc["migration_plan"]["waves"]] == [(0, 0), (1, 3), (2, 0), (3, 0)]


def test_migration_plan_sheet_read_back(none_safe_run: RunOutcome) -> None:
    wb = openpyxl.load_workbook(none_safe_run.files["xlsx"])
    assert wb.sheetnames.index("Migration plan") == wb.sheetnames.index("Named locations & trusted IPs") + 1
    ws = wb["Migration plan"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    assert header[-3:] == REVIEWER
    records = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert [(r["Wave"], r["UPN"]) for r in records] == [
        (0, "dave@contoso.com"),
        (2, "alice@contoso.com"),
        (3, "bob@contoso.com"),
    ]
    dave = records[0]
    assert dave["Then wave"] == 1 and dave["Covered today"] == "No" and dave["Phone only"] == "Yes"
    assert "excluded from 'MFA for everyone'" in dave["Why not covered"]
    assert dave["Display name"] == FORMULA_NAME  # text, never a formula: quote-prefix style
    assert ws.cell(2, header.index("Display name") + 1).quotePrefix
    assert all(r[h] is None for r in records for h in REVIEWER)
    assert records[2]["Legacy protocols"] == "Authenticated SMTP: 1, IMAP4: 2"
    assert not [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
    lists = [v for v in ws.data_validations.dataValidation if v.type == "list"]
    status = ws.cell(row=1, column=header.index("Status") + 1).column_letter
    assert lists and str(lists[0].sqref) == f"{status}2:{status}4" and "Not started" in lists[0].formula1


def test_html_section_counts_per_wave(none_safe_run: RunOutcome) -> None:
    html = none_safe_run.files["html"].read_text()
    assert '<section id="migration-plan">' in html
    assert '<tr id="wave-0"><td>0 — Cover by Conditional Access first</td><td><b>1</b></td>' in html
    assert '<tr id="wave-1"><td>1 — Nothing to break</td><td><b>0</b></td>' in html
    assert '<tr id="wave-3"><td>3 — Legacy sign-ins</td><td><b>1</b></td><td>0</td><td>1</td>' in html
    assert "Authenticated SMTP: 1, IMAP4: 2" in html
    assert "excluded from &#39;MFA for everyone&#39;" in html or escape("excluded from 'MFA for everyone'") in html


def test_libreoffice_opens_the_migration_plan_sheet(none_safe_run: RunOutcome, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        unavailable("LibreOffice (soffice) is not installed (apt-get install libreoffice-calc-nogui)")
    work = tmp_path / "lo"
    work.mkdir()
    env = {**os.environ, "HOME": str(tmp_path)}  # a private LibreOffice profile
    xlsx = none_safe_run.files["xlsx"]
    proc = subprocess.run(
        [soffice, "--headless", "--norestore", "--convert-to", ALL_SHEETS_CSV, "--outdir", str(work), str(xlsx)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    with open(work / "report-Migration plan.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 4 and tuple(rows[0][-3:]) == REVIEWER
    assert [r[3] for r in rows[1:]] == ["dave@contoso.com", "alice@contoso.com", "bob@contoso.com"]
    # the tenant's formula-looking display name is shown as text, not computed
    hostile = [cell for row in rows for cell in row if "HYPERLINK" in cell]
    assert hostile == [FORMULA_NAME]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "auditor.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_plan_command_prints_the_waves_of_a_snapshot(tmp_path: Path) -> None:
    records = none_safe()
    evil = "\x1b[2J\x1b[31mmallory@contoso.com"
    records["users"].append({**records["users"][1], "id": "u-mallory", "userPrincipalName": evil})
    records["per_user_mfa"].append({"id": "u-mallory", "userPrincipalName": evil, "perUserMfaState": "enforced"})
    path = save(snapshot_of(records), tmp_path / "snap.json.gz")
    proc = _cli("plan", "--snapshot", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Wave 0 - Cover by Conditional Access first: 1 user(s)" in out
    assert "Wave 1 - Nothing to break: 1 user(s)" in out  # mallory: covered, no role, no legacy sign-in
    assert "Wave 2 - Admins: 1 user(s), 1 admin(s)" in out
    assert "Wave 3 - Legacy sign-ins: 1 user(s), 0 admin(s), 1 with legacy sign-ins" in out
    assert "Authenticated SMTP x1, IMAP4 x2" in out
    assert out.index("dave@contoso.com") < out.index("alice@contoso.com") < out.index("bob@contoso.com")
    assert "\x1b" not in out and "?[2J?[31mmallory@contoso.com" in out
    assert not list(tmp_path.glob("reports*")), "plan writes no report"


def test_plan_command_demo_and_usage(tmp_path: Path) -> None:
    proc = _cli("plan", "--demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "contoso: per-user MFA -> Conditional Access migration plan" in proc.stdout
    assert "Wave 3 - Legacy sign-ins:" in proc.stdout
    proc = _cli("plan", cwd=tmp_path)  # no configuration, no --demo / --snapshot
    assert proc.returncode == 2 and "No configuration" in proc.stderr


def test_plan_command_collects_a_configured_tenant_like_audit(tmp_path: Path) -> None:
    """``plan -c CONFIG --tenant NAME`` collects from the (simulated) tenant over HTTPS and prints the same waves
    as ``plan --snapshot`` of what the simulator served."""
    secret = "plan-live-secret"  # the simulator's throwaway credential
    served = snapshot_of(none_safe())
    offline = _cli("plan", "--snapshot", str(save(served, tmp_path / "served.json.gz")), cwd=tmp_path)
    assert offline.returncode == 0, offline.stderr
    with Simulator(
        tenants=[SimTenant(served, client_id="11111111-1111-1111-1111-111111111111", client_secret=secret)]
    ) as sim:
        tenant = sim.tenant_config(secret_env="PLAN_SIM_SECRET") | {"name": "contoso"}
        config = {"tenants": [tenant], "reports": {"dir": str(tmp_path / "reports")}}
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
        live = subprocess.run(
            [sys.executable, "-m", "auditor.cli", "plan", "-c", "c.yaml", "--tenant", "contoso"],
            cwd=tmp_path,
            env={**env, "PLAN_SIM_SECRET": secret},
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert live.returncode == 0, live.stderr
    assert "Wave 3 - Legacy sign-ins: 1 user(s), 0 admin(s), 1 with legacy sign-ins" in live.stdout
    assert live.stdout == offline.stdout
    assert not (tmp_path / "reports").exists(), "plan writes no report"
