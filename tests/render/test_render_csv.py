"""findings.csv: one row per finding, formulas neutralised, UTF-8 with BOM; registered as ``--format csv``."""

from __future__ import annotations

import csv
import io
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from render_sample import FORMULA, make_result
from services import unavailable

from auditor.config import AuditorConfig, parse_config
from auditor.findings import Finding
from auditor.pipeline import run_audit
from auditor.render import registry
from auditor.render.context import build_report_context
from auditor.render.csv import COLUMNS, flatten_evidence, render_csv

DDE = "=cmd|' /C calc'!A0"
HOSTILE = [DDE, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


def _result():
    result = make_result()
    for i, value in enumerate(HOSTILE):
        result.findings.append(
            Finding(
                rule_id="stale-admin",
                severity="medium",
                entity_type="user",
                entity_id=f"id-{i}",
                entity_name=value,
                evidence={"job": value, "roles": ["Global Administrator", value], "nested": {"k": "v"}, "flag": True},
                title="Stale admin",
                remediation="Remove the role.",
            )
        )
    result.findings.append(
        Finding(
            rule_id="stale-admin",
            severity="low",
            entity_type="user",
            entity_id="id-u",
            entity_name="Zoë Ångström 山田",
            evidence={},
            title="Stale admin",
            remediation="",
        )
    )
    return result


def _rows(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read UTF-8
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def test_csv_round_trips_and_neutralises_formulas(tmp_path: Path) -> None:
    result = _result()
    path = render_csv(build_report_context(result), tmp_path / "findings.csv")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"\r\n" in path.read_bytes()
    rows = _rows(path)
    assert len(rows) == len(result.findings)
    assert tuple(rows[0]) == COLUMNS
    by_id = {r["entity_id"]: r for r in rows}
    for i, value in enumerate(HOSTILE):
        row = by_id[f"id-{i}"]
        assert row["entity"] == "'" + value  # shown as the literal text, never evaluated
        assert not row["evidence"].startswith(("=", "+", "-", "@"))
        assert f"job={value}" in row["evidence"] and "flag=yes" in row["evidence"]
        assert 'nested={"k": "v"}' in row["evidence"]
    assert by_id["id-u"]["entity"] == "Zoë Ångström 山田"
    formula_rows = [r for r in rows if FORMULA in r["entity"]]
    assert formula_rows and all(r["entity"].startswith("'=") for r in formula_rows)
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    waived = [r for r in rows if r["status"] == "waived"]
    assert waived and all(r["waiver_reason"] for r in waived)


def test_flatten_evidence_keeps_key_order() -> None:
    assert flatten_evidence({"b": [1, 2], "a": None, "c": False}) == "b=1, 2; a=; c=no"


def test_csv_is_a_format_of_the_pipeline_and_the_config(tmp_path: Path) -> None:
    assert "csv" in registry.formats()
    assert "csv" not in [r.format for r in registry.selected(None)]  # only when asked for
    outcome = run_audit(AuditorConfig(), demo=True, out_dir=tmp_path, formats=["csv"])
    assert outcome.files["csv"].name == "findings.csv"
    assert len(_rows(outcome.files["csv"])) == len(outcome.result.findings)
    assert parse_config({"reports": {"formats": ["csv", "json"]}}).reports.formats == ["csv", "json"]


def test_libreoffice_opens_the_csv_as_text_not_formulas(tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        unavailable("LibreOffice (soffice) is not installed (apt-get install libreoffice-calc-nogui)")
    openpyxl = pytest.importorskip("openpyxl")
    path = render_csv(build_report_context(_result()), tmp_path / "findings.csv")
    env = {**os.environ, "HOME": str(tmp_path)}  # a private LibreOffice profile
    # Opened as a user would pick it in the import dialog: comma, double quote, UTF-8 (76), from line 1.
    proc = subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            "--infilter=CSV:44,34,76,1",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    sheet = openpyxl.load_workbook(tmp_path / "findings.xlsx").active
    header = [c.value for c in sheet[1]]
    assert header == list(COLUMNS)  # the BOM did not end up in the first header cell
    entity = header.index("entity") + 1
    cells = [sheet.cell(row=r, column=entity) for r in range(2, sheet.max_row + 1)]
    assert all(c.data_type != "f" for c in cells)
    values = [c.value for c in cells]
    assert any(v and DDE in str(v) for v in values)
    assert "Zoë Ångström 山田" in values
