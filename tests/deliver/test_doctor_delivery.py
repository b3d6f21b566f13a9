"""``doctor`` checks what delivery needs (issue 12 item 16): an SMTP session as a delivery would open it
(EHLO, STARTTLS offered, AUTH accepted) with no message sent; a failed delivery shows in ``history``."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_inbox import free_port

from auditor.config import AuditorConfig, parse_config
from auditor.demo import demo_snapshot
from auditor.doctor import DoctorReport, check_delivery
from auditor.history import HistoryStore, format_runs
from auditor.pipeline import run_audit

USER, PASSWORD = "mailer", "s3cret-pass"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[object] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def _auth(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls(tmp_path: Path):
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx, str(ca_file)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCTOR_SMTP_USER", USER)
    monkeypatch.setenv("DOCTOR_SMTP_PASSWORD", PASSWORD)


def _server(tls_context=None):
    inbox, port = Inbox(), free_port()
    kwargs = {"tls_context": tls_context, "require_starttls": True, "auth_require_tls": True} if tls_context else {}
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, auth_required=True, authenticator=_auth, **kwargs)
    ctl.start()
    return ctl, inbox, port


def _config(port: int, ca_file: str | None) -> AuditorConfig:
    smtp = {"host": "127.0.0.1", "port": port, "starttls": True, "timeout_seconds": 10, "ca_bundle": ca_file}
    smtp |= {"username_env": "DOCTOR_SMTP_USER", "password_env": "DOCTOR_SMTP_PASSWORD"}
    return parse_config({"email": {"transport": "smtp", "sender": "a@contoso.test", "to": ["b@x.test"], "smtp": smtp}})


def _report() -> DoctorReport:
    return DoctorReport(tenant="contoso", cloud="global", authority="-", graph_token=True, exchange_token=True)


def test_doctor_checks_ehlo_starttls_and_auth_without_sending(tls) -> None:
    ctl, inbox, port = _server(tls[0])
    try:
        report = _report()
        check_delivery(report, _config(port, tls[1]))
    finally:
        ctl.stop()
    assert report.ok and report.delivery_ok
    assert report.delivery is not None
    assert "EHLO ok" in report.delivery and "STARTTLS ok" in report.delivery and "AUTH ok" in report.delivery
    assert inbox.messages == []
    assert "E-mail delivery: ok" in report.render()


def test_doctor_reports_a_rejected_login_without_the_secret(tls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCTOR_SMTP_PASSWORD", "wrong-password")
    ctl, _inbox, port = _server(tls[0])
    try:
        report = _report()
        check_delivery(report, _config(port, tls[1]))
    finally:
        ctl.stop()
    assert not report.ok and not report.delivery_ok
    text = report.render()
    assert "E-mail delivery: FAILED" in text and "rejected the login" in text
    assert "wrong-password" not in text


def test_doctor_reports_starttls_not_offered(tls) -> None:
    ctl, inbox, port = _server(None)
    try:
        report = _report()
        check_delivery(report, _config(port, tls[1]))
    finally:
        ctl.stop()
    assert not report.delivery_ok and "does not offer STARTTLS" in (report.delivery or "")
    assert inbox.messages == []


def test_graph_transport_or_no_email_is_not_checked() -> None:
    report = _report()
    check_delivery(report, parse_config({}))
    assert report.delivery is None and report.ok


def test_a_failed_delivery_is_marked_in_history(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    config = parse_config(
        {
            "reports": {"dir": str(tmp_path / "r")},
            "email": {
                "transport": "smtp",
                "sender": "a@contoso.test",
                "to": ["b@contoso.test"],
                "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "timeout_seconds": 5},
            },
        }
    )
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    when = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    run_audit(config, snapshot=demo_snapshot(), history=store, email=True, formats=["json"], now=when)
    run_audit(config, snapshot=demo_snapshot(), history=store, email=False, formats=["json"], now=when.replace(day=30))
    lines = format_runs(store.list_runs()).splitlines()
    store.close()
    assert "complete (e-mail failed)" in lines[2]  # the older run, listed second
    assert "e-mail failed" not in lines[1]
