"""Graph request dispatch: route matching, permissions, faults, throttling and ``$batch``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict

from auditor.sim import graph_directory, graph_mail, graph_objects, graph_reports
from auditor.sim.permissions import has_permission
from auditor.sim.routing import Route, SimContext
from auditor.sim.stats import StatsRecorder
from auditor.sim.throttle import Throttles, Verdict
from auditor.sim.wire import SimRequest, SimResponse, denied, graph_error, parse_query, segment_not_found

ROUTES: list[Route] = graph_directory.ROUTES + graph_objects.ROUTES + graph_reports.ROUTES + graph_mail.ROUTES
MAX_BATCH = 20


def match(method: str, path: str) -> tuple[Route | None, Any, bool]:
    """(route, match, path_known): path_known is True when only the method was wrong."""
    known = False
    for r in ROUTES:
        m = r.pattern.match(path)
        if m:
            if r.method == method:
                return r, m, True
            known = True
    return None, None, known


def _throttle_429(verdict: Verdict, route: str) -> SimResponse:
    headers = dict(verdict.headers or {})
    if verdict.retry_after is not None:
        headers["Retry-After"] = str(int(verdict.retry_after))
    return graph_error(429, "TooManyRequests", "Too many requests, please retry later.", route, headers)


class GraphDispatcher:
    """Answers one authenticated Graph request (direct or inside ``$batch``)."""

    def __init__(self, ctx: SimContext, throttles: Throttles, stats: StatsRecorder) -> None:
        self.ctx = ctx
        self.throttles = throttles
        self.stats = stats

    def dispatch(self, req: SimRequest) -> SimResponse:
        route, m, known = match(req.method, req.path)
        if route is None:
            if known:
                return graph_error(
                    405, "Request_BadRequest", f"The HTTP method '{req.method}' is not allowed for this resource."
                )
            segments = [s for s in req.path.split("/") if s]
            return segment_not_found(segments[-1] if segments else req.version)
        if req.version not in route.versions:
            return segment_not_found(req.path.rstrip("/").rsplit("/", 1)[-1], route.name)
        opts = self.ctx.options
        if route.name in opts.forbidden:
            return denied(route.name)
        if route.permission != "" and not has_permission(req.claims.get("roles", []), route.permission or route.name):
            return denied(route.name)
        if opts.random_503_rate and self.ctx.rng.random() < opts.random_503_rate:
            return graph_error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable.",
                route.name,
                {"Retry-After": str(opts.retry_after_503_s)},
            )
        tenant_id, app_id = req.tenant.tenant_id, str(req.claims.get("appid", ""))
        verdict = Verdict(True)
        if route.name == "users" and graph_directory.wants_sign_in_activity(req):
            verdict = self.throttles.sign_in_activity(tenant_id, app_id)  # a reports-bucket property
        elif route.family == "identity":
            cost = graph_directory.users_cost(req) if route.name == "users" else 1 + bool(req.query.get("expand"))
            verdict = self.throttles.identity(tenant_id, app_id, cost)
        elif route.family == "reports":
            verdict = self.throttles.reports(tenant_id, app_id)
        elif route.family == "ca":
            verdict = self.throttles.conditional_access(tenant_id)
        if not verdict.ok:
            return _throttle_429(verdict, route.name)
        resp = route.handler(self.ctx, req, m)
        resp.route = route.name
        if verdict.headers:
            resp.headers.update(verdict.headers)
        return resp

    # -- $batch ------------------------------------------------------------------------------------
    def batch(self, req: SimRequest) -> SimResponse:
        body = req.body
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return graph_error(400, "BadRequest", "Invalid batch payload format.", "batch")
        if len(requests) > MAX_BATCH:
            return graph_error(
                400, "BadRequest", f"The number of batch requests exceeds the limit of {MAX_BATCH}.", "batch"
            )
        by_id: dict[str, dict[str, Any]] = {}
        for sub in requests:
            if not isinstance(sub, dict) or not all(
                isinstance(sub.get(k), str) and sub.get(k) for k in ("id", "method", "url")
            ):
                return graph_error(400, "BadRequest", "Each batch request needs a string id, method and url.", "batch")
            if sub["id"] in by_id:
                return graph_error(400, "BadRequest", f"Duplicate batch request id '{sub['id']}'.", "batch")
            by_id[sub["id"]] = sub
        for sub in requests:
            deps = sub.get("dependsOn") or []
            if not isinstance(deps, list) or any(d not in by_id or d == sub["id"] for d in deps):
                return graph_error(
                    400, "BadRequest", f"Request '{sub['id']}' depends on an unknown request id.", "batch"
                )
        self.stats.bump("batch_requests")
        results: dict[str, dict[str, Any]] = {}
        visiting: set[str] = set()

        def run(sub_id: str) -> dict[str, Any]:
            if sub_id in results:
                return results[sub_id]
            if sub_id in visiting:
                return {"id": sub_id, "status": 400, "body": graph_error(400, "BadRequest", "Circular dependsOn.").body}
            visiting.add(sub_id)
            sub = by_id[sub_id]
            failed = [d for d in sub.get("dependsOn") or [] if not 200 <= run(d)["status"] < 300]
            if failed:
                resp = graph_error(
                    424, "FailedDependency", f"Request failed because request '{failed[0]}' it depends on failed."
                )
            else:
                resp = self._sub_request(req, sub)
            self.stats.response(resp.route, resp.status, sub=True)
            out: dict[str, Any] = {
                "id": sub_id,
                "status": resp.status,
                "headers": {"Content-Type": "application/json", **resp.headers},
            }
            if resp.body is not None:
                out["body"] = resp.body
            results[sub_id] = out
            return out

        for sub in requests:
            run(sub["id"])
        responses = [results[sub["id"]] for sub in requests]
        if self.ctx.options.shuffle_batch:
            self.ctx.rng.shuffle(responses)
        return SimResponse(200, {"responses": responses}, route="batch")

    def _sub_request(self, outer: SimRequest, sub: Mapping[str, Any]) -> SimResponse:
        url = str(sub["url"])
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            return graph_error(400, "BadRequest", "Batch request URLs must be relative to the version.")
        path = "/" + parts.path.lstrip("/")
        headers = CIMultiDict({str(k): str(v) for k, v in (sub.get("headers") or {}).items()})
        body = sub.get("body")
        if body is not None and "Content-Type" not in headers:
            return graph_error(400, "BadRequest", "Content-Type header is required for a request with a body.")
        if isinstance(body, str) and headers.get("Content-Type", "").startswith("application/json"):
            try:
                body = json.loads(body)
            except ValueError:
                return graph_error(400, "BadRequest", "The request body is not valid JSON.")
        req = SimRequest(
            method=str(sub["method"]).upper(),
            path=path,
            version=outer.version,
            query=parse_query(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            base_url=outer.base_url,
            tenant=outer.tenant,
            claims=outer.claims,
            in_batch=True,
            raw_query=parts.query,
        )
        return self.dispatch(req)
