"""A workbook saved by a real spreadsheet application (LibreOffice Calc, headless) carries its decisions
forward: the reviewer columns and the drop-down survive a save there, and the reader understands
LibreOffice's own encoding (shared strings, its date styles). (A headless conversion drops every sheet's
view, frozen panes included, even of an openpyxl-written file: the pane is checked with openpyxl.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import openpyxl

from auditor.config import AuditorConfig
from auditor.findings import Review
from auditor.pipeline import run_audit
from auditor.review import read_reviews
from auditor.review.store import carry_forward


def test_a_workbook_saved_by_libreoffice_carries_its_decisions(tmp_path: Path, soffice: str) -> None:
    out = tmp_path / "out"
    one = run_audit(AuditorConfig(), demo=True, out_dir=out, formats=["xlsx"])
    key = next((f.rule_id, f.entity_id) for f in one.result.findings if f.rule_id == "admin-app-passwords")
    wb = openpyxl.load_workbook(one.files["xlsx"])
    ws = wb["Findings"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if (row[0].value, row[header.index("Entity ID")].value) == key:
            row[3].value, row[4].value, row[5].value, row[6].value = "eve", "Remediate", datetime(2027, 2, 1), "n"
    wb.save(one.files["xlsx"])
    two = run_audit(AuditorConfig(), demo=True, out_dir=out, formats=["xlsx"])  # pre-filled by our writer

    work = tmp_path / "lo"
    work.mkdir()
    env = {**os.environ, "HOME": str(tmp_path)}  # a private LibreOffice profile
    proc = subprocess.run(
        [soffice, "--headless", "--norestore", "--convert-to", "xlsx", "--outdir", str(work), str(two.files["xlsx"])],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    saved = work / "report.xlsx"
    lo = openpyxl.load_workbook(saved)
    for name in ("Findings", "Admin app passwords"):
        assert [c.value for c in lo[name][1]][:7] == [
            "Rule",
            "Entity",
            "Severity",
            "Owner",
            "Decision",
            "Due date",
            "Notes",
        ]
        assert any(dv.type == "list" for dv in lo[name].data_validations.dataValidation), name
    read = read_reviews(saved)
    got = {r.fingerprint: r.review for r in read.rows if r.fingerprint == f"{key[0]}|{key[1]}"}
    assert set(got.values()) == {Review("eve", "Remediate", datetime(2027, 2, 1).date(), "n")}
    assert read.warnings == []

    # Saved in LibreOffice as next week's input: nothing is lost or changed by the round trip.
    tenant_dir = two.report_dir.parent
    shutil.copyfile(saved, two.files["xlsx"])
    os.utime(two.files["xlsx"])
    reviews = carry_forward(tenant_dir)
    assert reviews == {f"{key[0]}|{key[1]}": Review("eve", "Remediate", datetime(2027, 2, 1).date(), "n")}
