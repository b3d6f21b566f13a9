"""The Exchange Online admin API: ``InvokeCommand`` (paged) and ``$batch``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict

from auditor.sim.paging import projector, select_fields
from auditor.sim.permissions import EXCHANGE_PERMISSION
from auditor.sim.routing import SimContext
from auditor.sim.stats import StatsRecorder
from auditor.sim.throttle import Throttles
from auditor.sim.wire import SimRequest, SimResponse, build_query, exo_error, parse_query
from auditor.sources import SOURCES

#: cmdlet -> (snapshot source, is a list), from the source catalog
CMDLETS: dict[str, tuple[str, bool]] = {
    spec.cmdlet.lower(): (name, spec.shape == "list") for name, spec in SOURCES.items() if spec.cmdlet
}
#: Entra roles (template ids) that may read through the admin API app-only
READ_ROLES = frozenset(
    {
        "f2ef992c-3afb-46b9-b7cf-a126ee74c451",  # Global Reader
        "62e90394-69f5-4237-9190-012177145e10",  # Global Administrator
        "29232cdf-9323-42fd-ade2-1d097af3e4de",  # Exchange Administrator
        "31392ffb-586c-42d1-9346-e59415a2cc4e",  # Exchange Recipient Administrator
        "194ae4cb-b126-40b2-bd5b-6091b380977d",  # Security Administrator
        "5d6b6bb7-de71-4623-b4af-96380a352509",  # Security Reader
    }
)
MAX_PAGE = 1000
POWERSHELL_DEFAULT_RESULT_SIZE = 1000
MAX_BATCH = 20
_MAXPAGE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


def _page_size(headers: Mapping[str, str], default: int) -> int:
    m = _MAXPAGE.search(headers.get("Prefer", ""))
    return max(1, min(MAX_PAGE, int(m.group(1)))) if m else default


class ExchangeDispatcher:
    def __init__(self, ctx: SimContext, throttles: Throttles, stats: StatsRecorder) -> None:
        self.ctx = ctx
        self.throttles = throttles
        self.stats = stats

    def invoke(self, req: SimRequest) -> SimResponse:  # noqa: C901  # a flat ladder of refusals, one per EXO error
        """``POST /adminapi/{v}/{tenant}/InvokeCommand`` with ``{"CmdletInput": {...}}``."""
        claims = req.claims
        if EXCHANGE_PERMISSION not in claims.get("roles", []):
            return exo_error(
                401,
                "Unauthorized",
                "The token is missing the Exchange.ManageAsApp role.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if not READ_ROLES.intersection(claims.get("wids", [])):
            return exo_error(
                403,
                "Forbidden",
                "The role assigned to application isn't supported in this scenario. Please check "
                "online documentation for assigning correct Directory Roles to Azure AD Application "
                "for EXO App-Only Authentication.",
            )
        cmd = req.body.get("CmdletInput") if isinstance(req.body, dict) else None
        if not isinstance(cmd, dict) or not isinstance(cmd.get("CmdletName"), str):
            return exo_error(400, "BadRequest", 'The request body must be {"CmdletInput":{"CmdletName":...}}.')
        name = cmd["CmdletName"]
        params = cmd.get("Parameters") or {}
        if not isinstance(params, dict):
            return exo_error(400, "BadRequest", "CmdletInput.Parameters must be an object.")
        entry = CMDLETS.get(name.lower())
        if entry is None:
            return exo_error(
                400,
                "BadRequest",
                f"The term '{name}' is not recognized as a name of a cmdlet, function, script file, "
                "or executable program.",
            )
        source, is_list = entry
        opts = self.ctx.options
        if source in opts.forbidden:
            return exo_error(403, "Forbidden", "Access denied.", source)
        if opts.random_503_rate and self.ctx.rng.random() < opts.random_503_rate:
            return exo_error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable.",
                source,
                {"Retry-After": str(opts.retry_after_503_s)},
            )
        verdict = self.throttles.exchange(req.tenant.tenant_id, str(claims.get("appid", "")))
        if not verdict.ok:
            return exo_error(
                429,
                "TooManyRequests",
                "Too many requests, please retry later.",
                source,
                {"Retry-After": str(int(verdict.retry_after or 1))},
            )
        if not req.tenant.available(source):
            return exo_error(403, "Forbidden", f"{name} is not available to this application.", source)
        base = f"{req.base_url}/adminapi/{req.version}/{req.tenant.tenant_id}"
        body: dict[str, Any] = {
            "@odata.context": f"{base}/$metadata#Collection(Exchange.GenericHashTable)",
            "adminapi.warnings": [],
        }
        proj = projector(select_fields(req))
        if not is_list:
            record = req.tenant.object(source)
            body["value"] = [proj(record) if proj else record] if isinstance(record, dict) else []
            return SimResponse(200, body, route=source)
        records: list[Any] = req.tenant.records(source)
        identity = params.get("Identity")
        if identity is not None:
            idx = req.tenant.mailbox_index.get(str(identity).lower()) if source == "cas_mailboxes" else None
            if idx is None:
                return exo_error(
                    404,
                    "NotFound",
                    f"The operation couldn't be performed because object '{identity}' couldn't be found.",
                    source,
                )
            records = [records[idx]]
        result_size = params.get("ResultSize")
        if result_size is None:
            limit = POWERSHELL_DEFAULT_RESULT_SIZE
        elif str(result_size).lower() == "unlimited":
            limit = len(records)
        else:
            try:
                limit = int(result_size)
            except ValueError:
                return exo_error(400, "BadRequest", f"Cannot bind parameter 'ResultSize' to {result_size!r}.", source)
        if limit < len(records):
            records = records[:limit]
            body["adminapi.warnings"].append(
                "There are more results available than are currently displayed. To view them, increase the value "
                "for the ResultSize parameter."
            )
        size = _page_size(req.headers, opts.exo_default_page)
        scope = f"exo|{name.lower()}|{json.dumps(params, sort_keys=True)}"
        offset = 0
        if "skiptoken" in req.query:
            decoded = self.ctx.page_tokens.decode(scope, req.query["skiptoken"])
            if decoded is None:
                return exo_error(400, "BadRequest", "The skip token is invalid for this command.", source)
            offset = decoded
        chunk = records[offset : offset + size]
        body["value"] = [proj(r) for r in chunk] if proj else list(chunk)
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"}
        if offset + size < len(records):
            params_q = {f"${k}": v for k, v in req.query.items() if k != "skiptoken"}
            params_q["$skiptoken"] = self.ctx.page_tokens.encode(scope, offset + size)
            body["@odata.nextLink"] = f"{base}/InvokeCommand?{build_query(params_q)}"
        return SimResponse(200, body, headers, route=source)

    def batch(self, req: SimRequest) -> SimResponse:
        requests = req.body.get("requests") if isinstance(req.body, dict) else None
        if not isinstance(requests, list) or not requests or len(requests) > MAX_BATCH:
            return exo_error(400, "BadRequest", f"A batch holds 1 to {MAX_BATCH} requests.", "exo_batch")
        self.stats.bump("batch_requests")
        responses = []
        for sub in requests:
            if not isinstance(sub, dict) or not isinstance(sub.get("url"), str):
                resp = exo_error(400, "BadRequest", "Each batch request needs an id and a url.")
            else:
                resp = self._sub(req, sub)
            self.stats.response(resp.route, resp.status, sub=True)
            out: dict[str, Any] = {
                "id": str(sub.get("id", "")) if isinstance(sub, dict) else "",
                "status": resp.status,
                "headers": {"Content-Type": "application/json", **resp.headers},
            }
            if resp.body is not None:
                out["body"] = resp.body
            responses.append(out)
        if self.ctx.options.shuffle_batch:
            self.ctx.rng.shuffle(responses)
        return SimResponse(200, {"responses": responses}, route="exo_batch")

    def _sub(self, outer: SimRequest, sub: Mapping[str, Any]) -> SimResponse:
        parts = urlsplit(sub["url"])
        if not parts.path.rstrip("/").lower().endswith("invokecommand"):
            return exo_error(400, "BadRequest", "Only InvokeCommand may be batched.")
        if str(sub.get("method", "POST")).upper() != "POST":
            return exo_error(405, "BadRequest", "InvokeCommand needs POST.")
        headers = CIMultiDict(outer.headers)
        headers.update({str(k): str(v) for k, v in (sub.get("headers") or {}).items()})
        req = SimRequest(
            method="POST",
            path="/InvokeCommand",
            version=outer.version,
            query=parse_query(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=sub.get("body"),
            base_url=outer.base_url,
            tenant=outer.tenant,
            claims=outer.claims,
            in_batch=True,
        )
        return self.invoke(req)
