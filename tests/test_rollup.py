"""The cross-tenant roll-up (issue 12 item 3): after a multi-tenant run, one HTML page and one workbook
sheet with a row per tenant in ``reports.dir/_rollup/<stamp>/``, attached to an MSP summary e-mail."""

from __future__ import annotations

import email
import email.policy
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
from aiosmtpd.controller import Controller

from auditor.config import parse_config
from auditor.demo import demo_snapshot
from auditor.findings import SEVERITIES
from auditor.pipeline import RunOutcome, run_audit, write_rollup

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"


def _config(tmp_path: Path, port: int | None = None):
    creds = {"tenant_id": "t", "client_id": "c", "client_secret_env": "NOPE"}
    data = {
        "tenants": [{"name": "contoso", **creds}, {"name": "fabrikam", **creds}, {"name": "evil", **creds}],
        "reports": {"dir": str(tmp_path / "r")},
    }
    if port is not None:
        data["email"] = {
            "transport": "smtp",
            "sender": "audit@msp.test",
            "to": ["soc@msp.test"],
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "timeout_seconds": 5},
        }
    return parse_config(data)


def _outcomes(config) -> list[RunOutcome]:
    contoso = run_audit(config, "contoso", snapshot=demo_snapshot(), now=T0, formats=["json"], email=False)
    fabrikam = run_audit(config, "fabrikam", snapshot=demo_snapshot(), now=T0, formats=["json"], email=False)
    failed = RunOutcome(tenant="evil", errors=['=HYPERLINK("http://x") <script>alert(1)</script>'])
    return [contoso, fabrikam, failed]


def test_rollup_page_and_sheet_have_a_row_per_tenant(tmp_path: Path) -> None:
    config = _config(tmp_path)
    outcomes = _outcomes(config)
    files = write_rollup(config, outcomes, now=T0 + timedelta(minutes=5), email=False)
    assert files["html"].parent == tmp_path / "r" / "_rollup" / "20261123T070500Z"

    contoso = outcomes[0].result
    assert contoso is not None
    open_high = sum(1 for f in contoso.findings if f.status == "open" and f.severity == "high")
    not_assessed = sum(1 for r in contoso.rules if r.status == "not_assessed")

    sheet = openpyxl.load_workbook(files["xlsx"])["Tenants"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    by_tenant = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(by_tenant) == {"contoso", "fabrikam", "evil"}
    assert by_tenant["contoso"]["High"] == open_high
    assert by_tenant["contoso"]["New"] == sum(1 for f in contoso.findings if f.status == "open")  # first run
    assert by_tenant["contoso"]["Not assessed rules"] == not_assessed
    assert by_tenant["contoso"]["Status"] == "complete"
    assert by_tenant["contoso"]["Run started (UTC)"] == T0.replace(tzinfo=None)
    assert by_tenant["evil"]["Status"] == "failed"
    # neutralised: the tenant's text stays text (inline string, quote-prefix style), never a formula
    assert str(by_tenant["evil"]["Problem"]).startswith("=HYPERLINK")  # shown as the tenant wrote it
    cells = [c for row in sheet.iter_rows() for c in row if str(c.value).startswith("=")]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert sheet.freeze_panes == "A2"  # the header row stays on screen
    assert set(SEVERITIES) <= {h.lower() for h in header if h}

    page = files["html"].read_text()
    assert page.count("<tr>") == 1 + 3 + 1  # header, a row per tenant, totals
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "contoso" in page and "fabrikam" in page


def test_multi_tenant_run_mails_the_msp_summary(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        config = _config(tmp_path, port)
        write_rollup(config, _outcomes(config), now=T0, email=True)
    finally:
        ctl.stop()
    [raw] = inbox.messages
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"].startswith("Entra audit roll-up: 3 tenants") and "1 not complete" in message["Subject"]
    names = {part.get_filename() for part in message.walk() if part.get_filename()}
    assert names == {"rollup.html", "rollup.xlsx"}
    body = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()
    assert "contoso: complete" in body and "evil: failed" in body


def test_run_audits_of_several_tenants_writes_the_rollup(tmp_path: Path) -> None:
    from auditor.pipeline import run_audits

    config = _config(tmp_path)
    outcomes = run_audits(config, ["contoso", "fabrikam"], demo=True, formats=["json"], email=False)
    assert [o.status for o in outcomes] == ["complete", "complete"]
    [folder] = (tmp_path / "r" / "_rollup").iterdir()
    sheet = openpyxl.load_workbook(folder / "rollup.xlsx")["Tenants"]
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["contoso", "fabrikam"]
    run_audits(config, ["contoso"], demo=True, formats=["json"], email=False)
    assert len(list((tmp_path / "r" / "_rollup").iterdir())) == 1  # one tenant: no roll-up
