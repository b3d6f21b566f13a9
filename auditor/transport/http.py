"""The async HTTP layer shared by the Graph and Exchange clients.

One :class:`ApiClient` per tenant run: an ``httpx.AsyncClient`` (bounded connections, timeouts, the
tenant's TLS trust), bearer tokens from :class:`~auditor.transport.auth.TokenProvider`, per-service pacing
(:mod:`auditor.transport.pacing`) and retries:

* 429/503 (and 502/504, connection resets) are retried up to ``max_retries`` times, waiting the server's
  ``Retry-After`` (capped at :data:`MAX_RETRY_AFTER`; the request gives up once ``retry_budget`` seconds
  of waiting are spent) or, when it is absent, an exponential backoff with jitter;
* every request has an overall deadline (``deadline``, default ``timeout``): httpx's timeouts are per
  read, so a body trickling in one byte at a time would otherwise never end;
* 401 drops the token and retries once with a fresh one (a token can expire or be revoked mid-run);
* any other error status becomes :class:`ApiError`, and a body that is not valid JSON (a truncated or
  malformed page) becomes :class:`MalformedResponse`; the source layer turns both into coverage.
  Their texts pass :func:`~auditor.transport.auth.redact`: a server echoing the bearer token or the
  client secret in an error body never gets it stored or printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from auditor.transport.auth import TokenProvider, redact
from auditor.transport.pacing import RateWindow, UnitBudget

log = logging.getLogger("auditor.transport.http")

RETRY_STATUS = {429, 502, 503, 504}
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0  # a longer (or infinite) Retry-After is waited this long at most
RETRY_BUDGET = 600.0  # seconds of retry waits one request may spend before it gives up
MAX_PAGES = 50_000  # pages one collection may have (a link loop that changes its links ends here)


class ApiError(Exception):
    """A non-retryable (or retries exhausted) HTTP error from Graph or Exchange."""

    def __init__(self, status: int, code: str, message: str, url: str) -> None:
        code, message = redact(code), redact(message)
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.url = url


class Redirected(ApiError):
    """A 3xx answer: never followed here (the token would go with it); the caller decides."""

    def __init__(self, status: int, location: str, url: str) -> None:
        super().__init__(status, "Redirect", f"redirected to {location or '(no Location)'}", url)
        self.location = location


class MalformedResponse(Exception):
    """The body was not the JSON document it should be (truncated page, bad JSON, wrong type)."""

    def __init__(self, url: str, detail: str) -> None:
        detail = redact(detail)
        super().__init__(f"malformed response from {url}: {detail}")
        self.url = url
        self.detail = detail


def next_link(current: str, link: Any) -> str | None:
    """Validate an ``@odata.nextLink``: the bearer token goes with it, so it must stay on the origin.

    A link to another scheme, host or port (a compromised or spoofed response, a proxy rewriting
    bodies) would hand the access token to that host; such a page is treated as malformed instead.
    """
    if link is None:
        return None
    if not isinstance(link, str):
        raise MalformedResponse(current, "'@odata.nextLink' is not a URL")
    here, there = httpx.URL(current), httpx.URL(link)
    if (there.scheme, there.host, there.port) != (here.scheme, here.host, here.port) or there.scheme != "https":
        raise MalformedResponse(
            current,
            f"'@odata.nextLink' leaves {here.scheme}://{here.host} "
            f"(points to {there.scheme}://{there.host}); not followed",
        )
    return link


class PageGuard:
    """Stops a paging chain that repeats a link (a loop) or runs past ``max_pages`` pages."""

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[str] = set()

    def check(self, url: str, link: str | None) -> str | None:
        """``link`` if following it is sane; raises :class:`MalformedResponse` otherwise."""
        self.pages += 1
        self._seen.add(url)
        if link is None:
            return None
        if link in self._seen:
            raise MalformedResponse(
                url,
                f"'@odata.nextLink' points to a page already read (a paging loop); stopped after {self.pages} pages",
            )
        if self.pages >= self.max_pages:
            raise MalformedResponse(
                url, f"more than {self.max_pages} pages of '@odata.nextLink'; stopped (a paging loop?)"
            )
        return link


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    refreshed_tokens: int = 0
    sub_requests: int = 0
    by_service: dict[str, int] = field(default_factory=dict)

    def count(self, service: str) -> None:
        self.requests += 1
        self.by_service[service] = self.by_service.get(service, 0) + 1


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
    value = headers.get("retry-after") if headers else None
    if value is None:
        value = headers.get("Retry-After") if headers else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            from datetime import UTC, datetime

            seconds = (parsedate_to_datetime(str(value)) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def backoff(attempt: int, base: float = 0.5) -> float:
    """Exponential backoff with full jitter, for retries the server gave no Retry-After for."""
    return random.uniform(base, min(MAX_BACKOFF, base * (2**attempt)) + base)


def error_details(body: Any) -> tuple[str, str]:
    """(code, message) from a Graph or Exchange admin API error body."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")
        details = err.get("details")
        if not message and isinstance(details, list) and details and isinstance(details[0], dict):
            message = str(details[0].get("message") or "")
        inner = err.get("innererror")
        if not message and isinstance(inner, dict):
            exc = inner.get("internalException")
            if isinstance(exc, dict):
                message = str(exc.get("message") or "")
        return code, message
    if isinstance(body, dict) and isinstance(body.get("value"), str):
        # a non-OData error body: {"@odata.context": "...#Edm.String", "value": "Cannot query data ..."}
        return "", body["value"][:300]
    if isinstance(body, str):
        return "", body[:300]
    return "", ""


def classify(url: str) -> str:
    """The throttling service a Graph URL belongs to: ``reports``, ``activity``, ``ca`` or ``identity``.

    ``activity``: a request selecting ``signInActivity``, metered in the reports bucket *and* at 10 per
    minute (graph-api.md §0).
    """
    path, _, query = url.lower().partition("?")
    if "signinactivity" in query:
        return "activity"
    if "/auditlogs/" in path or "/reports/" in path:
        return "reports"
    if "/identity/conditionalaccess/" in path:
        return "ca"
    return "identity"


def estimated_cost(url: str) -> float:
    """Identity resource units for one GET (base 2, $select -1, $expand +1), before the server corrects it."""
    query = url.split("?", 1)[1].lower() if "?" in url else ""
    cost = 2.0
    if "$select=" in query or "%24select=" in query:
        cost -= 1
    if "$expand=" in query or "%24expand=" in query:
        cost += 1
    return max(cost, 1.0)


def cost_kind(url: str) -> str:
    """A key grouping requests that cost the same: the structural path plus $select/$expand flags."""
    path, _, query = url.partition("?")
    parts = [p for p in path.split("/") if p and len(p) < 30 and ":" not in p]
    flags = "".join(f for f, key in (("s", "select="), ("e", "expand="), ("t", "top=")) if key in query.lower())
    return "/".join(parts[-3:]) + "?" + flags


class ApiClient:
    """Authenticated, paced, retrying JSON over HTTPS for one tenant."""

    def __init__(
        self,
        tokens: TokenProvider,
        *,
        max_concurrency: int = 8,
        max_retries: int = 8,
        timeout: float = 60,
        identity_budget_units: float = 8000,
        reports_per_10s: int = 5,
        ca_per_second: int = 1,
        activity_per_minute: int = 10,
        context: ssl.SSLContext | None = None,
        stats: Stats | None = None,
        backoff_base: float = 0.5,
        deadline: float | None = None,
        max_retry_after: float = MAX_RETRY_AFTER,
        retry_budget: float = RETRY_BUDGET,
    ) -> None:
        self.tokens = tokens
        self.max_retries = max_retries
        self.deadline = deadline if deadline is not None else timeout
        self.max_retry_after = max_retry_after
        self.retry_budget = retry_budget
        self.stats = stats or Stats()
        self.backoff_base = backoff_base
        self._sem = asyncio.Semaphore(max_concurrency)
        self.identity = UnitBudget(identity_budget_units)
        self.reports = RateWindow(reports_per_10s, 10.0)
        self.ca = RateWindow(ca_per_second, 1.0)
        self.activity = RateWindow(activity_per_minute, 60.0)
        self._client = httpx.AsyncClient(
            verify=context or tokens.context,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 30)),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ pacing

    async def _pace(self, service: str, url: str, units: float | None) -> list[float] | None:
        slot = None
        if service == "activity":
            slot = await self.reports.acquire(await self.activity.acquire())
        elif service == "reports":
            slot = await self.reports.acquire()
        elif service == "ca":
            slot = await self.ca.acquire()
        if service in ("identity", "ca", "reports", "activity"):
            cost = units if units is not None else self.identity.estimate(cost_kind(url), estimated_cost(url))
            await self.identity.acquire(cost)
        return slot

    def _throttled(self, service: str, wait: float) -> None:
        self.stats.throttled += 1
        if service in ("reports", "activity"):
            self.reports.block(wait)
            if service == "activity":
                self.activity.block(wait)
        elif service == "ca":
            self.ca.block(wait)
        elif service == "identity":
            self.identity.block(wait)

    # ------------------------------------------------------------------ core

    async def request(  # noqa: C901  # the retry policy: one loop over one request's state
        self,
        method: str,
        url: str,
        *,
        scope: str,
        service: str,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        units: float | None = None,
    ) -> Response:
        """Send one request with pacing and retries; return the parsed JSON body on 2xx."""
        attempt = 0
        glitches = 0  # malformed or truncated bodies: retried once, separately from throttling
        refreshed = False
        waited = 0.0  # seconds spent waiting on Retry-After / backoff for this request
        while True:
            slot = await self._pace(service, url, units)
            # the token after the pacing wait (minutes on the reports bucket): never one that expired in the queue
            token = await self.tokens.get(scope)
            req_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if headers:
                req_headers.update(headers)
            self.stats.count(service)
            try:
                async with self._sem:
                    resp, content = await asyncio.wait_for(
                        self._exchange(method, url, req_headers, json_body), self.deadline
                    )
            except TimeoutError as exc:
                RateWindow.done(slot)
                if glitches >= min(1, self.max_retries):
                    raise ApiError(
                        0,
                        "Timeout",
                        f"no complete answer within {self.deadline:g} s (the server sends too slowly or not at all)",
                        url,
                    ) from exc
                glitches += 1
                self.stats.retries += 1
                continue
            except (httpx.TransportError, httpx.DecodingError) as exc:
                RateWindow.done(slot)
                text = str(exc).lower()
                truncated = isinstance(exc, httpx.RemoteProtocolError) and (
                    "incomplete" in text or "complete message body" in text
                )
                if truncated:
                    if glitches >= min(1, self.max_retries):
                        raise MalformedResponse(url, f"truncated page ({exc})") from exc
                    glitches += 1
                    self.stats.retries += 1
                    continue
                if attempt >= self.max_retries:
                    raise ApiError(
                        0, type(exc).__name__, f"network error after {attempt + 1} attempts: {exc}", url
                    ) from exc
                attempt += 1
                self.stats.retries += 1
                await asyncio.sleep(backoff(attempt, self.backoff_base))
                continue
            RateWindow.done(slot)
            status = resp.status_code
            if service == "identity" or service == "ca":
                ru = resp.headers.get("x-ms-resource-unit")
                if ru and units is None:
                    with contextlib.suppress(ValueError):
                        self.identity.observe(cost_kind(url), float(ru))
            if status == 401 and not refreshed:
                refreshed = True
                self.stats.refreshed_tokens += 1
                self.tokens.invalidate(scope, token)
                continue
            if status in RETRY_STATUS:
                if attempt >= self.max_retries:
                    code, message = error_details(_parse_lenient(content))
                    raise ApiError(
                        status,
                        code or "Throttled",
                        message or f"still {status} after {attempt + 1} attempts",
                        url,
                    )
                wait = retry_after(resp.headers)
                if wait is None:
                    wait = backoff(attempt + 1, self.backoff_base)
                wait = min(wait, self.max_retry_after)
                if waited + wait > self.retry_budget:
                    code, message = error_details(_parse_lenient(content))
                    raise ApiError(
                        status,
                        code or "Throttled",
                        f"gave up after waiting {waited:g} s over {attempt + 1} "
                        f"attempts (the server asks for {wait:g} s more){': ' + message if message else ''}",
                        url,
                    )
                waited += wait
                if status == 429:
                    self._throttled(service, wait)
                attempt += 1
                self.stats.retries += 1
                await asyncio.sleep(wait)
                continue
            if 200 <= status < 300:
                refreshed = False
                try:
                    body = _parse(content, url, resp.headers)
                except MalformedResponse:
                    # one more chance for a transient glitch; a persistent one fails the source clearly
                    if glitches >= min(1, self.max_retries):
                        raise
                    glitches += 1
                    self.stats.retries += 1
                    continue
                return Response(status, dict(resp.headers), body)
            if status in (301, 302, 303, 307, 308):
                raise Redirected(status, str(httpx.URL(url).join(resp.headers.get("location", ""))), url)
            code, message = error_details(_parse_lenient(content))
            raise ApiError(status, code, message, url)

    async def _exchange(
        self, method: str, url: str, headers: dict[str, str], json_body: Any
    ) -> tuple[httpx.Response, bytes]:
        resp = await self._client.request(method, url, headers=headers, json=json_body)
        return resp, await resp.aread()

    async def get(self, url: str, *, scope: str, headers: dict[str, str] | None = None) -> Any:
        return (await self.request("GET", url, scope=scope, service=classify(url), headers=headers)).body


def _parse(content: bytes, url: str, headers: Any) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        length = headers.get("content-length") if headers else None
        hint = " (truncated page)" if length and int(length) != len(content) else ""
        raise MalformedResponse(url, f"invalid JSON{hint} at byte {getattr(exc, 'pos', '?')}") from exc


def _parse_lenient(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return content[:300].decode("utf-8", "replace")
