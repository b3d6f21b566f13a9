"""The workbook opens in a real spreadsheet application (LibreOffice Calc, headless).

The workbook is written by our own streaming writer, so openpyxl reading it back is not proof enough:
here LibreOffice converts every sheet to CSV and the rows, and the neutralised formula, are checked.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from services import unavailable

from auditor.config import AuditorConfig
from auditor.demo import demo_snapshot
from auditor.pipeline import run_audit

ALL_SHEETS_CSV = "csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,false,true,false,false,false,-1"


@pytest.fixture
def soffice() -> str:
    path = shutil.which("soffice") or shutil.which("libreoffice")
    if path is None:
        unavailable("LibreOffice (soffice) is not installed (apt-get install libreoffice-calc-nogui)")
    return path


def test_libreoffice_reads_every_sheet_of_the_demo_workbook(tmp_path: Path, soffice: str) -> None:
    outcome = run_audit(AuditorConfig(), demo=True, out_dir=tmp_path / "out", formats=["xlsx"])
    result = outcome.result
    work = tmp_path / "lo"
    work.mkdir()
    env = {**os.environ, "HOME": str(tmp_path)}  # a private LibreOffice profile
    proc = subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            "--convert-to",
            ALL_SHEETS_CSV,
            "--outdir",
            str(work),
            str(outcome.files["xlsx"]),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr

    def sheet(name: str) -> list[list[str]]:
        with open(work / f"report-{name}.csv", newline="", encoding="utf-8") as fh:
            return list(csv.reader(fh))

    findings = sheet("Findings")
    assert len(findings) == len(result.findings) + 1
    assert {"Owner", "Decision", "Due date", "Notes"} <= set(findings[0])
    users = sheet("Users")
    assert len(users) == len(demo_snapshot().records("users")) + 1
    rules = sheet("Rules")
    assert len(rules) == len(result.rules) + 1
    # A tenant value that looks like a formula stays text: LibreOffice shows it, it does not compute it.
    hostile = [cell for row in users for cell in row if "HYPERLINK" in cell]
    assert hostile and all(cell.startswith("'=") for cell in hostile)
