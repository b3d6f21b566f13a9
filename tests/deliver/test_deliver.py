"""E-mail delivery over real transports: aiosmtpd on loopback (STARTTLS / implicit TLS with a trustme
certificate, AUTH) and, when available, Graph sendMail against the project's simulator."""

from __future__ import annotations

import email
import email.policy
import io
import socket
import sys
import zipfile
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

sys.path.insert(0, str(Path(__file__).parents[1] / "render"))
from render_sample import make_context

from auditor.config import AuditorConfig, parse_config
from auditor.deliver import (
    MARKER,
    DeliveryResult,
    channel,
    deliver_email,
    known_channels,
    unregister,
    validate_email_config,
)
from auditor.errors import ConfigError, DeliveryError
from auditor.render.email import compose_email
from auditor.render.html import render_html
from auditor.render.workbook import render_xlsx

USER, PASSWORD = "mailer", "s3cret-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.original_content or envelope.content,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "auth": session.authenticated,
            }
        )
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def server_context(ca):
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def smtp_server(server_context):
    """STARTTLS required before AUTH; AUTH required before mail."""
    inbox = Inbox()
    port = free_port()
    ctl = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        auth_require_tls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    ctl.start()
    yield inbox, port
    ctl.stop()


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("TEST_SMTP_USER", USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)


def smtp_config(port: int, ca_file: str | None, **smtp) -> AuditorConfig:
    section = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": True,
        "username_env": "TEST_SMTP_USER",
        "password_env": "TEST_SMTP_PASSWORD",
        "timeout_seconds": 10,
        "ca_bundle": ca_file,
        **smtp,
    }
    return AuditorConfig.model_validate(
        {
            "email": {
                "transport": "smtp",
                "sender": "audit@contoso.com",
                "to": ["secops@contoso.com"],
                "cc": ["ciso@contoso.com"],
                "smtp": section,
            }
        }
    )


@pytest.fixture
def reports(tmp_path):
    result = make_context()  # the report context every renderer and the e-mail read
    folder = tmp_path / "contoso" / "20260302T070000Z"
    files = [render_xlsx(result, folder / "report.xlsx"), render_html(result, folder / "report.html")]
    return result, folder, files


def _message(result, files, **kw):
    return compose_email(
        result, files, sender="audit@contoso.com", to=["secops@contoso.com"], cc=["ciso@contoso.com"], **kw
    )


def test_smtp_starttls_auth_mime_and_idempotency(smtp_server, ca_file, reports) -> None:
    inbox, port = smtp_server
    result, folder, files = reports
    config = smtp_config(port, ca_file)
    sent = deliver_email(config.email, None, _message(result, files), run_id=result.run.id, report_dir=folder)
    assert sent.sent and sent.transport == "smtp"
    assert len(inbox.messages) == 1
    got = inbox.messages[0]
    assert got["tls"] and got["auth"]
    assert got["from"] == "audit@contoso.com"
    assert sorted(got["to"]) == ["ciso@contoso.com", "secops@contoso.com"]
    msg = email.message_from_bytes(got["data"], policy=email.policy.default)
    assert "contoso" in msg["Subject"] and "2 critical" in msg["Subject"]
    assert msg["Message-ID"] == "<entra-auditor.run-123@contoso.com>"
    assert msg.get_content_type() == "multipart/mixed"
    alt, *attachments = list(msg.iter_parts())
    assert alt.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alt.iter_parts()] == ["text/plain", "text/html"]
    html = alt.get_body(("html",)).get_content()
    assert "<script" not in html.lower() and "&lt;script&gt;" in html  # tenant data escaped, no JS
    assert "Incomplete audit" in html and "Top findings" in html
    assert "<style" not in html.lower() and "src=" not in html.lower()  # inline CSS only, no remote images
    text = alt.get_body(("plain",)).get_content()
    assert "INCOMPLETE AUDIT" in text and "ann@contoso.com" in text
    assert "IMAP, POP and SMTP AUTH exposure: 3 open" in text and "Headline risks" in html
    names = {p.get_filename(): p for p in attachments}
    assert set(names) == {"report.xlsx", "report.html"}
    assert names["report.xlsx"].get_content() == files[0].read_bytes()
    # marker, then a retry sends nothing
    marker = folder / MARKER
    assert marker.stat().st_mode & 0o777 == 0o600
    again = deliver_email(config.email, None, _message(result, files), run_id=result.run.id, report_dir=folder)
    assert again.skipped and not again.sent
    assert len(inbox.messages) == 1


def test_large_attachments_are_zipped(smtp_server, ca_file, reports) -> None:
    inbox, port = smtp_server
    result, _folder, files = reports
    deliver_email(
        smtp_config(port, ca_file).email, None, _message(result, files, zip_over_mb=0.001), run_id=result.run.id
    )
    msg = email.message_from_bytes(inbox.messages[0]["data"], policy=email.policy.default)
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/zip"
    with zipfile.ZipFile(io.BytesIO(attachment.get_content())) as zf:
        assert sorted(zf.namelist()) == ["report.html", "report.xlsx"]
        assert zf.read("report.xlsx") == files[0].read_bytes()


def test_wrong_password_is_one_sentence_without_secret(smtp_server, ca_file, reports, monkeypatch) -> None:
    _inbox, port = smtp_server
    result, folder, files = reports
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
    with pytest.raises(DeliveryError) as err:
        deliver_email(smtp_config(port, ca_file).email, None, _message(result, files), run_id="r", report_dir=folder)
    text = str(err.value)
    assert "127.0.0.1" in text and "wrong-password" not in text and "\n" not in text
    assert not (folder / MARKER).exists()
    assert (folder / "report.xlsx").exists() and (folder / "report.html").exists()  # nothing lost


def test_untrusted_certificate_fails(smtp_server, reports) -> None:
    _inbox, port = smtp_server
    result, _folder, files = reports
    with pytest.raises(DeliveryError, match="TLS"):
        deliver_email(smtp_config(port, None).email, None, _message(result, files), run_id="r")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the connection is TLS
def test_implicit_tls(server_context, ca_file, reports) -> None:
    inbox = Inbox()
    port = free_port()
    ctl = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=server_context,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
        server_hostname="127.0.0.1",
    )
    ctl.start()
    try:
        result, _folder, files = reports
        deliver_email(
            smtp_config(port, ca_file, ssl=True, starttls=False).email,
            None,
            _message(result, files),
            run_id=result.run.id,
        )
    finally:
        ctl.stop()
    assert len(inbox.messages) == 1 and inbox.messages[0]["tls"]


def test_starttls_required_but_not_offered(ca_file, reports) -> None:
    inbox = Inbox()
    port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        result, _folder, files = reports
        with pytest.raises(DeliveryError, match="STARTTLS"):
            deliver_email(smtp_config(port, ca_file).email, None, _message(result, files), run_id="r")
    finally:
        ctl.stop()
    assert inbox.messages == []


# ---------------------------------------------------------------- Graph sendMail via the simulator

SIM_SECRET_ENV = "ENTRA_AUDITOR_TEST_DELIVER_SECRET"
SENDER = "adele.vance@contoso.com"


@pytest.fixture
def graph_sim(monkeypatch):
    """The simulator serving the demo tenant, and a config whose e-mail goes through its Graph."""
    from auditor.demo import demo_snapshot
    from auditor.sim import SimOptions, SimTenant, Simulator

    monkeypatch.setenv(SIM_SECRET_ENV, "sim-secret")
    snapshot = demo_snapshot()

    def start(**tenant_kw):
        sim = Simulator([SimTenant(snapshot, **tenant_kw)], SimOptions(reports_per_10s=None, ca_per_second=None))
        sim.start()
        config = AuditorConfig.model_validate(
            {
                "tenants": [
                    {
                        "name": "contoso",
                        "tenant_id": snapshot.tenant_id,
                        "client_id": "11111111-1111-1111-1111-111111111111",
                        "client_secret_env": SIM_SECRET_ENV,
                        "cloud": "custom",
                        "authority_host": sim.authority_host,
                        "graph_endpoint": sim.graph_endpoint,
                        "exchange_endpoint": sim.exchange_endpoint,
                        "ca_bundle": str(sim.ca_bundle_path),
                    }
                ],
                "email": {
                    "transport": "graph",
                    "sender": SENDER,
                    "to": ["secops@contoso.com"],
                    "cc": ["ciso@contoso.com"],
                    "zip_attachments_over_mb": 100,
                },
            }
        )
        started.append(sim)
        return sim, config

    started: list = []
    yield start
    for sim in started:
        sim.stop()


def test_graph_inline_sendmail(graph_sim, reports) -> None:
    sim, config = graph_sim()
    result, folder, files = reports
    message = compose_email(result, files, sender=SENDER, to=["secops@contoso.com"], cc=["ciso@contoso.com"])
    sent = deliver_email(config.email, config.tenants[0], message, run_id=result.run.id, report_dir=folder)
    assert sent.sent and sent.detail == "sendMail"
    (mail,) = sim.sent_mail
    assert mail.via == "sendMail" and mail.to == ["secops@contoso.com"] and mail.cc == ["ciso@contoso.com"]
    assert mail.subject == message["Subject"] and mail.body_type.lower() == "html"
    assert "Top findings" in mail.body and "&lt;script&gt;" in mail.body
    got = {a.name: a.data for a in mail.attachments}
    assert got == {"report.xlsx": files[0].read_bytes(), "report.html": files[1].read_bytes()}
    # the retry is a no-op
    assert deliver_email(config.email, config.tenants[0], message, run_id=result.run.id, report_dir=folder).skipped
    assert len(sim.sent_mail) == 1


def test_graph_upload_session_for_large_attachments(graph_sim, reports, tmp_path) -> None:
    import os

    sim, config = graph_sim()
    result, _folder, files = reports
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(7 * 1024 * 1024 + 123))  # > 3 MB: draft + upload session in 3 chunks
    message = compose_email(result, [*files, big], sender=SENDER, to=["secops@contoso.com"], zip_over_mb=None)
    sent = deliver_email(config.email, config.tenants[0], message, run_id="big-run")
    assert sent.sent and sent.detail == "draft+upload session"
    (mail,) = sim.sent_mail
    assert mail.via == "draft"
    got = {a.name: a.data for a in mail.attachments}
    assert got["big.bin"] == big.read_bytes()
    assert got["report.xlsx"] == files[0].read_bytes()


def test_graph_without_mail_send_permission(graph_sim, reports) -> None:
    from auditor.sim.permissions import ALL_PERMISSIONS

    sim, config = graph_sim(granted=set(ALL_PERMISSIONS) - {"Mail.Send", "Mail.ReadWrite"})
    result, folder, files = reports
    message = compose_email(result, files, sender=SENDER, to=["secops@contoso.com"])
    with pytest.raises(DeliveryError, match="403"):
        deliver_email(config.email, config.tenants[0], message, run_id=result.run.id, report_dir=folder)
    assert not (folder / MARKER).exists() and sim.sent_mail == []


def test_pipeline_demo_run_emails_once(graph_sim, tmp_path) -> None:
    from auditor.pipeline import deliver_report, run_audit

    sim, config = graph_sim()
    outcome = run_audit(config, demo=True, out_dir=tmp_path / "out", email=True)
    assert outcome.email_sent is True, outcome.errors
    (mail,) = sim.sent_mail
    assert {a.name for a in mail.attachments} == {"report.xlsx", "report.html"}
    assert (outcome.report_dir / MARKER).exists()
    again = deliver_report(config.email, config.tenants[0], outcome.result, outcome.report_dir, outcome.files)
    assert again.skipped and len(sim.sent_mail) == 1


def test_graph_just_under_3mb_still_fits_the_4mb_request_limit(graph_sim, reports, tmp_path) -> None:
    """Just under 3 MB of files is > 4 MB once base64-encoded: it must not go inline in sendMail (413)."""
    import os

    sim, config = graph_sim()
    result, _folder, files = reports
    near = tmp_path / "near.bin"
    near.write_bytes(os.urandom(3 * 1024 * 1024 - 1 - sum(f.stat().st_size for f in files)))
    message = compose_email(result, [*files, near], sender=SENDER, to=["secops@contoso.com"], zip_over_mb=None)
    sent = deliver_email(config.email, config.tenants[0], message, run_id="near-run")
    assert sent.detail == "draft+upload session"
    (mail,) = sim.sent_mail
    assert {a.name: a.data for a in mail.attachments}["near.bin"] == near.read_bytes()


# ---------------------------------------------------------------- the channel registry


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"transport": "smtp", "sender": "a@b", "to": ["c@d"]}, "needs an smtp section"),
        ({"transport": "pigeon", "sender": "a@b", "to": ["c@d"]}, "'email.transport'"),
    ],
)
def test_invalid_email_config_names_the_key(section, message) -> None:
    config = parse_config({"email": section}, origin="cfg.yaml")
    with pytest.raises(ConfigError) as err:
        validate_email_config(config, origin="cfg.yaml")
    text = str(err.value)
    assert message in text
    assert text.startswith("cfg.yaml")
    assert "\n" not in text


def test_cli_rejects_an_unknown_channel_at_load(tmp_path, capsys) -> None:
    from auditor.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("email:\n  transport: pigeon\n  sender: a@b\n  to: [c@d]\n")
    assert main(["audit", "--demo", "-c", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'email.transport'" in err and "graph" in err and "smtp" in err


def test_the_builtin_channels_come_from_their_modules() -> None:
    assert {"graph", "smtp"} <= set(known_channels())
    assert known_channels()["smtp"].check is not None


def test_a_new_channel_is_one_registration(tmp_path) -> None:
    """A throwaway channel registered here is validated, chosen by email.transport and delivered through,
    once per run, by the same pipeline path the scheduler and the workers use."""
    from auditor.pipeline import deliver_report, run_audit

    outbox: list = []

    @channel("test-webhook")
    def webhook(email, tenant, message) -> DeliveryResult:
        outbox.append(message)
        return DeliveryResult(
            sent=True, transport="test-webhook", recipients=list(email.to), message_id=message["Message-ID"]
        )

    config = parse_config(
        {"email": {"transport": "test-webhook", "sender": "audit@contoso.com", "to": ["secops@contoso.com"]}}
    )
    try:
        validate_email_config(config)
        not_asked = run_audit(config, demo=True, out_dir=tmp_path / "cli", formats=["json"], email=False)
        assert not_asked.email_sent is None and outbox == []  # CLI without --email
        outcome = run_audit(config, demo=True, out_dir=tmp_path / "scheduled", formats=["json", "html"])
        assert outcome.email_sent is True, outcome.errors  # scheduled / worker run: email is configured
        (message,) = outbox
        assert "contoso" in message["Subject"].lower()
        assert [p.get_filename() for p in message.iter_attachments()] == ["report.html"]
        marker = __import__("json").loads((outcome.report_dir / MARKER).read_text())
        assert marker["transport"] == "test-webhook" and marker["run_id"] == outcome.result.run.id
        again = deliver_report(config.email, None, outcome.result, outcome.report_dir, outcome.files)
        assert again.skipped and len(outbox) == 1
    finally:
        unregister("test-webhook")
    assert "test-webhook" not in known_channels()
    with pytest.raises(ConfigError, match="not a delivery channel"):
        validate_email_config(config)
