"""Graph report routes: userRegistrationDetails and auditLogs/signIns (reports throttling family)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from auditor.sim.paging import list_page, projector, select_fields
from auditor.sim.routing import Route, SimContext, route, unavailable_source
from auditor.sim.state import parse_ts
from auditor.sim.wire import SimRequest, SimResponse, graph_error

_TS = r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))"
_APP = r"clientAppUsed\s+eq\s+'((?:[^']|'')*)'"
_SIGN_IN_FILTER = re.compile(
    rf"^\s*createdDateTime\s+ge\s+{_TS}\s*(?:and\s+(\(\s*{_APP}(?:\s+or\s+{_APP})*\s*\)|{_APP})\s*)?$",
    re.IGNORECASE,
)
_APP_ANY = re.compile(_APP, re.IGNORECASE)
#: beta only: ``signInEventTypes/any(t: t eq 'nonInteractiveUser')`` appended with ``and``
_EVENT_TYPE = re.compile(
    r"\s+and\s+signInEventTypes/any\(\s*(\w+)\s*:\s*\1\s+eq\s+'(interactiveUser|nonInteractiveUser)'\s*\)\s*$",
    re.IGNORECASE,
)


def parse_sign_in_filter(text: str) -> tuple[datetime, tuple[str, ...] | None] | None:
    """``createdDateTime ge <ts> [and (clientAppUsed eq 'X' or ...)]`` → (since, apps); None if unsupported."""
    m = _SIGN_IN_FILTER.match(text)
    if not m:
        return None
    since = parse_ts(m.group(1))
    if since is None:
        return None
    apps_part = m.group(2)
    if not apps_part:
        return since, None
    apps = tuple(sorted({a.replace("''", "'") for a in _APP_ANY.findall(apps_part)}))
    return since, apps


def registration_details(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
    missing = unavailable_source(req, "registration_details", "registration_details")
    if missing:
        return missing
    return list_page(
        req,
        "registration_details",
        req.tenant.records("registration_details"),
        ctx.page_tokens,
        context="reports/authenticationMethods/userRegistrationDetails",
        default=ctx.options.default_page,
        maximum=999,
        project=projector(select_fields(req)),
    )


def sign_ins(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
    missing = unavailable_source(req, "sign_ins", "sign_ins")
    if missing:
        return missing
    tenant = req.tenant
    text = req.query.get("filter")
    # v1.0 and beta return interactive sign-ins only, unless beta is asked for other event types
    is_interactive = True
    event = _EVENT_TYPE.search(text or "")
    if event is None and "signineventtypes" in (text or "").lower():
        return graph_error(
            400,
            "Request_UnsupportedQuery",
            "Unsupported or invalid query filter clause specified for resource 'SignIn'.",
            "sign_ins",
        )
    if event is not None:
        if req.version != "beta":
            return graph_error(
                400,
                "BadRequest",
                "Could not find a property named 'signInEventTypes' on type 'microsoft.graph.signIn'.",
                "sign_ins",
            )
        is_interactive = event.group(2).lower() == "interactiveuser"
        text = text[: event.start()] if text else text
    if text:
        parsed = parse_sign_in_filter(text)
        if parsed is None:
            return graph_error(
                400,
                "Request_UnsupportedQuery",
                "Unsupported or invalid query filter clause specified for resource 'SignIn'.",
                "sign_ins",
            )
        since, apps = parsed
        positions = tenant.sign_in_positions(since, apps, is_interactive)
    else:
        positions = tenant.sign_in_positions(None, None, is_interactive)
    records = tenant.sign_ins

    class _View:
        """Positions resolved lazily so a page costs O(page), not O(matches)."""

        def __len__(self) -> int:
            return len(positions)

        def __getitem__(self, s: slice) -> list[dict[str, Any]]:
            return [records[p] for p in positions[s]]

    size = ctx.options.sign_in_page
    return list_page(
        req,
        "sign_ins",
        _View(),  # type: ignore[arg-type]  # a lazy view: len() and slicing are all list_page uses
        ctx.page_tokens,
        context="auditLogs/signIns",
        default=size,
        maximum=size,
        project=projector(select_fields(req)),
    )


ROUTES: list[Route] = [
    route(
        "GET",
        r"^/reports/authenticationMethods/userRegistrationDetails/?$",
        "registration_details",
        registration_details,
        family="reports",
    ),
    route("GET", r"^/auditLogs/signIns/?$", "sign_ins", sign_ins, family="reports"),
]
