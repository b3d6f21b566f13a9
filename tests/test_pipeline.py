"""run_audit end to end with history: drift across two runs shows in findings.json, the HTML and the workbook."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl

from auditor.config import parse_config
from auditor.demo import demo_snapshot
from auditor.history import HistoryStore
from auditor.pipeline import run_audit, run_audits

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _changed_demo():
    """The demo tenant a week later: org SMTP AUTH switched off, one new IMAP mailbox."""
    snap = demo_snapshot()
    snap.sources["transport_config"].records["SmtpClientAuthenticationDisabled"] = True
    boxes = snap.sources["cas_mailboxes"].records
    fresh = next(b for b in boxes if not b["ImapEnabled"] and not b["PopEnabled"])
    fresh["ImapEnabled"] = True
    return snap, fresh["PrimarySmtpAddress"].lower()


def test_two_runs_show_new_resolved_and_persisting_everywhere(tmp_path: Path) -> None:
    config = parse_config({"storage": {"url": f"sqlite:///{tmp_path}/h.db"}, "reports": {"dir": str(tmp_path / "r")}})
    store = HistoryStore(config.storage.url)
    first = run_audit(config, snapshot=demo_snapshot(), history=store, now=T0)
    snap, new_imap = _changed_demo()
    second = run_audit(config, snapshot=snap, history=store, now=T0 + timedelta(days=7))

    doc = json.loads(second.files["json"].read_text())
    changes = {(f["rule_id"], f["entity_name"]): (f["change"], f["first_seen"]) for f in doc["findings"]}
    assert changes[("imap-pop-enabled", new_imap)][0] == "new"
    persisting = changes[("mfa-no-baseline", "Contoso Ltd")]
    assert persisting == ("persisting", T0.isoformat())
    resolved = {(r["rule_id"], r["entity_name"]) for r in doc["resolved"]}
    assert ("smtp-auth-org-enabled", "Contoso Ltd") in resolved
    inherited = [
        f
        for f in first.result.findings
        if f.rule_id == "smtp-auth-mailbox-enabled" and f.evidence["setting"] == "inherited from org"
    ]
    assert inherited and all((f.rule_id, f.entity_name) in resolved for f in inherited)
    assert not [k for k in changes if k in resolved]

    html = second.files["html"].read_text()
    assert "smtp-auth-org-enabled" in html and new_imap in html
    assert "Resolved" in html or "resolved" in html

    wb = openpyxl.load_workbook(second.files["xlsx"], read_only=True)
    rows = list(wb["Findings"].iter_rows(values_only=True))
    header = list(rows[0])
    change_col, name_col = header.index("Change"), header.index("Entity")
    by_entity = {(r[header.index("Rule")], r[name_col]): r[change_col] for r in rows[1:]}
    assert by_entity[("imap-pop-enabled", new_imap)] == "new"
    assert by_entity[("mfa-no-baseline", "Contoso Ltd")] == "persisting"
    assert [r.id for r in store.list_runs(tenant="contoso")] == [second.result.run.id, first.result.run.id]


def test_one_failing_tenant_does_not_stop_the_others(tmp_path: Path, monkeypatch) -> None:
    """Two tenants on the real simulator over HTTPS: one with a wrong secret fails, the other completes."""
    from auditor.sim import SimTenant, Simulator

    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOOD_SECRET", "right-secret")
    monkeypatch.setenv("BAD_SECRET", "wrong-secret")
    snap = demo_snapshot()
    with Simulator(
        tenants=[SimTenant(snap, client_id="11111111-1111-1111-1111-111111111111", client_secret="right-secret")]
    ) as sim:
        good = sim.tenant_config(secret_env="GOOD_SECRET") | {"name": "good"}
        bad = sim.tenant_config(secret_env="BAD_SECRET") | {"name": "bad"}
        config = parse_config({"reports": {"dir": str(tmp_path / "r")}, "tenants": [bad, good]})
        outcomes = {o.tenant: o for o in run_audits(config, ["bad", "good"], formats=["json"])}
    assert outcomes["bad"].status == "failed"
    assert outcomes["bad"].errors and "bad" in outcomes["bad"].errors[0]
    assert outcomes["good"].status == "complete"
    assert outcomes["good"].files["json"].exists()


def test_failed_delivery_keeps_reports_and_is_recorded_in_history(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = parse_config(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/h.db"},
            "reports": {"dir": str(tmp_path / "r")},
            "email": {
                "transport": "smtp",
                "sender": "a@contoso.test",
                "to": ["b@contoso.test"],
                "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "timeout_seconds": 5},
            },
        }
    )
    store = HistoryStore(config.storage.url)
    outcome = run_audit(config, snapshot=demo_snapshot(), history=store, email=True, formats=["json", "html"], now=T0)
    assert outcome.email_sent is False
    assert outcome.errors and outcome.errors[0].startswith("email delivery failed")
    assert outcome.files["json"].exists() and outcome.files["html"].exists()
    [run] = store.list_runs(tenant="contoso")
    assert run.status == "complete"
    assert run.errors == outcome.errors
