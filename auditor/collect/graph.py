"""Microsoft Graph operations on top of :class:`~auditor.transport.http.ApiClient`: paging and $batch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from auditor.transport.http import (
    MAX_PAGES,
    RETRY_STATUS,
    ApiClient,
    ApiError,
    MalformedResponse,
    PageGuard,
    backoff,
    classify,
    cost_kind,
    estimated_cost,
    next_link,
    retry_after,
)

BATCH_SIZE = 20


@dataclass
class SubResponse:
    id: str
    status: int
    headers: dict[str, str]
    body: Any


class GraphClient:
    def __init__(self, api: ApiClient, base: str) -> None:
        self.api = api
        self.base = base.rstrip("/")
        self.scope = f"{self.base}/.default"

    def url(self, version: str, path: str) -> str:
        return f"{self.base}/{version}{path}"

    async def get(self, url: str, headers: dict[str, str] | None = None) -> Any:
        if not url.startswith("https://"):
            url = self.url("v1.0", url)
        return await self.api.get(url, scope=self.scope, headers=headers)

    async def get_all(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        on_page: Callable[[int], None] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> list[Any]:
        """Every record of a collection, following ``@odata.nextLink`` verbatim until it is absent."""
        records: list[Any] = []
        next_url: str | None = url
        guard = PageGuard(max_pages)
        while next_url:
            try:
                body = await self.get(next_url, headers=headers)
            except ApiError as exc:
                # An endpoint that rejects our $top (smaller maximum): ask again with its default size.
                if next_url is url and exc.status == 400 and _rejects_top(exc) and _without_top(url) != url:
                    url = next_url = _without_top(url)
                    continue
                raise
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise MalformedResponse(next_url, "a collection page without a 'value' list")
            records.extend(body["value"])
            if on_page is not None:
                on_page(len(records))
            next_url = guard.check(next_url, next_link(next_url, body.get("@odata.nextLink")))
        return records

    async def batch(self, version: str, requests: list[dict[str, Any]]) -> dict[str, SubResponse]:
        """Run sub-requests (``id``, ``method``, ``url`` relative to the version) in $batches of 20.

        Throttled or transiently failing sub-requests are retried on their own (after the longest
        Retry-After among them); the result maps every id to its final sub-response.
        """
        results: dict[str, SubResponse] = {}
        chunks = [requests[i : i + BATCH_SIZE] for i in range(0, len(requests), BATCH_SIZE)]
        await asyncio.gather(*(self._run_chunk(version, chunk, results) for chunk in chunks))
        return results

    async def _run_chunk(self, version: str, chunk: list[dict[str, Any]], results: dict[str, SubResponse]) -> None:
        pending = {r["id"]: r for r in chunk}
        attempt = 0
        url = self.url(version, "/$batch")
        while pending:
            units = sum(
                self.api.identity.estimate(cost_kind(r["url"]), estimated_cost(r["url"])) for r in pending.values()
            )
            body = {"requests": list(pending.values())}
            service = "reports" if all(classify(r["url"]) == "reports" for r in pending.values()) else "identity"
            self.api.stats.sub_requests += len(pending)
            resp = await self.api.request("POST", url, scope=self.scope, service=service, json_body=body, units=units)
            answers = resp.body.get("responses") if isinstance(resp.body, dict) else None
            if not isinstance(answers, list):
                raise MalformedResponse(url, "a $batch response without a 'responses' list")
            waits: list[float] = []
            throttled = False
            for answer in answers:
                if not isinstance(answer, dict) or str(answer.get("id")) not in pending:
                    continue
                sid = str(answer["id"])
                status = int(answer.get("status") or 0)
                headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
                _learn(self.api, pending[sid]["url"], headers)
                if (status in RETRY_STATUS or status == 500) and attempt < self.api.max_retries:
                    wait = retry_after(headers)
                    waits.append(wait if wait is not None else backoff(attempt + 1, self.api.backoff_base))
                    if status == 429:
                        self.api.stats.throttled += 1
                        throttled = True
                    continue
                results[sid] = SubResponse(sid, status, headers, answer.get("body"))
                del pending[sid]
            missing = [sid for sid in pending if sid not in {str(a.get("id")) for a in answers if isinstance(a, dict)}]
            waits.extend(backoff(attempt + 1, self.api.backoff_base) for _ in missing)
            if pending:
                if attempt >= self.api.max_retries:
                    for sid in list(pending):
                        results[sid] = SubResponse(
                            sid,
                            429,
                            {},
                            {"error": {"code": "TooManyRequests", "message": "retries exhausted"}},
                        )
                    return
                attempt += 1
                self.api.stats.retries += len(pending)
                wait = max(waits) if waits else backoff(attempt, self.api.backoff_base)
                if throttled:
                    self.api.identity.block(wait)
                await asyncio.sleep(wait)


def _rejects_top(exc: ApiError) -> bool:
    text = f"{exc.code} {exc.message}".lower()
    return "page size" in text or "$top" in text or "top" in exc.message.lower().split("'")


def _without_top(url: str) -> str:
    base, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and not p.lower().startswith(("$top=", "%24top=", "top="))]
    return base + ("?" + "&".join(kept) if kept else "")


def _learn(api: ApiClient, url: str, headers: dict[str, str]) -> None:
    value = headers.get("x-ms-resource-unit")
    if value:
        with contextlib.suppress(ValueError):
            api.identity.observe(cost_kind(url), float(value))


def sub_error(sub: SubResponse, url: str) -> ApiError:
    body = sub.body if isinstance(sub.body, dict) else {}
    err = body["error"] if isinstance(body.get("error"), dict) else {}
    return ApiError(sub.status, str(err.get("code") or ""), str(err.get("message") or ""), url)


async def gather_limited(coros: list[Awaitable[Any]], limit: int) -> list[Any]:
    """Run awaitables with at most ``limit`` in flight, preserving order."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Awaitable[Any]) -> Any:
        async with sem:
            return await c

    return list(await asyncio.gather(*(one(c) for c in coros)))
