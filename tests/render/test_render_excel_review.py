"""The review workbook reads and prints well (issue 12 items 5 and 6): values in words, names next to ids,
widths that fit the headers, page setup for a PDF evidence pack, and tables longer than Excel's row limit
split over several sheets. Read back with openpyxl; tests/render/test_render_excel_libreoffice.py prints it.
"""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
from render_sample import make_context

from auditor.render import xlsx_stream as xs
from auditor.render.workbook import render_xlsx, write_workbook

GA = "62e90394-69f5-4237-9190-012177145e10"


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory):
    path = render_xlsx(make_context(), tmp_path_factory.mktemp("wb") / "report.xlsx")
    return openpyxl.load_workbook(path)


def _rows(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_conditional_access_in_words_with_names_next_to_ids(workbook) -> None:
    [policy] = _rows(workbook["Conditional Access"])
    assert policy["State"] == "On" and policy["Requires MFA"] == "Yes" and policy["Blocks legacy auth"] == "No"
    assert policy["Include users"] == "All users"
    assert policy["Include groups"] == "Tier0 Admins (g1)"
    assert policy["Include roles"] == f"Global Administrator ({GA})"
    assert policy["Exclude users"] == "bob@contoso.com (u4)"
    assert policy["Exclude locations"] == "HQ </script><b>x</b> (loc1)"
    assert policy["Client app types"] == "All client apps" and policy["Grant controls"] == "Require MFA"


def test_entity_and_plan_sheets_hold_no_raw_api_values(workbook) -> None:
    """No TRUE/FALSE cells and no API enum spellings where a reviewer reads the value."""
    raw = {"enabledForReportingButNotEnforced", "not_assessed", "inherited from org", "named_location"}
    for title in ("Users", "Conditional Access", "Named locations & trusted IPs", "Migration plan", "Rules"):
        cells = [c for row in workbook[title].iter_rows(min_row=2, values_only=True) for c in row]
        assert not [c for c in cells if isinstance(c, bool)], title
        assert not raw & {c for c in cells if isinstance(c, str)}, title
    ips = _rows(workbook["Named locations & trusted IPs"])
    assert {(r["Origin"], r["Trusted"], r["IP version"]) for r in ips} == {
        ("Named location", "Yes", "IPv4"),
        ("Named location", "Yes", "IPv6"),
        ("Legacy MFA trusted IPs", "No", "IPv4"),
    }
    users = {r["UPN"]: r for r in _rows(workbook["Users"])}
    assert users["old@contoso.com"]["Per-user MFA"] == "Unknown"
    assert users["bob@contoso.com"]["MFA registered"] == "Unknown"


def test_waiver_expiry_is_a_date_cell(workbook) -> None:
    ws = workbook["Waivers"]
    col = [c.value for c in ws[1]].index("Expires") + 1
    cells = [ws.cell(r, col) for r in range(2, ws.max_row + 1)]
    assert cells and all(c.is_date for c in cells)
    assert {c.value.date() for c in cells} == {date(2026, 9, 30), date(2026, 1, 31)}


def test_headers_fit_their_columns(workbook) -> None:
    """Every header of a table sheet is readable without widening its column (wrapped columns wrap)."""
    for ws in workbook.worksheets[1:]:
        for cell in ws[1]:
            width = ws.column_dimensions[cell.column_letter].width
            assert width >= len(str(cell.value)), (ws.title, cell.value, width)
    users = workbook["Users"]
    upn = users.column_dimensions["A"].width
    assert max(len(str(r[0].value)) for r in users.iter_rows(min_row=2)) <= upn <= 34


def test_every_sheet_prints_landscape_one_page_wide_with_repeated_header(workbook) -> None:
    for i, ws in enumerate(workbook.worksheets):
        setup = ws.page_setup
        assert (setup.orientation, setup.fitToWidth, setup.fitToHeight) == ("landscape", 1, 0), ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        last = f"${openpyxl.utils.get_column_letter(ws.max_column)}${ws.max_row}"
        assert ws.print_area == [f"'{ws.title}'!$A$1:{last}"] or ws.print_area == f"'{ws.title}'!$A$1:{last}"
        assert "&P" in ws.oddFooter.center.text
        if i:  # table sheets: header row on every page, gridlines
            assert ws.print_title_rows == "$1:$1", ws.title
            assert ws.print_options.gridLines


def _split_workbook(max_rows: int) -> openpyxl.Workbook:
    buffer = io.BytesIO()
    write_workbook(make_context(), buffer, max_rows=max_rows)
    buffer.seek(0)
    return openpyxl.load_workbook(buffer)


def test_tables_longer_than_the_row_limit_continue_on_more_sheets() -> None:
    """A small limit stands in for Excel's 1,048,576 rows: no sheet exceeds it, no row is lost, each part
    repeats the header and a full part names the next one."""
    whole = _split_workbook(xs.MAX_ROWS)
    split = _split_workbook(6)  # header + 4 data rows + the continuation note
    assert all(ws.max_row <= 6 for ws in split.worksheets[1:])
    users = [ws for ws in split.worksheets if ws.title.startswith("Users")]
    assert [ws.title for ws in users] == ["Users", "Users (2)"]
    header = [c.value for c in whole["Users"][1]]
    data = []
    for ws in users:
        rows = list(ws.iter_rows(values_only=True))
        assert list(rows[0]) == header and ws.freeze_panes == "A2" and ws.print_title_rows == "$1:$1"
        data += [r for r in rows[1:] if not str(r[0]).startswith("Continued on sheet")]
    assert data == list(whole["Users"].iter_rows(min_row=2, values_only=True))
    assert split["Users"].cell(6, 1).value.startswith("Continued on sheet 'Users (2)'")
    assert split["Users"].auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}5"
    # the Findings sheet (10 findings) splits too, keeping its severity colours on each part
    findings = [ws for ws in split.worksheets if ws.title.split(" (")[0] == "Findings"]
    assert [ws.title for ws in findings] == ["Findings", "Findings (2)", "Findings (3)"]
    assert all(ws.conditional_formatting for ws in findings)
    for ws in findings:  # the reviewer's drop-down and date check cover each part's own rows
        header = [c.value for c in ws[1]]
        letter = openpyxl.utils.get_column_letter(header.index("Decision") + 1)
        data_rows = sum(1 for r in ws.iter_rows(min_row=2, values_only=True) if r[0] and "Continued" not in r[0])
        lists = [str(v.sqref) for v in ws.data_validations.dataValidation if v.type == "list"]
        assert lists == [f"{letter}2:{letter}{data_rows + 1}"], ws.title
    # the Summary says which tables were split
    summary = [r[0] for r in split["Summary"].iter_rows(values_only=True) if r[0]]
    assert "Users: 5 rows, split over 2 sheets (Users, Users (2))." in summary


def test_split_titles_stay_within_excel_limits() -> None:
    split = _split_workbook(3)
    titles = split.sheetnames
    assert all(len(t) <= 31 for t in titles) and len(set(titles)) == len(titles)
    assert "Named locations & trusted I (2)" in titles


def test_the_writer_refuses_a_row_past_excels_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xs, "MAX_ROWS", 3)
    with xs.Workbook(io.BytesIO()) as wb:
        sheet = wb.sheet("T", [10])
        for i in range(3):
            sheet.row([i])
        with pytest.raises(ValueError, match="allows 3 rows"):
            sheet.row([4])
        sheet.close()


def test_value_labels() -> None:
    from auditor.render.workbook import values as v

    assert v.labels(v.METHOD_LIST, ["mobilePhone", "someNewMethod"]) == "Mobile phone (SMS/voice), Some new method"
    assert v.labels(v.METHOD_LIST, None) is None and v.labels(v.METHOD_LIST, float("nan")) is None
    assert v.label(v.CA_STATES, "enabledForReportingButNotEnforced") == "Report-only"
    assert v.named([], {}) is None and v.named(["x"], {"x": "X"}) == "X (x)" and v.named(["y"], {}) == "y"
    assert v.as_date("2026-09-30") == date(2026, 9, 30) and v.as_date("soon") == "soon"


def test_evidence_headers_and_values_in_words() -> None:
    from datetime import datetime

    from auditor.render.evidence import evidence_cell, evidence_label

    assert evidence_label("per_user_mfa") == "Per-user MFA"
    assert evidence_label("mfa_policies_for_all_resources") == "MFA policies for all resources"
    assert evidence_label("SmtpClientAuthenticationDisabled") == "SMTP AUTH"  # no double negative
    assert evidence_cell("SmtpClientAuthenticationDisabled", False) == "Enabled"
    assert evidence_cell("SmtpClientAuthenticationDisabled", True) == "Disabled"
    assert evidence_cell("admin", True) == "Yes" and evidence_cell("methods", ["a", "b"]) == "a, b"
    assert evidence_cell("sms_voice_retirement", "2027-02-01") == date(2027, 2, 1)  # a date cell
    assert evidence_cell("last", "2026-11-22T21:12:36+00:00") == datetime.fromisoformat("2026-11-22T21:12:36+00:00")
    assert evidence_cell("range", "2026-11-22 to 2026-12-01") == "2026-11-22 to 2026-12-01"


def test_demo_findings_sheets_have_no_double_negative(tmp_path_factory: pytest.TempPathFactory) -> None:
    from datetime import datetime

    from auditor.config import AuditorConfig
    from auditor.pipeline import run_audit

    out = tmp_path_factory.mktemp("demo")
    wb = openpyxl.load_workbook(run_audit(AuditorConfig(), demo=True, out_dir=out, formats=["xlsx"]).files["xlsx"])
    org = _rows(wb["SMTP AUTH org"])
    assert org and org[0]["SMTP AUTH"] == "Enabled"
    headers = {c.value for ws in wb.worksheets for c in ws[1]}
    assert "SmtpClientAuthenticationDisabled" not in headers and "per_user_mfa" not in headers
    cells = {c for ws in wb.worksheets for row in ws.iter_rows(min_row=2, values_only=True) for c in row}
    assert not {"yes", "no"} & cells  # Yes / No
    # a policy's fourteen included roles, one a line, in a row tall enough to print them all
    ca = wb["Conditional Access"]
    row = next(c.row for c in ca["A"] if c.value == "Require MFA for admins")
    roles = ca.cell(row, [c.value for c in ca[1]].index("Include roles") + 1).value
    assert roles.count("\n") == 13 and "Global Administrator (62e90394" in roles
    assert ca.row_dimensions[row].height >= 14 * 15
    findings = _rows(wb["Admin app passwords"])
    assert any(isinstance(r["Last legacy sign-in"], datetime) for r in findings)  # ISO text became a date cell
