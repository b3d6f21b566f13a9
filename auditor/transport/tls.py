"""TLS trust for every outbound connection (MSAL token requests and the httpx API clients).

Trust = the system/certifi defaults + the tenant's ``ca_bundle`` + the standard ``SSL_CERT_FILE`` and
``REQUESTS_CA_BUNDLE`` variables (additive, so a TLS-inspecting proxy's CA can be added without losing
the public roots). The same ``ssl.SSLContext`` is handed to httpx and, through a requests adapter, to
MSAL, so both clients always agree on what they trust.

The adapter also bounds MSAL's requests (token, discovery) as the API client bounds its own: a timeout per
connect and per read, and an overall ``deadline`` per request, so an answer trickling in one byte at a time
(its headers or its body) ends at the deadline (:class:`DeadlineExceeded`) instead of whenever the server
stops: the body is read here against the deadline, and a watchdog shuts the connection's socket down if the
status line and headers have not arrived by then.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error

from auditor.errors import ConfigError

ENV_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def ca_bundle_paths(ca_bundle: str | None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The extra CA bundle files to trust, in order: config ``ca_bundle`` then the env variables."""
    env = os.environ if environ is None else environ
    paths: list[Path] = []
    candidates = [("ca_bundle", ca_bundle)] + [(name, env.get(name)) for name in ENV_VARS]
    for origin, value in candidates:
        if not value:
            continue
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"The CA bundle {value} named by {origin} does not exist or is not a file.")
        if path not in paths:
            paths.append(path)
    return paths


def ssl_context(ca_bundle: str | None = None, environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A verifying client context with the default roots plus every configured extra bundle."""
    ctx = ssl.create_default_context()
    try:
        import certifi

        ctx.load_verify_locations(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi ships with httpx and requests
        pass
    for path in ca_bundle_paths(ca_bundle, environ):
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"The CA bundle {path} cannot be loaded as PEM certificates ({exc}).") from exc
    return ctx


class DeadlineExceeded(requests.exceptions.Timeout):
    """A request (MSAL's) got no complete answer within its overall deadline."""


_DEADLINE = threading.local()  # ``end``: the monotonic deadline of the request this thread is sending


class _WatchedConnection(HTTPSConnection):
    """A connection whose wait for the status line and headers ends at the sending thread's deadline."""

    def getresponse(self) -> Any:
        end = getattr(_DEADLINE, "end", None)
        if end is None:
            return super().getresponse()
        timer = threading.Timer(max(0.0, end - time.monotonic()), self._expire)
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse()
        finally:
            timer.cancel()

    def _expire(self) -> None:
        sock = self.sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read: the request fails now


class _WatchedPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedConnection


class _ContextAdapter(HTTPAdapter):
    """A requests adapter whose connections use a given SSL context, with a default timeout and an overall
    deadline per request."""

    def __init__(
        self, context: ssl.SSLContext, timeout: float | None = None, deadline: float | None = None, **kwargs: Any
    ) -> None:
        self._context = context
        self._timeout = timeout
        self._deadline = deadline
        super().__init__(**kwargs)

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # MSAL passes no timeout when it is given a session: without a default, a token endpoint that
        # accepts the connection and never answers would hang the run forever.
        if kwargs.get("timeout") is None and self._timeout is not None:
            kwargs["timeout"] = self._timeout
        if self._deadline is None or kwargs.get("stream"):
            return super().send(request, *args, **kwargs)
        # Per-read timeouts do not bound a body sent one byte at a time: read it here, against the deadline.
        end = time.monotonic() + self._deadline
        kwargs["stream"] = True
        kwargs["timeout"] = _capped(kwargs.get("timeout"), self._deadline)
        _DEADLINE.end = end
        try:
            resp = super().send(request, *args, **kwargs)
        except requests.exceptions.RequestException as exc:
            if time.monotonic() >= end:
                url = str(request.url).split("?", 1)[0]
                raise DeadlineExceeded(
                    f"timed out: no answer from {url} within the {self._deadline:g} s deadline"
                ) from exc
            raise
        finally:
            _DEADLINE.end = None
        try:
            resp._content = _read_before(resp, end, self._deadline)
        except BaseException:
            resp.close()
            raise
        resp._content_consumed = True  # type: ignore[attr-defined]  # what requests sets once read
        resp.raw.release_conn()
        return resp

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)
        if self._deadline is not None:
            self.poolmanager.pool_classes_by_scheme = {**self.poolmanager.pool_classes_by_scheme, "https": _WatchedPool}

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(*args, **kwargs)


def _capped(timeout: Any, deadline: float) -> Any:
    """``timeout`` (a number or a (connect, read) pair) with no part longer than ``deadline``."""
    if isinstance(timeout, tuple):
        return tuple(deadline if t is None else min(float(t), deadline) for t in timeout)
    return deadline if timeout is None else min(float(timeout), deadline)


def _read_before(resp: requests.Response, end: float, deadline: float) -> bytes:
    """The whole (decoded) body of a streamed response, or :class:`DeadlineExceeded` at ``end``."""
    raw = resp.raw
    chunks: list[bytes] = []
    url = str(resp.url).split("?", 1)[0]
    late = DeadlineExceeded(
        f"timed out: no complete answer from {url} within the {deadline:g} s deadline", response=resp
    )
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise late
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(remaining)  # each read waits at most until the deadline
        try:
            chunk = raw.read1(65536, decode_content=True)
        except TimeoutError as exc:
            raise late from exc
        except Urllib3Error as exc:
            if "timed out" in str(exc).lower():
                raise late from exc
            raise requests.exceptions.ConnectionError(exc, request=resp.request) from exc
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def requests_session(
    context: ssl.SSLContext, timeout: float | None = None, deadline: float | None = None
) -> requests.Session:
    """The HTTP client MSAL uses: a requests session that trusts exactly what ``context`` trusts.

    ``timeout`` (seconds, per connect and per read) applies to every request that names none; ``deadline``
    (seconds) bounds each whole request, from sending it to the last byte of the answer.
    """
    session = requests.Session()
    session.mount("https://", _ContextAdapter(context, timeout, deadline))
    return session
