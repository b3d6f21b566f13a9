"""Control references in the reports: each control's status, findings.json, the Controls sheet
(openpyxl and LibreOffice), and the HTML explorer's control filter (headless Chromium)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import openpyxl
import pytest
from render_sample import FORMULA, XSS, evaluated

from auditor.findings import AuditResult, Finding, RuleOutcome, RunInfo
from auditor.render.context import build_report_context
from auditor.render.controls import control_filter, control_rows
from auditor.render.html import findings_data, render_html
from auditor.render.json import findings_document
from auditor.render.workbook import render_xlsx

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "auditor/render/findings.schema.json").read_text())
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def ref(framework: str, cid: str, title: str = "", relation: str = "equivalent") -> dict:
    return {"framework": framework, "id": cid, "title": title or f"Control {cid}", "url": None, "relation": relation}


LEARN = {
    "framework": "Microsoft Learn",
    "id": "https://learn.microsoft.com/x",
    "title": "page",
    "url": "https://learn.microsoft.com/x",
}
# rule -> (status, references); findings are added below
RULES = {
    "rule-open": ("assessed", [ref("CIS M365 v7.0", "1.1", FORMULA), ref("CISA SCuBA", "MS.AAD.1.1v1"), LEARN]),
    "rule-clean": (
        "assessed",
        [ref("CIS M365 v7.0", "1.1", FORMULA), ref("CIS M365 v7.0", "2.1"), ref("Maester", "MT.1")],
    ),
    "rule-na": ("not_assessed", [ref("CIS M365 v7.0", "2.1"), ref("CIS M365 v7.0", "10.1")]),
    "rule-waived": ("assessed", [ref("Maester", "MT.2")]),
    "rule-off": ("disabled", [ref("Maester", "MT.1"), ref("EIDSCA", "EIDSCA.AG01")]),
}


def _finding(rule: str, name: str, status: str = "open") -> Finding:
    waiver = {"rule": rule, "entity": name, "reason": "r", "approved_by": "a", "expires": None}
    return Finding(
        rule_id=rule,
        severity="high",
        entity_type="user",
        entity_id=name,
        entity_name=name,
        evidence={"k": 1},
        title=f"Title of {rule}",
        status=status,  # type: ignore[arg-type]
        waiver=waiver if status == "waived" else None,
    )


def synthetic_context():
    findings = [
        _finding("rule-open", XSS),
        _finding("rule-open", "b@contoso.com"),
        _finding("rule-open", "c@contoso.com", "waived"),
        _finding("rule-waived", "d@contoso.com", "waived"),
    ]
    outcomes = [
        RuleOutcome(id=rid, title=f"Title of {rid}", severity="high", status=st, references=refs)  # type: ignore[arg-type]
        for rid, (st, refs) in RULES.items()
    ]
    result = AuditResult(
        tenant={"name": "contoso", "tenant_id": "tid"},
        run=RunInfo(id="r1", started=START, finished=START),
        coverage=[],
        rules=outcomes,
        findings=findings,
    )
    return build_report_context(result)


def test_control_status_definition() -> None:
    rows = {r.key: r for r in control_rows(synthetic_context())}
    # Microsoft Learn pages are documentation, not controls
    assert not any(k.startswith("microsoft") or "learn" in k for k in rows)
    assert set(rows) == {
        "cis:1.1",
        "cis:2.1",
        "cis:10.1",
        "scuba:MS.AAD.1.1v1",
        "maester:MT.1",
        "maester:MT.2",
        "eidsca:EIDSCA.AG01",
    }
    fail = rows["cis:1.1"]  # rule-open has 2 open findings (its waived one does not count as open)
    assert (fail.status, fail.open, fail.waived, fail.rules) == ("fail", 2, 1, ("rule-clean", "rule-open"))
    assert rows["scuba:MS.AAD.1.1v1"].status == "fail"
    na = rows["cis:2.1"]  # rule-clean passes, rule-na was not assessed: never "pass" on partial evidence
    assert (na.status, na.open) == ("not assessed", 0) and "rule-na" in na.note
    assert rows["cis:10.1"].status == "not assessed"
    assert rows["maester:MT.2"].status == "waived" and rows["maester:MT.2"].waived == 1
    partial = rows["maester:MT.1"]  # rule-clean passes, rule-off is disabled
    assert partial.status == "not assessed" and "disabled in the configuration: rule-off" in partial.note
    assert rows["eidsca:EIDSCA.AG01"].status == "disabled"
    # ordering: framework, then natural id order (10.1 after 2.1)
    cis = [r.id for r in control_rows(synthetic_context()) if r.framework == "CIS M365 v7.0"]
    assert cis == ["1.1", "2.1", "10.1"]


def test_pass_when_every_rule_assessed_without_findings() -> None:
    ctx = synthetic_context()
    ctx = build_report_context(
        AuditResult(
            tenant=ctx.tenant,
            run=ctx.run,
            coverage=[],
            rules=[
                RuleOutcome(
                    id="rule-clean", title="t", severity="low", status="assessed", references=RULES["rule-clean"][1]
                )
            ],
            findings=[],
        )
    )
    assert {r.key: r.status for r in control_rows(ctx)} == {
        "cis:1.1": "pass",
        "cis:2.1": "pass",
        "maester:MT.1": "pass",
    }


def test_findings_json_carries_control_keys_and_validates() -> None:
    ctx = synthetic_context()
    doc = json.loads(json.dumps(findings_document(ctx), default=str))
    jsonschema.validate(doc, SCHEMA)
    by_rule = {f["rule_id"]: f["references"] for f in doc["findings"]}
    assert by_rule["rule-open"] == ["cis:1.1", "scuba:MS.AAD.1.1v1"]  # the rule's order; no Learn page
    assert by_rule["rule-waived"] == ["maester:MT.2"]
    for keys in by_rule.values():
        for key in keys:
            assert key in doc["controls"]
    assert doc["controls"]["cis:1.1"]["status"] == "fail" and doc["controls"]["cis:1.1"]["open"] == 2
    assert doc["controls"]["cis:1.1"]["rules"] == ["rule-clean", "rule-open"]


def test_demo_findings_reference_the_registry_controls() -> None:
    from auditor.demo import demo_snapshot
    from auditor.rules import REGISTRY

    ctx = build_report_context(*evaluated(demo_snapshot()))
    doc = json.loads(json.dumps(findings_document(ctx), default=str))
    jsonschema.validate(doc, SCHEMA)
    smtp = next(f for f in doc["findings"] if f["rule_id"] == "smtp-auth-org-enabled")
    expected = [r for r in REGISTRY["smtp-auth-org-enabled"].references if r.framework != "Microsoft Learn"]
    assert len(smtp["references"]) == len(expected) and "cis:6.5.4" in smtp["references"]
    assert doc["controls"]["cis:6.5.4"]["framework"] == "CIS M365 v7.0"
    # compact: the control keys add little per finding
    extra = sum(len(json.dumps(f["references"])) for f in doc["findings"]) / len(doc["findings"])
    assert extra < 120


# ---------------------------------------------------------------- workbook


def _rows(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_controls_sheet_read_back(tmp_path: Path) -> None:
    path = render_xlsx(synthetic_context(), tmp_path / "report.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames.index("Controls") == wb.sheetnames.index("Rules") + 1
    ws = wb["Controls"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    rows = {(r["Framework"], r["Control"]): r for r in _rows(ws)}
    assert len(rows) == 7
    cis = rows[("CIS M365 v7.0", "1.1")]
    assert cis["Status"] == "fail" and cis["Open findings"] == 2 and cis["Waived findings"] == 1
    assert cis["Rules"] == "rule-clean, rule-open"
    assert cis["Title"] == "'" + FORMULA or (cis["Title"] == FORMULA and ws.cell(2, 3).data_type == "s")
    # text, never a formula: an inline string with the quote-prefix style wherever it starts with "="
    assert all(
        c.data_type == "s" and c.quotePrefix for row in ws.iter_rows() for c in row if str(c.value).startswith("=")
    )
    assert rows[("EIDSCA", "EIDSCA.AG01")]["Status"] == "disabled"
    assert rows[("Maester", "MT.2")]["Status"] == "waived"
    assert "rule-na" in rows[("CIS M365 v7.0", "2.1")]["Note"]


def test_controls_sheet_in_libreoffice(tmp_path: Path, soffice: str) -> None:
    path = render_xlsx(synthetic_context(), tmp_path / "report.xlsx")
    work = tmp_path / "lo"
    work.mkdir()
    # the Controls sheet only: LibreOffice's CSV filter with a sheet number (1-based)
    index = openpyxl.load_workbook(path).sheetnames.index("Controls") + 1
    proc = subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            "--convert-to",
            f"csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,false,true,false,false,false,{index}",
            "--outdir",
            str(work),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    [out] = list(work.glob("*.csv"))
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:4] == ["Framework", "Control", "Title", "Status"]
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("CIS M365 v7.0", "1.1")][3] == "fail" and by_key[("CIS M365 v7.0", "1.1")][4] == "2"
    # the formula stays text: LibreOffice shows it, never evaluates it
    assert FORMULA in by_key[("CIS M365 v7.0", "1.1")][2]


# ---------------------------------------------------------------- HTML


def test_explorer_data_lists_the_controls_present() -> None:
    ctx = synthetic_context()
    data = findings_data(ctx)
    labels = [label for _key, label in data["controls"]]
    assert any(label.startswith("CIS M365 v7.0 1.1") for label in labels)
    assert len(data["rulectl"]) == len(data["rules"])
    keys = [k for k, _l in data["controls"]]
    open_ix = [r[0] for r in data["rules"]].index("rule-open")
    assert sorted(keys[i] for i in data["rulectl"][open_ix]) == ["cis:1.1", "scuba:MS.AAD.1.1v1"]
    assert control_filter(ctx, [])["controls"] == []


@pytest.mark.browser
def test_control_filter_in_chromium(chromium_path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    from auditor.demo import demo_snapshot

    ctx = build_report_context(*evaluated(demo_snapshot()))
    path = render_html(ctx, tmp_path / "report.html")
    expected_smtp = sum(
        1 for f in ctx.open_findings if f.rule_id in ("smtp-auth-org-enabled", "smtp-auth-mailbox-enabled")
    )
    expected_admin = sum(1 for f in ctx.open_findings if f.rule_id == "guest-admin")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_selector("#explorer:not([hidden])")
        options = page.locator("#f-ctl option").all_inner_texts()
        assert options[0] == "All controls" and any(o.startswith("CIS M365 v7.0 6.5.4") for o in options)
        assert not any(o.startswith("Microsoft Learn") for o in options)
        page.select_option("#f-ctl", label=next(o for o in options if o.startswith("CIS M365 v7.0 6.5.4")))
        assert f"of {expected_smtp} findings" in page.inner_text("#f-info")
        rules = set(page.locator("#explorer tbody tr td:nth-child(2)").all_inner_texts())
        assert rules <= {"smtp-auth-org-enabled", "smtp-auth-mailbox-enabled"} and rules
        # works together with the search box and the severity filter
        page.fill("#f-q", "no-such-entity-anywhere")
        expect(page.locator("#f-info")).to_contain_text("No matching")
        page.fill("#f-q", "")
        page.select_option("#f-ctl", label=next(o for o in options if o.startswith("CISA SCuBA MS.AAD.7.3v1")))
        expect(page.locator("#f-info")).to_contain_text(f"of {expected_admin} findings")
        page.select_option("#f-ctl", value="")
        assert f"of {len(ctx.open_findings)} findings" in page.inner_text("#f-info")
        assert errors == []
        browser.close()


def test_rule_sections_name_their_controls() -> None:
    from auditor.render.html import render_html_text

    html = render_html_text(synthetic_context())
    article = html[html.index('id="rule-rule-open"') :]
    article = article[: article.index("</article>")]
    assert "<b>Controls.</b> CIS M365 v7.0 1.1" in article and "CISA SCuBA MS.AAD.1.1v1" in article
    assert "learn.microsoft.com" not in article  # documentation pages are not controls
    assert "=HYPERLINK(&#34;" in article or "=HYPERLINK(&quot;" in article  # escaped as text
