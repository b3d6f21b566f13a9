"""List responses: ``$top``, opaque ``$skiptoken`` nextLinks with absolute URLs, ``$select``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from auditor.sim.wire import PageTokens, SimRequest, SimResponse, build_query, expired_page_token, graph_error

Projector = Callable[[Any], Any]


def page_size(
    req: SimRequest, route: str, default: int, maximum: int, silent_cap: int | None = None
) -> int | SimResponse:
    """The page size asked for (or the default), or a 400 response like Graph's."""
    raw = req.query.get("top")
    if raw is None:
        size = default
    else:
        try:
            size = int(raw)
        except ValueError:
            return graph_error(400, "BadRequest", f"Invalid value '{raw}' for query option '$top'.", route)
        if size < 1 or size > maximum:
            return graph_error(
                400,
                "Request_UnsupportedQuery",
                f"Invalid page size specified: '{size}'. Must be between 1 and {maximum} inclusive.",
                route,
            )
    if silent_cap is not None:
        size = min(size, silent_cap)
    return size


def list_page(
    req: SimRequest,
    route: str,
    items: Sequence[Any],
    tokens: PageTokens,
    *,
    context: str,
    default: int,
    maximum: int,
    project: Projector | None = None,
    scope_extra: str = "",
    silent_cap: int | None = None,
    count: bool = False,
) -> SimResponse:
    """One page of ``items`` with an absolute ``@odata.nextLink`` when more remain."""
    size = page_size(req, route, default, maximum, silent_cap)
    if isinstance(size, SimResponse):
        return size
    scope = f"{route}|{req.version}|{req.path}|{req.query.get('filter', '')}|{scope_extra}"
    offset = 0
    if "skiptoken" in req.query:
        decoded = tokens.decode(scope, req.query["skiptoken"])
        if decoded is None:
            return expired_page_token(route)
        offset = decoded
    chunk = items[offset : offset + size]
    value = [project(item) for item in chunk] if project else list(chunk)
    body: dict[str, Any] = {"@odata.context": f"{req.base_url}/{req.version}/$metadata#{context}"}
    if count:
        body["@odata.count"] = len(items)
    body["value"] = value
    if offset + size < len(items):
        params = {f"${k}": v for k, v in req.query.items() if k not in ("skiptoken", "count")}
        params["$skiptoken"] = tokens.encode(scope, offset + size)
        body["@odata.nextLink"] = f"{req.base_url}/{req.version}{req.path}?{build_query(params)}"
    return SimResponse(200, body, route=route)


def select_fields(req: SimRequest) -> list[str] | None:
    raw = req.query.get("select")
    if not raw:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def projector(fields: list[str] | None, always: tuple[str, ...] = ()) -> Projector | None:
    """Keep only ``fields`` (case-insensitive, in the order asked) plus ``always`` keys."""
    if not fields:
        return None

    def project(record: Any) -> Any:
        if not isinstance(record, dict):
            return record
        lower = {k.lower(): k for k in record}
        out = {k: record[k] for k in always if k in record}
        for field in fields:
            key = lower.get(field.lower())
            out[key or field] = record.get(key) if key else None
        return out

    return project
