"""Hostile server behaviour for robustness tests: what a broken, slow or careless service does.

Set ``SimOptions(faults=Faults(...))``; the server hands every response to :meth:`Faults.respond`
just before sending it, and sends whatever that returns instead. Routes are the names in
:data:`auditor.sim.options.ROUTES` (data routes are named after the snapshot source they serve).

* ``link_loop`` — collection pages whose ``@odata.nextLink`` points back at the page itself, forever;
* ``stall`` — never answer (the connection stays open until the client gives up);
* ``retry_after`` — route -> header value: answer 429 with that ``Retry-After`` (``"inf"``, ``"1e12"``)
  every time;
* ``trickle`` — send a successful body one byte at a time (``trickle_interval_s`` apart); any route, the
  token endpoint (``token``) included;
* ``echo_token`` — answer 400 with an error message quoting the caller's ``Authorization`` header;
* ``echo_secret`` — the token endpoint refuses every login with an ``error_description`` quoting the
  posted client secret (raw and as the ``client_secret=`` form pair);
* ``batch_500`` — the first N sub-responses of Graph ``$batch`` calls become HTTP 500;
* ``duplicate_records`` — every page of a collection answer repeats its first record at its end (the same
  user twice, as a replica catching up can serve it);
* ``null_records`` — every page of a collection answer carries a ``null`` entry among its records.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from auditor.sim.wire import SimResponse

#: The longest a stalled or trickling answer is held when the client never gives up (test safety net).
HOLD_LIMIT_S = 600.0


@dataclass
class Faults:
    link_loop: Collection[str] = ()
    stall: Collection[str] = ()
    retry_after: Mapping[str, str] = field(default_factory=dict)
    trickle: Collection[str] = ()
    trickle_interval_s: float = 0.2
    echo_token: Collection[str] = ()
    echo_secret: bool = False
    batch_500: int = 0
    duplicate_records: Collection[str] = ()
    null_records: Collection[str] = ()
    #: how many responses were replaced (for tests)
    injected: int = 0

    async def respond(self, request: web.Request, resp: SimResponse) -> web.StreamResponse | None:
        """The hostile answer for this request, or None to send ``resp`` unchanged."""
        route = resp.route
        if route in self.stall:
            self.injected += 1
            await _hold(request, HOLD_LIMIT_S)
            return web.Response(status=504)
        if route == "token" and self.echo_secret:
            self.injected += 1
            form = await request.post()
            secret = str(form.get("client_secret", ""))
            body: dict[str, Any] = {
                "error": "invalid_client",
                "error_description": f"AADSTS7000215: Invalid client secret provided ({secret!r}). "
                f"Request was: grant_type=client_credentials&client_secret={secret}&scope=x",
            }
            return web.json_response(body, status=401)
        if route in self.retry_after:
            self.injected += 1
            body = {"error": {"code": "TooManyRequests", "message": "Too many requests."}}
            return web.json_response(body, status=429, headers={"Retry-After": str(self.retry_after[route])})
        if route in self.echo_token:
            self.injected += 1
            auth = request.headers.get("Authorization", "")
            body = {
                "error": {
                    "code": "BadRequest",
                    "message": f"Invalid request; the request carried Authorization: {auth}",
                    "innerError": {"token": auth.partition(" ")[2]},
                }
            }
            return web.json_response(body, status=400)
        if resp.status != 200 or not isinstance(resp.body, dict):
            return None
        if route in self.link_loop and isinstance(resp.body.get("value"), list):
            self.injected += 1
            looped = {**resp.body, "@odata.nextLink": str(request.url)}
            return web.json_response(looped, status=200, headers=dict(resp.headers))
        if route == "batch" and self.batch_500 > 0:
            return self._fail_batch(resp)
        if route in self.duplicate_records or route in self.null_records:
            return self._spoil_page(route, resp)
        if route in self.trickle:
            self.injected += 1
            return await _trickle(request, resp, self.trickle_interval_s)
        return None

    def _spoil_page(self, route: str, resp: SimResponse) -> web.StreamResponse | None:
        value = resp.body.get("value") if isinstance(resp.body, dict) else None
        if not isinstance(value, list) or not value:
            return None
        spoiled: list[Any] = list(value)
        if route in self.duplicate_records:
            spoiled.append(json.loads(json.dumps(value[0])))  # an equal copy, not the same object
        if route in self.null_records:
            spoiled.insert(len(spoiled) // 2, None)
        self.injected += 1
        return web.json_response({**resp.body, "value": spoiled}, status=200, headers=dict(resp.headers))

    def _fail_batch(self, resp: SimResponse) -> web.StreamResponse | None:
        answers = resp.body.get("responses") if isinstance(resp.body, dict) else None
        if not isinstance(answers, list):
            return None
        changed = []
        for answer in answers:
            if self.batch_500 > 0 and isinstance(answer, dict):
                self.batch_500 -= 1
                self.injected += 1
                answer = {
                    "id": answer.get("id"),
                    "status": 500,
                    "headers": {"Content-Type": "application/json"},
                    "body": {"error": {"code": "InternalServerError", "message": "Transient failure."}},
                }
            changed.append(answer)
        return web.json_response({**resp.body, "responses": changed}, status=200)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _hold(request: web.Request, limit: float) -> None:
    """Wait until the client hangs up (or ``limit`` seconds pass)."""
    end = time.monotonic() + limit
    while time.monotonic() < end and not _gone(request):
        await asyncio.sleep(0.05)


async def _trickle(request: web.Request, resp: SimResponse, interval: float) -> web.StreamResponse:
    data = resp.body if isinstance(resp.body, bytes) else json.dumps(resp.body, separators=(",", ":")).encode()
    stream = web.StreamResponse(status=200, headers={**resp.headers, "Content-Type": "application/json"})
    stream.content_length = len(data)
    await stream.prepare(request)
    end = time.monotonic() + HOLD_LIMIT_S
    for i in range(len(data)):
        if _gone(request) or time.monotonic() > end:
            break
        await stream.write(data[i : i + 1])
        await asyncio.sleep(interval)
    return stream
