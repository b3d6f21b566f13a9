"""Deliver the report e-mail by SMTP or Microsoft Graph ``sendMail``.

Idempotency: when ``report_dir`` is given, a successful delivery writes ``<report_dir>/.email-sent``
(JSON: run id, transport, time, Message-ID, recipients; mode 0600, atomic). ``deliver_email`` checks that
marker first and, when it names the same run, sends nothing and returns ``DeliveryResult(skipped=True)``
— so a retried run (or a re-invoked pipeline) never e-mails the same report twice. The Message-ID is
also derived from the run id, so receiving systems can drop duplicates across report folders.

Failure: every transport problem is logged and raised as one ``DeliveryError`` sentence naming the
transport, host or sender; no secret is ever in it. Nothing on disk is touched by a failure.
"""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from auditor.config import AuditorConfig, EmailConfig, SmtpConfig, TenantConfig
from auditor.errors import AuditorError, ConfigError, DeliveryError
from auditor.render.atomic import atomic_write

log = logging.getLogger("auditor.deliver")

MARKER = ".email-sent"
MAX_REQUEST = 4 * 1024 * 1024  # Graph rejects request bodies over 4 MB (413)
REQUEST_MARGIN = 256 * 1024  # JSON framing, headers and rounding
MAX_ATTACHMENT = 150 * 1024 * 1024  # Graph upload sessions accept up to 150 MB
CHUNK = 3 * 1024 * 1024  # upload-session chunks must be <= 4 MB (and multiples of 320 KiB)
GRAPH_RETRIES = 4


@dataclass
class DeliveryResult:
    sent: bool
    transport: str
    skipped: bool = False
    detail: str = ""
    message_id: str | None = None
    recipients: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- idempotency marker

def already_sent(report_dir: Path | None, run_id: str) -> dict[str, Any] | None:
    """The marker of an earlier successful delivery of this run, if any."""
    if report_dir is None:
        return None
    marker = Path(report_dir) / MARKER
    try:
        doc = json.loads(marker.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("Ignoring unreadable e-mail marker %s", marker)
        return None
    return doc if isinstance(doc, dict) and doc.get("run_id") == run_id else None


def _write_marker(report_dir: Path, run_id: str, result: DeliveryResult) -> None:
    doc = {"run_id": run_id, "transport": result.transport, "sent_at": datetime.now(UTC).isoformat(),
           "message_id": result.message_id, "recipients": result.recipients}
    try:
        atomic_write(Path(report_dir) / MARKER, json.dumps(doc, indent=2) + "\n")
    except AuditorError as exc:  # the mail is out; failing to record it must not fail the run
        log.error("E-mail for run %s was sent but the marker could not be written: %s", run_id, exc)


def _recipients(message: EmailMessage) -> list[str]:
    pairs = getaddresses(message.get_all("To", []) + message.get_all("Cc", []) + message.get_all("Bcc", []))
    return [addr for _name, addr in pairs if addr]


# ---------------------------------------------------------------- entry point

def deliver_email(
    config: AuditorConfig,
    tenant: TenantConfig | None,
    message: EmailMessage,
    *,
    run_id: str,
    report_dir: Path | None = None,
    graph_client: Callable[[TenantConfig], tuple[httpx.Client, str, Callable[[], str]]] | None = None,
) -> DeliveryResult:
    """Send ``message`` with the configured transport, at most once per run (see module docstring).

    ``tenant`` supplies the credentials and endpoints for the Graph transport (the audited tenant's
    app registration, the same one the collector uses); SMTP ignores it. ``graph_client`` lets callers
    inject ``(client, graph_base_url, token_getter)``; by default one is built from the tenant.
    Raises ``DeliveryError`` (logged) when the message could not be delivered.
    """
    email = config.email
    if email is None:
        raise ConfigError("E-mail delivery was requested but the configuration has no 'email' section.")
    previous = already_sent(report_dir, run_id)
    if previous is not None:
        log.info("E-mail for run %s already sent at %s; not sending again", run_id, previous.get("sent_at"))
        return DeliveryResult(sent=False, skipped=True, transport=str(previous.get("transport", email.transport)),
                              detail=f"already sent at {previous.get('sent_at')}",
                              message_id=previous.get("message_id"), recipients=previous.get("recipients", []))
    try:
        if email.transport == "smtp":
            result = send_smtp(email, message)
        else:
            if tenant is None:
                raise DeliveryError("Graph e-mail delivery needs a tenant (its app registration sends the mail).")
            result = send_graph(email, tenant, message, graph_client=graph_client)
    except DeliveryError as exc:
        log.error("E-mail delivery for run %s failed: %s", run_id, exc)
        raise
    log.info("E-mail for run %s sent via %s to %d recipient(s)", run_id, result.transport, len(result.recipients))
    if report_dir is not None:
        _write_marker(Path(report_dir), run_id, result)
    return result


# ---------------------------------------------------------------- SMTP

def _smtp_context(smtp: SmtpConfig) -> ssl.SSLContext:
    from auditor.collect.tls import ssl_context

    return ssl_context(smtp.ca_bundle)


def send_smtp(email: EmailConfig, message: EmailMessage) -> DeliveryResult:
    """SMTP with implicit TLS (``ssl``) or STARTTLS (``starttls``, required when set), then AUTH if configured."""
    smtp = email.smtp
    if smtp is None:
        raise ConfigError("email.transport is smtp but the 'email.smtp' section is missing.")
    recipients = _recipients(message)
    where = f"SMTP server {smtp.host}:{smtp.port}"
    username = smtp.username()
    if username and not (smtp.ssl or smtp.starttls):
        raise DeliveryError(f"{where}: refusing to send the SMTP password over an unencrypted connection; "
                            "set email.smtp.starttls or email.smtp.ssl.")
    password = smtp.password() if username else None
    context = _smtp_context(smtp) if (smtp.ssl or smtp.starttls) else None
    try:
        if smtp.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_seconds,
                                                    context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
        with client:
            client.ehlo()
            if smtp.starttls and not smtp.ssl:
                if not client.has_extn("starttls"):
                    raise DeliveryError(f"{where} does not offer STARTTLS, which email.smtp.starttls requires.")
                client.starttls(context=context)
                client.ehlo()
            if username:
                client.login(username, password or "")
            refused = client.send_message(message, from_addr=email.sender, to_addrs=recipients)
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{where} rejected the login for the configured user ({exc.smtp_code}).") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"{where} refused every recipient ({', '.join(exc.recipients)}).") from exc
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"{where} failed: {_smtp_reason(exc)}.") from exc
    except ssl.SSLError as exc:
        raise DeliveryError(f"{where}: TLS failed ({exc.reason or exc}); set email.smtp.ca_bundle "
                            "or SSL_CERT_FILE if the server uses a private CA.") from exc
    except OSError as exc:
        raise DeliveryError(f"{where} cannot be reached ({exc.strerror or exc}).") from exc
    if refused:
        log.warning("SMTP refused some recipients: %s", ", ".join(refused))
    return DeliveryResult(sent=True, transport="smtp", message_id=message["Message-ID"],
                          recipients=[r for r in recipients if r not in refused],
                          detail=f"{where}")


def _smtp_reason(exc: smtplib.SMTPException) -> str:
    code = getattr(exc, "smtp_code", None)
    text = getattr(exc, "smtp_error", b"")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    reason = f"{code} {text}".strip() if code else (str(exc) or type(exc).__name__)
    return reason.rstrip(". ")


# ---------------------------------------------------------------- Microsoft Graph

@dataclass
class _Parts:
    subject: str
    html: str
    to: list[str]
    cc: list[str]
    attachments: list[tuple[str, str, bytes]]  # (name, content type, data)


def _split(message: EmailMessage) -> _Parts:
    body = message.get_body(("html", "plain"))
    html = body.get_content() if body is not None else ""
    if body is not None and body.get_content_type() == "text/plain":
        import html as html_mod

        html = "<pre>" + html_mod.escape(html) + "</pre>"
    attachments = []
    for part in message.iter_attachments():
        data = part.get_payload(decode=True) or b""
        attachments.append((part.get_filename() or "attachment", part.get_content_type(), data))
    return _Parts(
        subject=str(message["Subject"] or ""), html=html,
        to=[a for _n, a in getaddresses(message.get_all("To", [])) if a],
        cc=[a for _n, a in getaddresses(message.get_all("Cc", [])) if a],
        attachments=attachments,
    )


def _graph_defaults(tenant: TenantConfig) -> tuple[httpx.Client, str, Callable[[], str]]:
    from auditor.collect.auth import TokenProvider
    from auditor.collect.clouds import endpoints_for
    from auditor.collect.tls import ssl_context

    endpoints = endpoints_for(tenant)
    context = ssl_context(tenant.ca_bundle)
    provider = TokenProvider(tenant, endpoints=endpoints, context=context)
    client = httpx.Client(verify=context, timeout=120)
    try:
        provider.get_sync(endpoints.graph_scope)  # fail early, as an auth problem
    except AuditorError as exc:
        client.close()
        raise DeliveryError(f"Graph e-mail: {exc}") from exc
    return client, f"{endpoints.graph}/v1.0", lambda: provider.get_sync(endpoints.graph_scope)


class _Graph:
    def __init__(self, client: httpx.Client, base: str, token: Callable[[], str], sender: str) -> None:
        self.client, self.base, self.token, self.sender = client, base.rstrip("/"), token, sender
        self.user = f"{self.base}/users/{quote(sender, safe='@')}"

    def call(self, method: str, url: str, *, json_body: Any = None, auth: bool = True,
             content: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        for attempt in range(GRAPH_RETRIES + 1):
            hdrs = dict(headers or {})
            if auth:
                hdrs["Authorization"] = f"Bearer {self.token()}"
            try:
                resp = self.client.request(method, url, json=json_body, content=content, headers=hdrs)
            except httpx.HTTPError as exc:
                if attempt < GRAPH_RETRIES:
                    time.sleep(min(2 ** attempt, 10))
                    continue
                raise DeliveryError(f"Graph e-mail from {self.sender}: {type(exc).__name__} talking to "
                                    f"{httpx.URL(url).host}.") from exc
            if resp.status_code in (429, 503, 504) and attempt < GRAPH_RETRIES:
                wait = resp.headers.get("Retry-After")
                time.sleep(min(float(wait) if wait and wait.isdigit() else 2 ** attempt, 30))
                continue
            if resp.status_code >= 400:
                raise DeliveryError(f"Graph e-mail from {self.sender} failed: {method} "
                                    f"{httpx.URL(url).path.rsplit('/', 1)[-1]} returned {resp.status_code} "
                                    f"{_graph_error(resp)}.")
            return resp
        raise DeliveryError(f"Graph e-mail from {self.sender}: still throttled after {GRAPH_RETRIES} retries.")


def _graph_error(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error", {})
        return f"{err.get('code', '')}: {err.get('message', '')}".strip(": ").rstrip(".")
    except (ValueError, AttributeError):
        return resp.reason_phrase


def _recipients_json(addresses: list[str]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a}} for a in addresses]


def _file_attachment(name: str, ctype: str, data: bytes) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.fileAttachment", "name": name, "contentType": ctype,
            "contentBytes": base64.b64encode(data).decode("ascii")}


def send_graph(email: EmailConfig, tenant: TenantConfig, message: EmailMessage, *,
               graph_client: Callable[[TenantConfig], tuple[httpx.Client, str, Callable[[], str]]] | None = None,
               ) -> DeliveryResult:
    """``sendMail`` with inline attachments when the whole request stays under Graph's 4 MB body limit
    (attachments travel base64, so about 3 MB of files); otherwise a draft, small attachments posted
    one by one, upload sessions for the large ones (up to 150 MB, chunks of 3 MB, PUT without
    Authorization), then ``send``."""
    parts = _split(message)
    too_big = [name for name, _t, data in parts.attachments if len(data) > MAX_ATTACHMENT]
    if too_big:
        raise DeliveryError(f"Attachment {too_big[0]} is larger than Graph's 150 MB limit.")
    client, base, token = (graph_client or _graph_defaults)(tenant)
    graph = _Graph(client, base, token, email.sender)
    payload: dict[str, Any] = {
        "subject": parts.subject, "body": {"contentType": "HTML", "content": parts.html},
        "toRecipients": _recipients_json(parts.to), "ccRecipients": _recipients_json(parts.cc),
        "internetMessageHeaders": [{"name": "X-Entra-Auditor-Run", "value": str(message["X-Entra-Auditor-Run"])}]
        if message["X-Entra-Auditor-Run"] else [],
    }
    recipients = parts.to + parts.cc
    try:
        inline = _b64_size(sum(len(d) for _n, _t, d in parts.attachments)) + len(parts.html.encode("utf-8"))
        if inline + REQUEST_MARGIN < MAX_REQUEST:
            payload["attachments"] = [_file_attachment(*a) for a in parts.attachments]
            graph.call("POST", f"{graph.user}/sendMail", json_body={"message": payload, "saveToSentItems": False})
            return DeliveryResult(sent=True, transport="graph", detail="sendMail",
                                  message_id=message["Message-ID"], recipients=recipients)
        draft = graph.call("POST", f"{graph.user}/messages", json_body=payload).json()
        msg_url = f"{graph.user}/messages/{quote(str(draft['id']), safe='')}"
        for name, ctype, data in parts.attachments:
            if _b64_size(len(data)) + REQUEST_MARGIN < MAX_REQUEST:
                graph.call("POST", f"{msg_url}/attachments", json_body=_file_attachment(name, ctype, data))
            else:
                _upload(graph, msg_url, name, ctype, data)
        graph.call("POST", f"{msg_url}/send")
        return DeliveryResult(sent=True, transport="graph", detail="draft+upload session",
                              message_id=message["Message-ID"], recipients=recipients)
    finally:
        if graph_client is None:
            client.close()


def _b64_size(n: int) -> int:
    """Bytes of ``n`` bytes once base64-encoded (attachments travel base64 inside the JSON body)."""
    return 4 * ((n + 2) // 3)


def _upload(graph: _Graph, msg_url: str, name: str, ctype: str, data: bytes) -> None:
    session = graph.call("POST", f"{msg_url}/attachments/createUploadSession", json_body={
        "AttachmentItem": {"attachmentType": "file", "name": name, "size": len(data), "contentType": ctype},
    }).json()
    upload_url = session.get("uploadUrl")
    if not upload_url:
        raise DeliveryError(f"Graph e-mail: no upload URL returned for attachment {name}.")
    start = 0
    while start < len(data):
        chunk = data[start:start + CHUNK]
        end = start + len(chunk) - 1
        # The upload URL carries its own token: sending Authorization here is an error.
        graph.call("PUT", upload_url, auth=False, content=chunk, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(len(chunk)),
            "Content-Range": f"bytes {start}-{end}/{len(data)}",
        })
        start = end + 1


# ---------------------------------------------------------------- what the pipeline calls

def send_report(
    config: AuditorConfig,
    tenant: TenantConfig | None,
    result: Any,
    report_dir: Path,
    files: dict[str, Path],
) -> DeliveryResult:
    """Compose the run's e-mail (report.xlsx and report.html attached) and deliver it once per run.

    Idempotent through ``<report_dir>/.email-sent`` (see the module docstring): calling it again for
    the same run, e.g. after a crash between delivery and bookkeeping, sends nothing.
    """
    from auditor.render import registry
    from auditor.render.context import build_report_context
    from auditor.render.email import compose_email

    email = config.email
    if email is None:
        raise ConfigError("E-mail delivery was requested but the configuration has no 'email' section.")
    previous = already_sent(report_dir, result.run.id)
    if previous is not None:
        return DeliveryResult(sent=False, skipped=True, transport=str(previous.get("transport")),
                              detail=f"already sent at {previous.get('sent_at')}",
                              message_id=previous.get("message_id"), recipients=previous.get("recipients", []))
    attachments = [files[r.format] for r in registry.attachments() if r.format in files]
    message = compose_email(build_report_context(result), attachments, sender=email.sender, to=email.to, cc=email.cc,
                            zip_over_mb=email.zip_attachments_over_mb)
    return deliver_email(config, tenant, message, run_id=result.run.id, report_dir=report_dir)
