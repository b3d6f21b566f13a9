"""The simulator: two HTTPS listeners on loopback, served from an event loop in a background thread.

* ``authority_host`` = ``graph_endpoint``: the login host (discovery, token) and Graph (``/v1.0``, ``/beta``),
  plus Outlook upload URLs for large attachments.
* ``exchange_endpoint``: the Exchange Online admin API (``/adminapi/{beta|v1.0}/{tenant}/...``).

Graph and Exchange listen on different ports because a token is scoped to one resource URI
(``{graph_endpoint}/.default`` vs ``{exchange_endpoint}/.default``) and the two must differ.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from auditor.sim.exchange import ExchangeDispatcher
from auditor.sim.graph import GraphDispatcher
from auditor.sim.graph_mail import upload_chunk
from auditor.sim.identity import Login
from auditor.sim.options import SentMail, SimOptions, SimTenant
from auditor.sim.permissions import EXCHANGE_RESOURCE, GRAPH_RESOURCE
from auditor.sim.routing import SimContext
from auditor.sim.state import TenantState
from auditor.sim.stats import SimStats, StatsRecorder
from auditor.sim.throttle import Throttles
from auditor.sim.tls import TlsMaterial
from auditor.sim.tokens import TokenSigner
from auditor.sim.wire import JSON_TYPE, PageTokens, SimRequest, SimResponse, exo_error, graph_error, parse_query

log = logging.getLogger(__name__)

_DISCOVERY = re.compile(r"^/(?P<t>[^/]+)/v2\.0/\.well-known/openid-configuration/?$", re.IGNORECASE)
_TOKEN = re.compile(r"^/(?P<t>[^/]+)/oauth2/v2\.0/token/?$", re.IGNORECASE)
_KEYS = re.compile(r"^/(?P<t>[^/]+)/discovery/v2\.0/keys/?$", re.IGNORECASE)
_INSTANCE = re.compile(r"^/common/discovery/instance/?$", re.IGNORECASE)
_GRAPH = re.compile(r"^/(?P<v>v1\.0|beta)(?P<rest>/.*)?$", re.IGNORECASE)
_UPLOAD = re.compile(
    r"^/api/v2\.0/Users\('[^']*'\)/Messages\('[^']*'\)/AttachmentSessions\('(?P<sid>[^']+)'\)$", re.IGNORECASE
)
_EXO = re.compile(
    r"^(?P<prefix>/tenant-host)?/adminapi/(?P<v>beta|v1\.0)/(?P<t>[^/]+)/(?P<op>InvokeCommand|\$batch)/?$",
    re.IGNORECASE,
)
_WWW_AUTH = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)
_MAX_BODY = 200 * 1024 * 1024


class Simulator:
    """Serves one or more tenants (each from a ``Snapshot``) over HTTPS with the real wire format."""

    def __init__(
        self,
        tenants: Iterable[SimTenant],
        options: SimOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        exchange_port: int = 0,
        state_dir: Path | None = None,
    ) -> None:
        """``state_dir``: keep the CA there across restarts (see ``auditor.sim.state_dir``) instead of a
        temporary directory removed on stop."""
        self.options = options or SimOptions()
        self._state_dir = state_dir
        self._specs = list(tenants)
        if not self._specs:
            raise ValueError("Simulator needs at least one SimTenant.")
        self._host = host
        self._want_ports = (port, exchange_port)
        self._ports: tuple[int, int] | None = None
        self._stats = StatsRecorder()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runners: list[web.AppRunner] = []
        self._tmpdir: Path | None = None
        self._tls: TlsMaterial | None = None
        self._ctx: SimContext | None = None
        self.tenants: dict[str, TenantState] = {}
        self._auth_requests = 0
        self._revoked_before: int | None = None
        self._faults: dict[str, dict[str, int | None]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> Simulator:
        if self._thread is not None:
            return self
        states = [TenantState(spec, self.options) for spec in self._specs]
        for st in states:
            for key in (st.tenant_id.lower(), st.default_domain.lower()):
                if key in self.tenants:
                    raise ValueError(f"Two simulated tenants share the identifier {key!r}.")
                self.tenants[key] = st
        if self._state_dir is not None:
            self._tls = TlsMaterial(self._state_dir, persistent=True)
        else:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="entra-auditor-sim-"))
            self._tls = TlsMaterial(self._tmpdir)
        signer = TokenSigner()
        self._ctx = SimContext(self.options, PageTokens(secrets.token_bytes(16)), random.Random(self.options.seed))
        throttles = Throttles(self.options)
        self._graph = GraphDispatcher(self._ctx, throttles, self._stats)
        self._exchange = ExchangeDispatcher(self._ctx, throttles, self._stats)
        self._login = Login(
            self.tenants,
            signer,
            self.options.token_lifetime_s,
            lambda: self.authority_host,
            lambda: self.graph_endpoint,
            lambda: self.exchange_endpoint,
        )
        self._signer = signer
        self._faults = {
            "malformed": _fault_table(self.options.malformed_json),
            "truncated": _fault_table(self.options.truncated_page),
        }
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="entra-auditor-sim", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._cleanup_files()
            raise failure[0]
        return self

    async def _serve(self) -> None:
        assert self._tls is not None
        ssl_ctx = self._tls.server_context()
        ports = []
        for handler, port in ((self._handle_main, self._want_ports[0]), (self._handle_exo, self._want_ports[1])):
            app = web.Application(client_max_size=_MAX_BODY)
            app.router.add_route("*", "/{tail:.*}", handler)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, self._host, port, ssl_context=ssl_ctx, backlog=512)
            await site.start()
            self._runners.append(runner)
            server = site._server  # the bound asyncio server (aiohttp exposes no public accessor)
            ports.append(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self._ports = (ports[0], ports[1])

    async def _shutdown(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._thread = None
        self._loop = None
        self._cleanup_files()

    def _cleanup_files(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- public surface ----------------------------------------------------------------------------
    @property
    def ports(self) -> tuple[int, int]:
        """The bound (login + Graph, Exchange) ports."""
        return self._require_ports()

    def _require_ports(self) -> tuple[int, int]:
        if self._ports is None:
            raise RuntimeError("The simulator is not running; call start() or use it as a context manager.")
        return self._ports

    @property
    def authority_host(self) -> str:
        return f"https://{_netloc(self._host, self._require_ports()[0])}"

    @property
    def graph_endpoint(self) -> str:
        return self.authority_host

    @property
    def exchange_endpoint(self) -> str:
        return f"https://{_netloc(self._host, self._require_ports()[1])}"

    @property
    def ca_bundle_path(self) -> str:
        if self._tls is None:
            raise RuntimeError("The simulator is not running.")
        return str(self._tls.ca_bundle_path)

    @property
    def stats(self) -> SimStats:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    @property
    def sent_mail(self) -> list[SentMail]:
        return list(self._ctx.sent_mail) if self._ctx else []

    def tenant(self, key: str | None = None) -> TenantState:
        """A served tenant by id, default domain or snapshot name (the first one when ``key`` is None)."""
        unique = list({id(t): t for t in self.tenants.values()}.values())
        if key is None:
            return unique[0]
        for st in unique:
            if key.lower() in (st.tenant_id.lower(), st.default_domain.lower(), st.name.lower()):
                return st
        raise KeyError(key)

    def tenant_config(
        self,
        key: str | None = None,
        *,
        secret_env: str = "ENTRA_AUDITOR_SIM_SECRET",  # noqa: S107
        certificate_path: str | None = None,
    ) -> dict[str, Any]:
        """The ``tenants:`` entry (cloud: custom) that points the auditor at this simulated tenant."""
        st = self.tenant(key)
        cfg: dict[str, Any] = {"name": st.name, "tenant_id": st.tenant_id, "client_id": st.client_id}
        if certificate_path:
            cfg["certificate_path"] = certificate_path
        else:
            cfg["client_secret_env"] = secret_env
        cfg.update(
            {
                "cloud": "custom",
                "authority_host": self.authority_host,
                "graph_endpoint": self.graph_endpoint,
                "exchange_endpoint": self.exchange_endpoint,
                "ca_bundle": self.ca_bundle_path,
            }
        )
        return cfg

    # -- HTTP plumbing -----------------------------------------------------------------------------
    async def _enter(self) -> None:
        self._stats.enter()
        if self.options.latency_ms:
            await asyncio.sleep(self.options.latency_ms / 1000)

    async def _handle_main(self, request: web.Request) -> web.StreamResponse:
        await self._enter()
        try:
            resp = await self._route_main(request)
            return await self._send(request, resp)
        finally:
            self._stats.leave()

    async def _handle_exo(self, request: web.Request) -> web.StreamResponse:
        await self._enter()
        try:
            resp = await self._route_exo(request)
            return await self._send(request, resp)
        finally:
            self._stats.leave()

    async def _route_main(self, request: web.Request) -> SimResponse:
        path, method = request.path, request.method
        query = dict(request.query)
        if m := _TOKEN.match(path):
            if method != "POST":
                return graph_error(405, "BadRequest", "The token endpoint needs POST.", "token")
            form = {k: str(v) for k, v in (await request.post()).items()}
            resp = self._login.token(m.group("t"), form)
            if resp.status == 200:
                self._stats.bump("tokens_issued")
            return resp
        if m := _DISCOVERY.match(path):
            return self._login.openid_configuration(m.group("t"))
        if _INSTANCE.match(path):
            return self._login.instance_discovery(query)
        if _KEYS.match(path):
            return self._login.keys()
        if m := _UPLOAD.match(path):
            if method != "PUT":
                return graph_error(405, "BadRequest", "Upload URLs take PUT.", "upload")
            assert self._ctx is not None
            return upload_chunk(
                self._ctx, m.group("sid"), query.get("authtoken", ""), request.headers, await request.read()
            )
        if m := _GRAPH.match(path):
            version = "v1.0" if m.group("v").lower() == "v1.0" else "beta"
            auth = self._authenticate(request, GRAPH_RESOURCE)
            if isinstance(auth, SimResponse):
                return auth
            claims, tenant = auth
            body, size = await _read_json(request)
            if isinstance(body, SimResponse):
                return body
            req = SimRequest(
                method=method,
                path=m.group("rest") or "/",
                version=version,
                query=parse_query(request.query.items()),
                headers=request.headers,
                body=body,
                base_url=self.graph_endpoint,
                tenant=tenant,
                claims=claims,
                raw_query=request.query_string,
                body_size=size,
            )
            if req.path.rstrip("/").lower() == "/$batch":
                if method != "POST":
                    return graph_error(405, "BadRequest", "$batch needs POST.", "batch")
                return self._graph.batch(req)
            return self._graph.dispatch(req)
        return graph_error(404, "NotFound", f"No route for {path}.", "unknown")

    async def _route_exo(self, request: web.Request) -> SimResponse:
        m = _EXO.match(request.path)
        if not m or request.method != "POST":
            return exo_error(404, "NotFound", f"No route for {request.method} {request.path}.", "unknown")
        target = self.options.exchange_redirect_host
        if target and not m.group("prefix"):
            # some tenants are sent to a tenant-specific host (ScubaGear resolves it through a 302)
            port = self._require_ports()[1]
            query = f"?{request.query_string}" if request.query_string else ""
            location = f"https://{_netloc(target, port)}/tenant-host{request.path}{query}"
            return SimResponse(302, None, {"Location": location}, route="exo_command")
        auth = self._authenticate(request, EXCHANGE_RESOURCE)
        if isinstance(auth, SimResponse):
            return auth
        claims, tenant = auth
        if self.tenants.get(m.group("t").lower()) is not tenant:
            return exo_error(
                401,
                "Unauthorized",
                "The token was issued for another tenant.",
                "exo_command",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        body, size = await _read_json(request)
        if isinstance(body, SimResponse):
            return body
        req = SimRequest(
            method="POST",
            path="/" + m.group("op"),
            version=m.group("v").lower(),
            query=parse_query(request.query.items()),
            headers=request.headers,
            body=body,
            base_url=self.exchange_endpoint + (m.group("prefix") or ""),
            tenant=tenant,
            claims=claims,
            body_size=size,
        )
        if m.group("op").lower() == "$batch":
            return self._exchange.batch(req)
        return self._exchange.invoke(req)

    def _authenticate(self, request: web.Request, resource: str) -> tuple[dict[str, Any], TenantState] | SimResponse:
        exo = resource == EXCHANGE_RESOURCE

        def fail(message: str) -> SimResponse:
            if exo:
                return exo_error(
                    401, "Unauthorized", message, "exo_command", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
            return graph_error(401, "InvalidAuthenticationToken", message, "unknown", {"WWW-Authenticate": _WWW_AUTH})

        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return fail("Access token is empty.")
        token = header[7:].strip()
        claims = self._signer.verify(token)
        if claims is None:
            return fail("Access token validation failure. Invalid signature or malformed token.")
        if claims.get("aud") != resource:
            return fail("Access token validation failure. Invalid audience.")
        if float(claims.get("exp", 0)) < time.time():
            return fail("Lifetime validation failed, the token is expired.")
        limit = self.options.force_401_after_requests
        if limit is not None:
            # one revocation event: once ``limit`` authenticated requests were served, every token issued
            # so far stops working (tokens issued afterwards are fine)
            self._auth_requests += 1
            if self._auth_requests > limit and self._revoked_before is None:
                self._revoked_before = self._login.issued
            if self._revoked_before is not None and int(claims.get("seq", 0)) <= self._revoked_before:
                return fail("Access token has expired or is not yet valid.")
        tenant = self.tenants.get(str(claims.get("tid", "")).lower())
        if tenant is None:
            return fail("Access token validation failure. Unknown tenant.")
        return claims, tenant

    def _fault(self, kind: str, route: str) -> bool:
        table = self._faults.get(kind, {})
        if route not in table:
            return False
        left = table[route]
        if left is None:
            return True
        if left <= 0:
            return False
        table[route] = left - 1
        return True

    async def _send(self, request: web.Request, resp: SimResponse) -> web.StreamResponse:
        self._stats.response(resp.route, resp.status)
        hostile: web.StreamResponse | None = (
            await self.options.faults.respond(request, resp) if self.options.faults is not None else None
        )
        if hostile is not None:
            return hostile
        headers = dict(resp.headers)
        if resp.body is None:
            return web.Response(status=resp.status, headers=headers)
        data = resp.body if isinstance(resp.body, bytes) else json.dumps(resp.body, separators=(",", ":")).encode()
        headers["Content-Type"] = (
            JSON_TYPE if resp.route not in ("token", "discovery", "keys") else "application/json; charset=utf-8"
        )
        if resp.status == 200 and self._fault("malformed", resp.route):
            self._stats.bump("faults_injected")
            return web.Response(status=200, headers=headers, body=data[: max(1, len(data) // 2)] + b"<!-- -->")
        if resp.status == 200 and self._fault("truncated", resp.route):
            self._stats.bump("faults_injected")
            stream = web.StreamResponse(status=200, headers=headers)
            stream.content_length = len(data)
            await stream.prepare(request)
            await stream.write(data[: len(data) // 2])
            if request.transport is not None:
                request.transport.abort()
            return stream
        return web.Response(status=resp.status, headers=headers, body=data)


async def _read_json(request: web.Request) -> tuple[Any, int]:
    raw = await request.read() if request.can_read_body else b""
    if not raw:
        return None, 0
    try:
        return json.loads(raw), len(raw)
    except (ValueError, UnicodeDecodeError):
        return graph_error(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type "
            "header is set and payload is of valid JSON format.",
        ), len(raw)


def _fault_table(spec: Any) -> dict[str, int | None]:
    if isinstance(spec, Mapping):
        return {str(k): int(v) for k, v in spec.items()}
    return dict.fromkeys((str(r) for r in spec), None)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
