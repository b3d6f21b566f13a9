"""Reviewer decisions carry forward: what an admin types into last week's report.xlsx reappears on the
same findings (Rule + Entity ID) in next week's, through ``<reports>/<tenant>/decisions.json``."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from auditor.cli import main
from auditor.config import AuditorConfig
from auditor.findings import Review
from auditor.pipeline import run_audit
from auditor.render.evidence import evidence_label
from auditor.review import SIDECAR, ReviewError, read_reviews
from auditor.review.store import apply_rows, carry_forward, load_entries
from auditor.review.workbook import ReviewRow

LEAD = ["Rule", "Entity", "Severity", "Owner", "Decision", "Due date", "Notes"]


def _audit(out: Path):
    return run_audit(AuditorConfig(), demo=True, out_dir=out, formats=["xlsx"])


def _rows(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _edit(path: Path, sheet: str, edits: dict[tuple[str, str], dict[str, object]]) -> None:
    """Edit reviewer cells of ``path`` as a person would in Excel: load, type, save (mtime moves on)."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    header = [c.value for c in ws[1]]
    rule, entity_id = header.index("Rule"), header.index("Entity ID")
    done = set()
    for row in ws.iter_rows(min_row=2):
        key = (row[rule].value, row[entity_id].value)
        for name, value in edits.get(key, {}).items():
            row[header.index(name)].value = value
            done.add(key)
    assert done == set(edits), "every edited finding is in the sheet"
    time.sleep(0.01)
    wb.save(path)
    later = time.time() + 1
    os.utime(path, (later, later))


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return out, _audit(out)


def test_reviewer_columns_lead_every_findings_sheet_with_frozen_pane_and_validation(first) -> None:
    _, outcome = first
    wb = openpyxl.load_workbook(outcome.files["xlsx"])
    result = outcome.result
    sheets = ["Findings", "Admin app passwords", "SMTP AUTH mailboxes", "Trusted IPs vs locations"]
    for name in sheets:
        ws = wb[name]
        header = [c.value for c in ws[1]]
        assert header[:7] == LEAD, name
        assert ws.freeze_panes == "H2", name  # header row and Rule … Notes stay in view
        decision = ws.cell(1, 5).column_letter
        lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
        dates = [dv for dv in ws.data_validations.dataValidation if dv.type == "date"]
        if ws.max_row > 1:
            assert len(lists) == 1 and f"{decision}2:{decision}{ws.max_row}" in str(lists[0].sqref), name
            assert len(dates) == 1 and "F2" in str(dates[0].sqref), name
    # Every evidence key of the rule is a column of its own; no catch-all column.
    ws = wb["Findings"]
    header = [c.value for c in ws[1]]
    assert "Other evidence" not in header
    keys = {evidence_label(k) for f in result.findings for k in f.evidence}
    assert len(keys) > 24  # more than the old cap: the ones past it used to fall into "Other evidence"
    assert keys <= set(header)
    admin = [c.value for c in wb["Admin app passwords"][1]]
    rule_keys = {evidence_label(k) for f in result.findings if f.rule_id == "admin-app-passwords" for k in f.evidence}
    assert set(admin[12:-3]) == rule_keys  # a rule's sheet: exactly the keys that rule uses


def test_decisions_typed_into_last_weeks_workbook_reappear_next_week(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    one = _audit(out)
    findings = {(f.rule_id, f.entity_id): f for f in one.result.findings}
    app = next(k for k in findings if k[0] == "admin-app-passwords")
    smtp = next(k for k in findings if k[0] == "smtp-auth-mailbox-enabled")
    other = next(k for k in findings if k[0] not in {app[0], smtp[0]})
    due = datetime(2027, 3, 31)
    _edit(
        one.files["xlsx"],
        "Findings",
        {
            app: {"Owner": "alice@contoso.com", "Decision": "Remediate", "Due date": due, "Notes": "ticket 42"},
            other: {"Decision": "False positive", "Notes": "+1 from the CISO, see @sec"},
        },
    )
    # An edit on a per-rule sheet counts as well.
    _edit(one.files["xlsx"], "SMTP AUTH mailboxes", {smtp: {"Owner": "bob", "Decision": "accept RISK"}})

    two = _audit(out)
    assert two.report_dir != one.report_dir
    sidecar = two.report_dir.parent / SIDECAR
    assert sidecar.stat().st_mode & 0o777 == 0o600
    wb = openpyxl.load_workbook(two.files["xlsx"])
    rows = {(r["Rule"], r["Entity ID"]): r for r in _rows(wb["Findings"])}
    assert rows[app]["Owner"] == "alice@contoso.com" and rows[app]["Decision"] == "Remediate"
    assert rows[app]["Due date"] == due and rows[app]["Notes"] == "ticket 42"
    assert wb["Findings"].cell(2 + list(rows).index(app), 6).is_date
    assert rows[smtp]["Owner"] == "bob" and rows[smtp]["Decision"] == "Accept risk"
    # Typed text that looks like a formula comes back as text, never as a formula.
    assert rows[other]["Notes"] == "+1 from the CISO, see @sec" and rows[other]["Decision"] == "False positive"
    notes = wb["Findings"].cell(2 + list(rows).index(other), 7)
    assert notes.data_type == "s" and notes.quotePrefix
    entry = load_entries(sidecar)[f"{other[0]}|{other[1]}"]
    assert entry.review.notes == "+1 from the CISO, see @sec"  # stored as typed; neutralised when written
    per_rule = {(r["Rule"], r["Entity ID"]): r for r in _rows(wb["Admin app passwords"])}
    assert per_rule[app]["Owner"] == "alice@contoso.com"
    untouched = [k for k in rows if k not in {app, smtp, other}]
    assert all(rows[k]["Decision"] is None for k in untouched)

    # Week three: nobody touched week two's workbook; the decisions are still there, one is cleared.
    _edit(two.files["xlsx"], "Findings", {other: {"Decision": None, "Notes": None}})
    three = _audit(out)
    rows = {(r["Rule"], r["Entity ID"]): r for r in _rows(openpyxl.load_workbook(three.files["xlsx"])["Findings"])}
    assert rows[app]["Decision"] == "Remediate" and rows[smtp]["Decision"] == "Accept risk"
    assert rows[app]["Owner"] == "alice@contoso.com"
    assert rows[other]["Decision"] is None and rows[other]["Notes"] is None
    stored = json.loads(sidecar.read_text())
    assert stored["schema"] == "entra-auditor/decisions/v1"
    assert {(d["rule"], d["entity_id"]) for d in stored["decisions"]} == {app, smtp}


def test_bad_cells_are_named_and_ignored_not_cleared(tmp_path: Path, caplog) -> None:
    out = tmp_path / "reports"
    one = _audit(out)
    key = next((f.rule_id, f.entity_id) for f in one.result.findings)
    _edit(one.files["xlsx"], "Findings", {key: {"Owner": "carol", "Decision": "Remediate"}})
    two = _audit(out)
    # Week two: a formula in Owner, a made-up decision, a due date that is no date.
    _edit(two.files["xlsx"], "Findings", {key: {"Owner": "=1+1", "Decision": "Maybe", "Due date": "soon"}})
    with caplog.at_level("WARNING", logger="auditor.review"):
        reviews = carry_forward(two.report_dir.parent)
    text = caplog.text
    assert "'Findings'!D2 holds a formula" in text
    assert "'Findings'!E2: Decision 'Maybe' is not one of" in text
    assert "'Findings'!F2: Due date 'soon' is not a date" in text
    assert reviews[f"{key[0]}|{key[1]}"] == Review(owner="carol", decision="Remediate")


def test_an_older_workbook_never_undoes_a_newer_decision() -> None:
    def row(decision: str | None) -> ReviewRow:
        return ReviewRow("r", "e1", "E", "user", Review(decision=decision), "'Findings'!row 2")

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    entries: dict = {}
    assert apply_rows(entries, [row("Remediate")], when=t0, source="a") == 1
    assert apply_rows(entries, [row("False positive")], when=t0 + timedelta(days=7), source="b") == 1
    assert entries["r|e1"].review.decision == "False positive"
    assert apply_rows(entries, [row("Remediate")], when=t0 + timedelta(days=3), source="a") == 0  # older copy
    assert entries["r|e1"].review.decision == "False positive"
    assert apply_rows(entries, [row(None)], when=t0 + timedelta(days=8), source="c") == 1  # emptied: gone
    assert entries == {}


def test_decisions_import_brings_in_an_emailed_copy(tmp_path: Path, capsys) -> None:
    out = tmp_path / "reports"
    one = _audit(out)
    copy = tmp_path / "Downloads" / "report.xlsx"
    copy.parent.mkdir()
    copy.write_bytes(one.files["xlsx"].read_bytes())
    key = next((f.rule_id, f.entity_id) for f in one.result.findings if f.rule_id == "imap-pop-enabled")
    _edit(copy, "Findings", {key: {"Owner": "dora", "Decision": "Remediate", "Due date": datetime(2027, 1, 15)}})
    assert main(["decisions", "import", str(copy), "--out", str(out)]) == 0  # tenant from the Summary sheet
    assert "1 decision(s) taken" in capsys.readouterr().out
    entries = load_entries(one.report_dir.parent / SIDECAR)
    assert entries[f"{key[0]}|{key[1]}"].review == Review("dora", "Remediate", date(2027, 1, 15))
    two = _audit(out)  # the untouched workbook in the reports folder does not undo the import
    rows = {(r["Rule"], r["Entity ID"]): r for r in _rows(openpyxl.load_workbook(two.files["xlsx"])["Findings"])}
    assert rows[key]["Owner"] == "dora" and rows[key]["Decision"] == "Remediate"
    assert main(["decisions", "import", str(copy), "--out", str(out), "--tenant", "fabrikam"]) == 2
    assert "is a report of tenant 'contoso', not 'fabrikam'" in capsys.readouterr().err
    (out / "contoso").rename(out / "moved")
    assert main(["decisions", "import", str(copy), "--out", str(out)]) == 2
    assert "No reports of tenant 'contoso'" in capsys.readouterr().err


def test_an_untrusted_workbook_fails_in_one_sentence_naming_it(tmp_path: Path, monkeypatch, capsys) -> None:
    junk = tmp_path / "report.xlsx"
    junk.write_bytes(b"PK not really a zip")
    with pytest.raises(ReviewError, match=r"not an \.xlsx workbook"):
        read_reviews(junk)
    other = tmp_path / "other.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Name", "Value"])
    wb.save(other)
    with pytest.raises(ReviewError, match="no sheet with the columns Rule, Entity ID"):
        read_reviews(other)
    assert main(["waivers", "import", str(other), "-o", str(tmp_path / "w.yaml")]) == 2
    assert str(other) in capsys.readouterr().err
    # A part that unpacks past the cap is refused before it is parsed (zip bombs).
    from auditor.review import workbook as module

    monkeypatch.setattr(module, "MAX_PART_BYTES", 100)
    with pytest.raises(ReviewError, match="unpacks to"):
        read_reviews(other)
    monkeypatch.setattr(module, "MAX_FILE_BYTES", 10)
    with pytest.raises(ReviewError, match="is refused"):
        read_reviews(other)


def test_a_damaged_sidecar_is_set_aside_not_overwritten(tmp_path: Path, caplog) -> None:
    tenant = tmp_path / "contoso"
    tenant.mkdir()
    (tenant / SIDECAR).write_text("{not json")
    with caplog.at_level("WARNING", logger="auditor.review"):
        assert carry_forward(tenant) == {}
    assert (tenant / (SIDECAR + ".damaged")).read_text() == "{not json"
    assert "set aside" in caplog.text


def test_a_part_declaring_a_dtd_is_refused(tmp_path: Path) -> None:
    """Entity expansion ("billion laughs") never happens: a workbook part with a DTD is refused."""
    import zipfile

    good = tmp_path / "good.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Rule", "Entity ID", "Owner", "Decision", "Due date", "Notes"])
    wb.active.append(["r", "e1", "ann", "Remediate", None, "x"])
    wb.save(good)
    assert [r.review for r in read_reviews(good).rows] == [Review("ann", "Remediate", None, "x")]
    bomb = tmp_path / "bomb.xlsx"
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
        b'<c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>'
    )
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w") as dst:
        for item in src.infolist():
            bombed = item.filename == "xl/worksheets/sheet1.xml"
            dst.writestr(item, laughs if bombed else src.read(item))
    with pytest.raises(ReviewError, match="declares a DTD"):
        read_reviews(bomb)


def test_an_untouched_workbook_is_not_opened_again(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "reports"
    one = _audit(out)
    key = next((f.rule_id, f.entity_id) for f in one.result.findings)
    _edit(one.files["xlsx"], "Findings", {key: {"Decision": "Remediate"}})
    two = _audit(out)  # reads week one's edited workbook, notes the one it writes
    from auditor.review import store

    def refuse(path):
        raise AssertionError(f"{path} was opened although nobody saved it since the run wrote it")

    monkeypatch.setattr(store, "read_reviews", refuse)
    assert carry_forward(two.report_dir.parent) == {f"{key[0]}|{key[1]}": Review(decision="Remediate")}
    later = time.time() + 5
    os.utime(two.files["xlsx"], (later, later))  # saved again: read it
    with pytest.raises(AssertionError, match="was opened"):
        carry_forward(two.report_dir.parent)
