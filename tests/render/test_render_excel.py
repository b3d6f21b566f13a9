"""report.xlsx read back with openpyxl: sheets, header, filters, validation, neutralised cells, dates."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from render_sample import FORMULA, evaluated, make_context

from auditor.render.context import build_report_context
from auditor.render.safe import cell_value, neutralise
from auditor.render.workbook import DECISIONS, render_xlsx


@pytest.fixture
def workbook(tmp_path: Path):
    path = render_xlsx(make_context(), tmp_path / "report.xlsx")
    assert path.stat().st_mode & 0o777 == 0o600
    return openpyxl.load_workbook(path)


def _rows(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_sheets(workbook) -> None:
    assert workbook.sheetnames == [
        "Summary",
        "Findings",
        "Admin app passwords",
        "Daily per-user MFA",
        "SMTP AUTH org",
        "SMTP AUTH mailboxes",
        "IMAP POP mailboxes",
        "Trusted IPs vs locations",
        "Users",
        "Conditional Access",
        "Named locations & trusted IPs",
        "Migration plan",
        "Rules",
        "Controls",
        "Waivers",
    ]


def test_findings_sheet_layout(workbook) -> None:
    ws = workbook["Findings"]
    header = [c.value for c in ws[1]]
    # The reviewer columns follow Rule / Entity / Severity and stay in view with them (frozen pane).
    assert header[:7] == ["Rule", "Entity", "Severity", "Owner", "Decision", "Due date", "Notes"]
    assert ws.freeze_panes == "H2"
    assert "Other evidence" not in header
    assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}{ws.max_row}"
    assert ws.max_row == 11  # header + 10 findings (9 open, 1 waived)
    assert ws["A1"].font.bold and ws["A1"].fill.fgColor.rgb.endswith("1F3864")
    for col in ("Owner", "Decision", "Due date", "Notes", "Per-user MFA", "Roles"):
        assert col in header
    decision = header.index("Decision") + 1
    letter = ws.cell(1, decision).column_letter
    validations = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert len(validations) == 1
    assert validations[0].formula1 == '"' + ",".join(DECISIONS) + '"'
    assert f"{letter}2:{letter}11" in str(validations[0].sqref)
    sev_letter = ws.cell(1, header.index("Severity") + 1).column_letter
    rules = [r for cf in ws.conditional_formatting for r in cf.rules]
    assert {r.formula[0] for r in rules} == {'"critical"', '"high"', '"medium"', '"low"', '"info"'}
    assert any(sev_letter in str(cf.sqref) for cf in ws.conditional_formatting)
    rows = _rows(ws)
    assert rows[0]["Severity"] == "critical"  # worst first
    assert isinstance(rows[0]["First seen"], datetime)
    assert ws.cell(2, header.index("First seen") + 1).is_date
    waived = [r for r in rows if r["Status"] == "waived"]
    assert waived[0]["Waiver approved by"] == "ciso@contoso.com"


PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def test_formulas_neutralised(workbook) -> None:
    """Text that looks like a formula keeps its own characters and gets Excel's quote-prefix style (no literal
    apostrophe); it is an inline string, never a formula."""
    cells = [c for ws in workbook for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    risky = [c for c in cells if c.value.startswith(PREFIXES)]
    assert risky and all(c.quotePrefix and c.data_type == "s" for c in risky)
    assert not [c.value for c in cells if c.value.startswith("'") and c.value[1:].startswith(PREFIXES)]
    assert not [c.coordinate for c in cells if c.quotePrefix and not c.value.startswith(PREFIXES)]
    texts = {c.value for c in risky}
    assert FORMULA in texts
    assert "+SUM(1,2)" in texts  # evidence value
    assert "@old-admin@contoso.com" in texts  # entity name
    assert "-Old admin" in texts  # users sheet display name
    assert "Require MFA =cmd" in {c.value for c in cells}  # only a leading = is dangerous


def test_users_and_other_sheets(workbook) -> None:
    users = {r["UPN"]: r for r in _rows(workbook["Users"])}
    ann = users["ann@contoso.com"]
    assert ann["Classification"] == "admin, daily"
    assert ann["Admin roles"] == "Global Administrator"
    assert ann["Per-user MFA"] == "Enforced" and ann["IMAP"] == "Enabled" and ann["POP"] == "Disabled"
    assert ann["SMTP AUTH"] == "Enabled" and ann["SMTP AUTH setting"] == "Inherited (org: Enabled)"
    assert ann["Account"] == "Enabled" and ann["Privileged admin"] == "Yes" and ann["Mailbox"] == "Yes"
    assert ann["Methods"] == "Microsoft Authenticator (push)"
    assert ann["Legacy sign-ins"] == 4 and ann["Open findings"] == 1  # its mailbox finding is on m1
    assert isinstance(ann["Last sign-in"], datetime)
    assert users["bob@contoso.com"]["Classification"] == "service account"
    rules = {r["Rule"]: r for r in _rows(workbook["Rules"])}
    assert rules["legacy-auth-sign-ins"]["Status"] == "Not assessed"
    assert "403" in rules["legacy-auth-sign-ins"]["Not assessed / disabled reason"]
    waivers = _rows(workbook["Waivers"])
    assert {w["State"] for w in waivers} == {"Active", "Expired"}
    ips = _rows(workbook["Named locations & trusted IPs"])
    assert {r["Range"] for r in ips} == {"203.0.113.0/25", "2001:db8::/48", "203.0.113.0/24"}
    summary = [r for r in workbook["Summary"].iter_rows(values_only=True)]
    assert ("Run status", "partial") in [r[:2] for r in summary]
    assert any(r[0] == "sign_ins" and r[1] == "failed" for r in summary)


def test_sanitiser() -> None:
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("\t=1") == "'\t=1"
    assert neutralise("a\x00b\x07c") == "abc"
    assert neutralise("plain") == "plain"
    assert cell_value(["-a", "b"]) == "-a, b"  # the workbook marks it with the quote-prefix style instead
    assert cell_value("=1+1") == "=1+1" and cell_value("a\x00\u202eb") == "a[U+202E]b"
    assert cell_value(5) == 5 and cell_value(None) is None


def test_demo_tenant_workbook(tmp_path: Path) -> None:
    from auditor.demo import demo_snapshot

    snapshot = demo_snapshot()
    result, model = evaluated(snapshot)
    wb = openpyxl.load_workbook(render_xlsx(build_report_context(result, model), tmp_path / "report.xlsx"))
    assert wb["Findings"].max_row == len(result.findings) + 1
    assert wb["Users"].max_row == len(snapshot.records("users")) + 1
    assert wb["Admin app passwords"].max_row == 1 + sum(
        1 for f in result.findings if f.rule_id == "admin-app-passwords"
    )
    ca = _rows(wb["Conditional Access"])
    assert len(ca) == len(snapshot.records("conditional_access"))
    trusted = _rows(wb["Trusted IPs vs locations"])
    assert {r["Entity"] for r in trusted} >= {"203.0.113.0/24"}
    assert all(r["Rule"] for r in _rows(wb["Rules"]))


def test_stream_writer_parts_are_well_formed(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET
    import zipfile
    from datetime import date

    from auditor.render import xlsx_stream as xs

    path = tmp_path / "t.xlsx"
    with path.open("wb") as fh, xs.Workbook(fh, dxf_colours=["7B1020"]) as wb:
        sheet = wb.sheet("O'Brien & <Co>", [10, 10, 10, 10, 10, 10])
        sheet.row(["a", "b", "c", "d", "e", "f"], xs.HEADER)
        sheet.row(["  padded ", 'x<y>&"z"', True, 2.5, datetime(2026, 1, 2, 3, 4), date(2026, 5, 6)])
        sheet.autofilter()
        sheet.highlight(xs.Highlight("A2:A2", 'say "hi"', 0))
        sheet.validate(xs.Validation("B2:B2", "list", '"x,y"', error="pick <one>"))
        sheet.close()
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith((".xml", ".rels")):
                ET.fromstring(zf.read(name))  # raises on malformed XML
    ws = openpyxl.load_workbook(path)["O'Brien & <Co>"]
    assert [c.value for c in ws[2]] == [
        "  padded ",
        'x<y>&"z"',
        True,
        2.5,
        datetime(2026, 1, 2, 3, 4),
        datetime(2026, 5, 6),
    ]
    assert ws["F2"].number_format == "yyyy-mm-dd" and ws.auto_filter.ref == "A1:F2"
