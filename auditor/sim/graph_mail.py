"""Graph mail routes: sendMail, drafts, attachments, large-attachment upload sessions, send."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.sim.options import SentAttachment, SentMail
from auditor.sim.routing import Route, SimContext, route
from auditor.sim.wire import SimRequest, SimResponse, graph_error

MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_CHUNK_BYTES = 4 * 1024 * 1024  # Outlook requires upload chunks of at most 4 MB
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def _sender(req: SimRequest, uid: str, route_name: str) -> str | SimResponse:
    idx = req.tenant.user_index.get(uid.lower())
    if idx is None:
        return graph_error(404, "ErrorInvalidUser", f"The requested user '{uid}' is invalid.", route_name)
    user = req.tenant.users[idx]
    return str(user.get("mail") or user.get("userPrincipalName") or uid)


def _addresses(recipients: Any) -> list[str]:
    out = []
    for r in recipients or []:
        if isinstance(r, dict) and isinstance(r.get("emailAddress"), dict):
            out.append(str(r["emailAddress"].get("address", "")))
    return out


def _decode_attachments(items: Any) -> list[SentAttachment] | str:
    out = []
    for att in items or []:
        if not isinstance(att, dict):
            return "an attachment is not an object"
        try:
            data = base64.b64decode(att.get("contentBytes") or "", validate=True)
        except (binascii.Error, ValueError):
            return f"attachment {att.get('name')!r} has invalid base64 contentBytes"
        out.append(SentAttachment(str(att.get("name", "")), str(att.get("contentType", "")), data))
    return out


def _to_sent(
    req: SimRequest, sender: str, message: dict[str, Any], attachments: list[SentAttachment], via: str, save: Any = None
) -> SentMail:
    body = message["body"] if isinstance(message.get("body"), dict) else {}
    return SentMail(
        tenant_id=req.tenant.tenant_id,
        sender=sender,
        subject=str(message.get("subject", "")),
        to=_addresses(message.get("toRecipients")),
        cc=_addresses(message.get("ccRecipients")),
        bcc=_addresses(message.get("bccRecipients")),
        body_type=str(body.get("contentType", "text")),
        body=str(body.get("content", "")),
        attachments=attachments,
        via=via,
        save_to_sent_items=save,
        raw={k: v for k, v in message.items() if k != "attachments"},
    )


def _bad(message: str, route_name: str) -> SimResponse:
    return graph_error(400, "ErrorInvalidRequest", message, route_name)


def send_mail(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    sender = _sender(req, m.group("uid"), "send_mail")
    if isinstance(sender, SimResponse):
        return sender
    if req.body_size > MAX_REQUEST_BYTES:
        return graph_error(413, "RequestBodyTooLarge", "The maximum request length supported is 4MB.", "send_mail")
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        return _bad("Empty Payload. JSON content expected.", "send_mail")
    message = body["message"]
    if (
        not _addresses(message.get("toRecipients"))
        and not _addresses(message.get("ccRecipients"))
        and not _addresses(message.get("bccRecipients"))
    ):
        return _bad("At least one recipient is required, but none were found.", "send_mail")
    attachments = _decode_attachments(message.get("attachments"))
    if isinstance(attachments, str):
        return _bad(attachments, "send_mail")
    ctx.sent_mail.append(_to_sent(req, sender, message, attachments, "sendMail", body.get("saveToSentItems")))
    return SimResponse(202, None, route="send_mail")


def create_draft(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    sender = _sender(req, m.group("uid"), "messages")
    if isinstance(sender, SimResponse):
        return sender
    if not isinstance(req.body, dict):
        return _bad("Empty Payload. JSON content expected.", "messages")
    attachments = _decode_attachments(req.body.get("attachments"))
    if isinstance(attachments, str):
        return _bad(attachments, "messages")
    mid = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
    ctx.drafts[mid] = {
        "tenant": req.tenant.tenant_id,
        "sender": sender,
        "message": dict(req.body),
        "attachments": attachments,
        "sent": False,
    }
    body = {
        "@odata.context": f"{req.base_url}/{req.version}/$metadata#users('{m.group('uid')}')/messages/$entity",
        "id": mid,
        "isDraft": True,
        "hasAttachments": bool(attachments),
        "createdDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body.update({k: v for k, v in req.body.items() if k != "attachments"})
    return SimResponse(201, body, route="messages")


def _draft(ctx: SimContext, req: SimRequest, mid: str, route_name: str) -> dict[str, Any] | SimResponse:
    draft = ctx.drafts.get(mid)
    if draft is None or draft["tenant"] != req.tenant.tenant_id:
        return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.", route_name)
    if draft["sent"]:
        return graph_error(400, "ErrorInvalidRequest", "The message has already been sent.", route_name)
    return draft


def add_attachment(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    draft = _draft(ctx, req, m.group("mid"), "messages")
    if isinstance(draft, SimResponse):
        return draft
    attachments = _decode_attachments([req.body])
    if isinstance(attachments, str):
        return _bad(attachments, "messages")
    draft["attachments"].extend(attachments)
    return SimResponse(
        201, {"id": uuid.uuid4().hex, "name": attachments[0].name, "size": len(attachments[0].data)}, route="messages"
    )


def create_upload_session(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    draft = _draft(ctx, req, m.group("mid"), "upload_session")
    if isinstance(draft, SimResponse):
        return draft
    item = (req.body or {}).get("AttachmentItem") if isinstance(req.body, dict) else None
    if not isinstance(item, dict) or item.get("attachmentType", "file") != "file" or not item.get("name"):
        return _bad("AttachmentItem with attachmentType 'file' and a name is required.", "upload_session")
    try:
        size = int(item.get("size"))  # type: ignore[arg-type]  # None raises TypeError, answered below
    except (TypeError, ValueError):
        return _bad("AttachmentItem.size must be the attachment's size in bytes.", "upload_session")
    if size <= 0 or size > 150 * 1024 * 1024:
        return _bad("The attachment size must be between 1 byte and 150 MB.", "upload_session")
    sid = uuid.uuid4().hex
    expires = datetime.now(UTC) + timedelta(seconds=ctx.options.upload_session_lifetime_s)
    ctx.uploads[sid] = {
        "draft": m.group("mid"),
        "name": str(item["name"]),
        "content_type": str(item.get("contentType") or "application/octet-stream"),
        "size": size,
        "data": bytearray(),
        "authtoken": secrets.token_urlsafe(24),
        "expires": time.monotonic() + ctx.options.upload_session_lifetime_s,
        "done": False,
    }
    url = (
        f"{req.base_url}/api/v2.0/Users('{m.group('uid')}')/Messages('{m.group('mid')}')"
        f"/AttachmentSessions('{sid}')?authtoken={ctx.uploads[sid]['authtoken']}"
    )
    return SimResponse(
        201,
        {
            "@odata.context": f"{req.base_url}/{req.version}/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": url,
            "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "nextExpectedRanges": ["0-"],
        },
        route="upload_session",
    )


def upload_chunk(ctx: SimContext, sid: str, authtoken: str, headers: Any, data: bytes) -> SimResponse:
    """``PUT uploadUrl`` (no Authorization header): one ≤4 MB chunk, in order; the last answers 201."""
    session = ctx.uploads.get(sid)
    if session is None or not secrets.compare_digest(session["authtoken"], authtoken or ""):
        return graph_error(404, "ErrorItemNotFound", "The upload session was not found.", "upload")
    if headers.get("Authorization"):
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            "Do not send an Authorization header to an upload URL; it is pre-authenticated.",
            "upload",
        )
    if time.monotonic() > session["expires"] or session["done"]:
        return graph_error(404, "ErrorItemNotFound", "The upload session has expired or is complete.", "upload")
    m = _RANGE.match(headers.get("Content-Range", ""))
    if not m:
        return graph_error(400, "ErrorInvalidRequest", "Content-Range 'bytes start-end/total' is required.", "upload")
    start, end, total = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if total != session["size"] or start != len(session["data"]) or end < start or end >= total:
        return graph_error(
            416, "ErrorInvalidRequest", f"Unexpected range; next expected range is {len(session['data'])}-.", "upload"
        )
    if end - start + 1 != len(data):
        return graph_error(400, "ErrorInvalidRequest", "Content-Range does not match the body length.", "upload")
    if len(data) > MAX_CHUNK_BYTES:
        return graph_error(413, "ErrorRequestEntityTooLarge", "Upload chunks must be 4 MB or smaller.", "upload")
    session["data"].extend(data)
    if len(session["data"]) < total:
        return SimResponse(
            200,
            {
                "expirationDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "nextExpectedRanges": [f"{len(session['data'])}-"],
            },
            route="upload",
        )
    session["done"] = True
    draft = ctx.drafts.get(session["draft"])
    if draft is not None:
        draft["attachments"].append(SentAttachment(session["name"], session["content_type"], bytes(session["data"])))
    return SimResponse(201, None, {"Location": f"/attachments/{sid}"}, route="upload")


def send_draft(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    draft = _draft(ctx, req, m.group("mid"), "send_mail")
    if isinstance(draft, SimResponse):
        return draft
    message = draft["message"]
    if (
        not _addresses(message.get("toRecipients"))
        and not _addresses(message.get("ccRecipients"))
        and not _addresses(message.get("bccRecipients"))
    ):
        return _bad("At least one recipient is required, but none were found.", "send_mail")
    draft["sent"] = True
    ctx.sent_mail.append(_to_sent(req, draft["sender"], message, list(draft["attachments"]), "draft"))
    return SimResponse(202, None, route="send_mail")


ROUTES: list[Route] = [
    route("POST", r"^/users/(?P<uid>[^/]+)/sendMail/?$", "send_mail", send_mail, family="mail"),
    route("POST", r"^/users/(?P<uid>[^/]+)/messages/?$", "messages", create_draft, family="mail"),
    route(
        "POST",
        r"^/users/(?P<uid>[^/]+)/messages/(?P<mid>[^/]+)/attachments/createUploadSession/?$",
        "upload_session",
        create_upload_session,
        family="mail",
    ),
    route(
        "POST",
        r"^/users/(?P<uid>[^/]+)/messages/(?P<mid>[^/]+)/attachments/?$",
        "messages",
        add_attachment,
        family="mail",
    ),
    route("POST", r"^/users/(?P<uid>[^/]+)/messages/(?P<mid>[^/]+)/send/?$", "send_mail", send_draft, family="mail"),
]
