"""``entra-auditor waivers import report.xlsx``: "Accept risk" rows become waiver drafts that, copied into the
configuration, waive exactly those findings in the next run; incomplete rows are named, never guessed."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import yaml

from auditor.cli import main
from auditor.config import AuditorConfig
from auditor.pipeline import run_audit


def _accept(path: Path, rows: dict[tuple[str, str], dict[str, object]]) -> dict[tuple[str, str], int]:
    wb = openpyxl.load_workbook(path)
    ws = wb["Findings"]
    header = [c.value for c in ws[1]]
    where = {}
    for row in ws.iter_rows(min_row=2):
        key = (row[header.index("Rule")].value, row[header.index("Entity ID")].value)
        if key in rows:
            where[key] = row[0].row
            for name, value in {"Decision": "Accept risk", **rows[key]}.items():
                row[header.index(name)].value = value
    wb.save(path)
    return where


def test_accept_risk_rows_become_waivers_that_waive_those_findings(tmp_path: Path, capsys) -> None:
    one = run_audit(AuditorConfig(), demo=True, out_dir=tmp_path / "out", formats=["xlsx"])
    findings = [f for f in one.result.findings if f.status == "open"]
    user = next(f for f in findings if f.entity_type == "user")
    tenant_level = next(f for f in findings if f.entity_type == "tenant")
    rest = [f for f in findings if f not in (user, tenant_level)]
    no_reason, past = rest[0], rest[1]
    due = datetime.combine(date.today() + timedelta(days=90), datetime.min.time())
    full = {"Owner": "ciso@contoso.com", "Notes": "legacy scanner, replaced in Q2", "Due date": due}
    where = _accept(
        one.files["xlsx"],
        {
            (user.rule_id, user.entity_id): full,
            (tenant_level.rule_id, tenant_level.entity_id): {**full, "Notes": "accepted by the board"},
            (no_reason.rule_id, no_reason.entity_id): {"Owner": "x@contoso.com", "Due date": due},
            (past.rule_id, past.entity_id): {**full, "Due date": datetime(2020, 1, 1)},
        },
    )
    draft = tmp_path / "waivers-draft.yaml"
    assert main(["waivers", "import", str(one.files["xlsx"]), "-o", str(draft)]) == 0
    out, err = capsys.readouterr()
    assert "2 waiver draft(s) written" in out and "2 'Accept risk' row(s) skipped" in out
    assert f"'Findings'!row {where[(no_reason.rule_id, no_reason.entity_id)]}" in err
    assert "needs a reason in Notes" in err
    assert "a Due date that is not past (2020-01-01)" in err
    assert draft.stat().st_mode & 0o777 == 0o600
    text = draft.read_text()
    assert text.startswith("# Waiver drafts from the 'Accept risk' rows of report.xlsx")
    waivers = yaml.safe_load(text)["waivers"]
    tenant = one.result.tenant["name"]
    expected = [
        {
            "rule": user.rule_id,
            "entity": user.entity_name,
            "reason": "legacy scanner, replaced in Q2",
            "approved_by": "ciso@contoso.com",
            "expires": due.date(),
            "tenant": tenant,
        },
        {
            "rule": tenant_level.rule_id,
            "entity": "*",
            "reason": "accepted by the board",
            "approved_by": "ciso@contoso.com",
            "expires": due.date(),
            "tenant": tenant,
        },
    ]
    assert sorted(waivers, key=str) == sorted(expected, key=str)

    # Copied into the configuration as they stand, they waive exactly those two findings.
    config = AuditorConfig.model_validate({"waivers": waivers})
    two = run_audit(config, demo=True, out_dir=tmp_path / "out2", formats=["xlsx"])
    waived = {(f.rule_id, f.entity_id) for f in two.result.findings if f.status == "waived"}
    assert waived == {(user.rule_id, user.entity_id), (tenant_level.rule_id, tenant_level.entity_id)}


def test_the_draft_never_overwrites_the_configuration(tmp_path: Path, capsys) -> None:
    one = run_audit(AuditorConfig(), demo=True, out_dir=tmp_path / "out", formats=["xlsx"])
    config = tmp_path / "auditor.yaml"
    config.write_text("reports: {dir: out}\n")
    code = main(["waivers", "import", str(one.files["xlsx"]), "-c", str(config), "-o", str(config)])
    assert code == 2
    assert "is the configuration" in capsys.readouterr().err
    assert config.read_text() == "reports: {dir: out}\n"
