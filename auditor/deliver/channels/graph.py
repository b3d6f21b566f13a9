"""The ``graph`` channel: Microsoft Graph ``sendMail`` from ``email.sender``'s mailbox, with the audited
tenant's app registration (``Mail.Send``), upload sessions for large attachments and throttling retries."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, cast
from urllib.parse import quote

import httpx

from auditor.config import EmailConfig, TenantConfig
from auditor.deliver.registry import DeliveryResult, channel
from auditor.errors import AuditorError, DeliveryError
from auditor.transport.auth import TokenProvider
from auditor.transport.clouds import endpoints_for
from auditor.transport.tls import ssl_context

MAX_REQUEST = 4 * 1024 * 1024  # Graph rejects request bodies over 4 MB (413)
REQUEST_MARGIN = 256 * 1024  # JSON framing, headers and rounding
MAX_ATTACHMENT = 150 * 1024 * 1024  # Graph upload sessions accept up to 150 MB
CHUNK = 3 * 1024 * 1024  # upload-session chunks must be <= 4 MB (and multiples of 320 KiB)
GRAPH_RETRIES = 4

GraphClientFactory = Callable[[TenantConfig], tuple[httpx.Client, str, Callable[[], str]]]


@channel("graph")
def graph_channel(email: EmailConfig, tenant: TenantConfig | None, message: EmailMessage) -> DeliveryResult:
    """Graph ``sendMail`` with the audited tenant's app registration."""
    if tenant is None:
        raise DeliveryError("Graph e-mail delivery needs a tenant (its app registration sends the mail).")
    return send_graph(email, tenant, message)


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
        data = cast(bytes, part.get_payload(decode=True) or b"")  # decode=True: the bytes of a leaf part
        attachments.append((part.get_filename() or "attachment", part.get_content_type(), data))
    return _Parts(
        subject=str(message["Subject"] or ""),
        html=html,
        to=[a for _n, a in getaddresses(message.get_all("To", [])) if a],
        cc=[a for _n, a in getaddresses(message.get_all("Cc", [])) if a],
        attachments=attachments,
    )


def _graph_defaults(tenant: TenantConfig) -> tuple[httpx.Client, str, Callable[[], str]]:
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

    def call(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        auth: bool = True,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        for attempt in range(GRAPH_RETRIES + 1):
            hdrs = dict(headers or {})
            if auth:
                hdrs["Authorization"] = f"Bearer {self.token()}"
            try:
                resp = self.client.request(method, url, json=json_body, content=content, headers=hdrs)
            except httpx.HTTPError as exc:
                if attempt < GRAPH_RETRIES:
                    time.sleep(min(2**attempt, 10))
                    continue
                raise DeliveryError(
                    f"Graph e-mail from {self.sender}: {type(exc).__name__} talking to {httpx.URL(url).host}."
                ) from exc
            if resp.status_code in (429, 503, 504) and attempt < GRAPH_RETRIES:
                wait = resp.headers.get("Retry-After")
                time.sleep(min(float(wait) if wait and wait.isdigit() else 2**attempt, 30))
                continue
            if resp.status_code >= 400:
                raise DeliveryError(
                    f"Graph e-mail from {self.sender} failed: {method} "
                    f"{httpx.URL(url).path.rsplit('/', 1)[-1]} returned {resp.status_code} "
                    f"{_graph_error(resp)}."
                )
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
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentType": ctype,
        "contentBytes": base64.b64encode(data).decode("ascii"),
    }


def send_graph(
    email: EmailConfig,
    tenant: TenantConfig,
    message: EmailMessage,
    *,
    graph_client: GraphClientFactory | None = None,
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
        "subject": parts.subject,
        "body": {"contentType": "HTML", "content": parts.html},
        "toRecipients": _recipients_json(parts.to),
        "ccRecipients": _recipients_json(parts.cc),
        "internetMessageHeaders": [{"name": "X-Entra-Auditor-Run", "value": str(message["X-Entra-Auditor-Run"])}]
        if message["X-Entra-Auditor-Run"]
        else [],
    }
    recipients = parts.to + parts.cc
    try:
        inline = _b64_size(sum(len(d) for _n, _t, d in parts.attachments)) + len(parts.html.encode("utf-8"))
        if inline + REQUEST_MARGIN < MAX_REQUEST:
            payload["attachments"] = [_file_attachment(*a) for a in parts.attachments]
            graph.call("POST", f"{graph.user}/sendMail", json_body={"message": payload, "saveToSentItems": False})
            return DeliveryResult(
                sent=True, transport="graph", detail="sendMail", message_id=message["Message-ID"], recipients=recipients
            )
        draft = graph.call("POST", f"{graph.user}/messages", json_body=payload).json()
        msg_url = f"{graph.user}/messages/{quote(str(draft['id']), safe='')}"
        for name, ctype, data in parts.attachments:
            if _b64_size(len(data)) + REQUEST_MARGIN < MAX_REQUEST:
                graph.call("POST", f"{msg_url}/attachments", json_body=_file_attachment(name, ctype, data))
            else:
                _upload(graph, msg_url, name, ctype, data)
        graph.call("POST", f"{msg_url}/send")
        return DeliveryResult(
            sent=True,
            transport="graph",
            detail="draft+upload session",
            message_id=message["Message-ID"],
            recipients=recipients,
        )
    finally:
        if graph_client is None:
            client.close()


def _b64_size(n: int) -> int:
    """Bytes of ``n`` bytes once base64-encoded (attachments travel base64 inside the JSON body)."""
    return 4 * ((n + 2) // 3)


def _upload(graph: _Graph, msg_url: str, name: str, ctype: str, data: bytes) -> None:
    session = graph.call(
        "POST",
        f"{msg_url}/attachments/createUploadSession",
        json_body={
            "AttachmentItem": {"attachmentType": "file", "name": name, "size": len(data), "contentType": ctype},
        },
    ).json()
    upload_url = session.get("uploadUrl")
    if not upload_url:
        raise DeliveryError(f"Graph e-mail: no upload URL returned for attachment {name}.")
    start = 0
    while start < len(data):
        chunk = data[start : start + CHUNK]
        end = start + len(chunk) - 1
        # The upload URL carries its own token: sending Authorization here is an error.
        graph.call(
            "PUT",
            upload_url,
            auth=False,
            content=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(len(chunk)),
                "Content-Range": f"bytes {start}-{end}/{len(data)}",
            },
        )
        start = end + 1
