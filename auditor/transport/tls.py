"""TLS trust for every outbound connection (MSAL token requests and the httpx API clients).

Trust = the system/certifi defaults + the tenant's ``ca_bundle`` + the standard ``SSL_CERT_FILE`` and
``REQUESTS_CA_BUNDLE`` variables (additive, so a TLS-inspecting proxy's CA can be added without losing
the public roots). The same ``ssl.SSLContext`` is handed to httpx and, through a requests adapter, to
MSAL, so both clients always agree on what they trust.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

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


class _ContextAdapter(HTTPAdapter):
    """A requests adapter whose connections use a given SSL context."""

    def __init__(self, context: ssl.SSLContext, timeout: float | None = None, **kwargs: Any) -> None:
        self._context = context
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # MSAL passes no timeout when it is given a session: without a default, a token endpoint that
        # accepts the connection and never answers would hang the run forever.
        if kwargs.get("timeout") is None and self._timeout is not None:
            kwargs["timeout"] = self._timeout
        return super().send(request, *args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(*args, **kwargs)


def requests_session(context: ssl.SSLContext, timeout: float | None = None) -> requests.Session:
    """The HTTP client MSAL uses: a requests session that trusts exactly what ``context`` trusts.

    ``timeout`` (seconds, per connect and per read) applies to every request that names none.
    """
    session = requests.Session()
    session.mount("https://", _ContextAdapter(context, timeout))
    return session
