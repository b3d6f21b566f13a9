"""Wire-format helpers shared by every route: requests, responses, error bodies, paging tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"


@dataclass
class SimRequest:
    """One Graph/EXO call, direct or a ``$batch`` sub-request, already authenticated."""

    method: str
    path: str  # after the version segment (Graph) or the tenant segment (EXO), e.g. "/users"
    version: str  # "v1.0" | "beta"
    query: dict[str, str]  # keys lower-cased, leading "$" removed
    headers: Mapping[str, str]
    body: Any
    base_url: str  # scheme://host:port of the service that was called
    tenant: Any  # TenantState
    claims: dict[str, Any]
    in_batch: bool = False
    raw_query: str = ""
    body_size: int = 0


@dataclass
class SimResponse:
    status: int
    body: Any = None  # JSON-able, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)
    route: str = "unknown"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def request_id() -> str:
    return str(uuid.uuid4())


def graph_error(
    status: int, code: str, message: str, route: str = "unknown", headers: dict[str, str] | None = None
) -> SimResponse:
    """An error in Graph's shape: ``{"error":{"code","message","innerError":{...}}}``."""
    rid = request_id()
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": now_iso(), "request-id": rid, "client-request-id": rid},
        }
    }
    hdrs = {"request-id": rid, "client-request-id": rid}
    hdrs.update(headers or {})
    return SimResponse(status, body, hdrs, route)


def exo_error(
    status: int, code: str, message: str, route: str = "exo_command", headers: dict[str, str] | None = None
) -> SimResponse:
    """An error in the Exchange admin API's shape (details + innererror.internalException)."""
    rid = request_id()
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": [{"code": "Exception", "target": "", "message": message}],
            "innererror": {
                "message": message,
                "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                "internalException": {
                    "message": message,
                    "type": "System.Management.Automation.CmdletInvocationException",
                },
            },
            "adminapi.correlationId": rid,
        }
    }
    hdrs = {"request-id": rid}
    hdrs.update(headers or {})
    return SimResponse(status, body, hdrs, route)


def denied(route: str) -> SimResponse:
    return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", route)


def resource_not_found(ident: str, route: str = "unknown") -> SimResponse:
    """Graph's 404 for a directory object id that does not exist."""
    return graph_error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{ident}' does not exist or one of its queried reference-property objects are not present.",
        route,
    )


def segment_not_found(segment: str, route: str = "unknown") -> SimResponse:
    return graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.", route)


def parse_query(pairs: Any) -> dict[str, str]:
    """Query options keyed without ``$`` and lower-cased (Graph accepts ``select`` and ``$select``)."""
    out: dict[str, str] = {}
    for key, value in pairs:
        k = key.lower()
        if k.startswith("$"):
            k = k[1:]
        out[k] = value
    return out


def build_query(params: Mapping[str, str]) -> str:
    """Encode query options the way Graph writes them in nextLinks (``$`` and ``,`` left readable)."""
    return "&".join(f"{quote(k, safe='$')}={quote(str(v), safe=',$()/:')}" for k, v in params.items())


class PageTokens:
    """Opaque, tamper-evident ``$skiptoken`` values carrying an offset and the query they belong to."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, scope: str, offset: int) -> str:
        payload = json.dumps({"s": scope, "o": offset}, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    def decode(self, scope: str, token: str) -> int | None:
        """The offset, or None if the token is not one of ours for this query."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            return None
        mac, payload = raw[:12], raw[12:]
        if not hmac.compare_digest(mac, hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]):
            return None
        try:
            doc = json.loads(payload)
        except ValueError:
            return None
        if doc.get("s") != scope or not isinstance(doc.get("o"), int) or doc["o"] < 0:
            return None
        return int(doc["o"])


def expired_page_token(route: str) -> SimResponse:
    return graph_error(
        400,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
        route,
    )
