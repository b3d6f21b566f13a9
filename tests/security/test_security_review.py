"""Security review regressions: each test fails without the fix it names."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import ssl
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.config import AuditorConfig
from auditor.demo import demo_snapshot
from auditor.errors import StorageError
from auditor.history.db import parse_url
from auditor.pipeline import run_audit
from auditor.render.context import build_report_context
from auditor.render.email import compose_email
from auditor.sim.tls import TlsMaterial
from auditor.snapshot import save
from auditor.transport.auth import install_redaction
from auditor.transport.http import ApiClient, MalformedResponse
from auditor.transport.tls import ssl_context

EVIL_NAME = "../../escaped\x1b]0;owned\x07"


def _evil_snapshot():
    snapshot = demo_snapshot()
    snapshot.tenant["name"] = EVIL_NAME
    return snapshot


# ------------------------------------------------------------------ report folders and attachments


def test_snapshot_tenant_name_cannot_leave_the_report_folder(tmp_path: Path) -> None:
    base = tmp_path / "reports"
    outcome = run_audit(AuditorConfig(), snapshot=_evil_snapshot(), out_dir=base, formats=["json"])
    folder = outcome.report_dir
    assert folder is not None
    assert folder.resolve().is_relative_to(base.resolve())
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.parent.glob("escaped*"))
    assert "/" not in folder.parent.name and "\x1b" not in folder.parent.name
    # the tenant folder is created owner-only too, not just the run folder
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "findings.json").stat().st_mode) == 0o600


def test_zipped_attachment_name_has_no_path(tmp_path: Path) -> None:
    outcome = run_audit(AuditorConfig(), snapshot=_evil_snapshot(), out_dir=tmp_path, formats=["json"])
    assert outcome.result is not None
    message = compose_email(
        build_report_context(outcome.result),
        [outcome.files["json"]],
        sender="audit@contoso.com",
        to=["secops@contoso.com"],
        zip_over_mb=0,
    )
    names = [part.get_filename() for part in message.iter_attachments()]
    assert len(names) == 1 and names[0].endswith(".zip")
    assert "/" not in names[0] and ".." not in names[0] and "\x1b" not in names[0]


def test_cli_output_sanitises_a_snapshot_tenant_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/auditor.yaml here: offline run without history
    monkeypatch.delenv("ENTRA_AUDITOR_CONFIG", raising=False)
    path = save(_evil_snapshot(), tmp_path / "evil.json.gz")
    main(["audit", "--snapshot", str(path), "--out", str(tmp_path / "out"), "--format", "json"])
    captured = capsys.readouterr()
    assert "escaped" in captured.out
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out + captured.err


# ------------------------------------------------------------------ secrets in messages and logs


def test_unparseable_database_url_never_repeats_its_password() -> None:
    for url in ("postgresql+psycopg://auditor:Sup3rS3cretPw@db:notaport/auditor", "not a url auditor:Sup3rS3cretPw@db"):
        with pytest.raises(StorageError) as info:
            parse_url(url)
        assert "Sup3rS3cretPw" not in str(info.value)
        assert "storage.url" in str(info.value)


def test_tracebacks_in_logs_are_redacted() -> None:
    secret = "tr4ceback-Secret-Value-0123456789"
    install_redaction(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("auditor.test_security_review")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"upstream said client_secret={secret} and token eyJhbGciOi.eyJzdWIiOi.sig")
        except RuntimeError:
            logger.exception("collection failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "collection failed" in text and "RuntimeError" in text
    assert secret not in text and "eyJhbGciOi.eyJzdWIiOi" not in text


# ------------------------------------------------------------------ bearer token stays on the API host


class _Tokens:
    """The token side of ApiClient; the test is about where the HTTP client sends the token."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context

    async def get(self, scope: str) -> str:
        return "bearer-token-for-graph-only"

    def invalidate(self, scope: str, value: str) -> None:
        pass


def _serve(context: ssl.SSLContext, body_for: dict[str, object], seen: list[dict[str, str]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
            data = json.dumps(body_for.get("page", {"value": []})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_next_link_to_another_host_is_not_followed_with_the_token(tmp_path: Path) -> None:
    from auditor.collect.graph import GraphClient

    tls = TlsMaterial(tmp_path)
    graph_seen: list[dict[str, str]] = []
    other_seen: list[dict[str, str]] = []
    other = _serve(tls.server_context(), {"page": {"value": [{"id": "x"}]}}, other_seen)
    page = {
        "value": [{"id": "1"}],
        "@odata.nextLink": f"https://localhost:{other.server_address[1]}/v1.0/users?$skiptoken=2",
    }
    graph = _serve(tls.server_context(), {"page": page}, graph_seen)
    base = f"https://127.0.0.1:{graph.server_address[1]}"

    async def collect() -> None:
        api = ApiClient(_Tokens(ssl_context(str(tls.ca_bundle_path))), max_retries=0)  # type: ignore[arg-type]
        try:
            await GraphClient(api, base).get_all(f"{base}/v1.0/users")
        finally:
            await api.aclose()

    try:
        with pytest.raises(MalformedResponse, match="nextLink"):
            asyncio.run(collect())
    finally:
        graph.shutdown()
        other.shutdown()
    assert graph_seen and graph_seen[0]["auth"] == "Bearer bearer-token-for-graph-only"
    assert other_seen == []  # the token never reached the other host


# ------------------------------------------------------------------ SMTP credentials need TLS


def test_smtp_password_is_never_sent_in_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from auditor.deliver.channels.smtp import send_smtp
    from auditor.errors import DeliveryError

    seen: list[object] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append(auth_data)
        return AuthResult(success=True, handled=False)

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A server that offers AUTH without TLS (misconfigured relay, or a machine in the middle).
    ctl = Controller(Inbox(), hostname="127.0.0.1", port=port, auth_require_tls=False, authenticator=authenticator)
    ctl.start()
    monkeypatch.setenv("SECREV_SMTP_USER", "mailer")
    monkeypatch.setenv("SECREV_SMTP_PASSWORD", "pl4intext-Password")
    config = AuditorConfig.model_validate(
        {
            "email": {
                "transport": "smtp",
                "sender": "audit@contoso.com",
                "to": ["secops@contoso.com"],
                "smtp": {
                    "host": "127.0.0.1",
                    "port": port,
                    "starttls": False,
                    "timeout_seconds": 5,
                    "username_env": "SECREV_SMTP_USER",
                    "password_env": "SECREV_SMTP_PASSWORD",
                },
            }
        }
    )
    outcome = run_audit(AuditorConfig(), snapshot=demo_snapshot(), out_dir=tmp_path, formats=["json"])
    assert outcome.result is not None and config.email is not None
    message = compose_email(
        build_report_context(outcome.result), [], sender="audit@contoso.com", to=["secops@contoso.com"]
    )
    try:
        with pytest.raises(DeliveryError, match="unencrypted"):
            send_smtp(config.email, message)
    finally:
        ctl.stop()
    assert seen == []  # no AUTH exchange happened, so the password never crossed the wire


# ------------------------------------------------------------------ debug logs of every HTTP library


def test_debug_logs_of_a_real_collection_hold_no_secret_or_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole collection against the simulator with msal/httpx/httpcore/urllib3 at DEBUG."""
    from auditor.collect.collector import collect_tenant
    from auditor.sim import SimOptions, SimTenant, Simulator
    from auditor.sim.tenant_gen import generate_tenant

    secret = "Debug-Log-Client-Secret-4242"
    monkeypatch.setenv("SECREV_SIM_SECRET", secret)
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    snapshot = generate_tenant(60, seed=3)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    names = ("", "msal", "httpx", "httpcore", "urllib3", "auditor")
    old = {n: logging.getLogger(n).level for n in names}
    logging.getLogger().addHandler(handler)
    for n in names:
        logging.getLogger(n).setLevel(logging.DEBUG)
    try:
        with Simulator(
            tenants=[SimTenant(snapshot, client_secret=secret)],
            options=SimOptions(reports_per_10s=None, ca_per_second=None),
        ) as sim:
            config = AuditorConfig.model_validate(
                {
                    "tenants": [
                        {
                            "name": "contoso",
                            "tenant_id": snapshot.tenant_id,
                            "client_id": "11111111-1111-1111-1111-111111111111",
                            "client_secret_env": "SECREV_SIM_SECRET",
                            "cloud": "custom",
                            "authority_host": sim.authority_host,
                            "graph_endpoint": sim.graph_endpoint,
                            "exchange_endpoint": sim.exchange_endpoint,
                            "ca_bundle": str(sim.ca_bundle_path),
                        }
                    ]
                }
            )
            collected = collect_tenant(config.tenants[0], config)
    finally:
        logging.getLogger().removeHandler(handler)
        for n, level in old.items():
            logging.getLogger(n).setLevel(level)
    text = stream.getvalue()
    assert collected.collected("users")
    assert "HTTP Request" in text or "urllib3" in text or "https://" in text  # the debug logs did flow
    assert secret not in text
    assert not re.search(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.", text)  # no JWT (access token)
    saved = save(collected, tmp_path / "s.json.gz")
    import gzip

    assert secret.encode() not in gzip.decompress(saved.read_bytes())
