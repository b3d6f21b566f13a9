"""Scale-out settings, read from environment variables (the broker URL carries a password).

ENTRA_AUDITOR_BROKER_URL        required for workers/dispatch, e.g. amqp://user:pass@rabbitmq:5672//
ENTRA_AUDITOR_BROKER_URL_FILE   a file holding the broker URL instead
ENTRA_AUDITOR_RESULT_BACKEND    result backend, e.g. rpc:// (default: none, results ignored)
ENTRA_AUDITOR_CONFIG            the auditor configuration file (default config/auditor.yaml)
ENTRA_AUDITOR_QUEUE             queue name (default entra-auditor)
ENTRA_AUDITOR_LEASE_SECONDS     claim lease (default 300); the heartbeat runs every lease/3
ENTRA_AUDITOR_MAX_ATTEMPTS      attempts per tenant per period (default 3)
ENTRA_AUDITOR_MAX_WAIT_RETRIES  how often a task waits for a claim another worker holds (default 200)
ENTRA_AUDITOR_RETRY_SECONDS     first back-off after a failed attempt, doubling (default 60)
ENTRA_AUDITOR_RUN_FN            dotted path of the audit function (default auditor.pipeline:run_audit)
ENTRA_AUDITOR_HISTORY_FN        dotted path: config -> history store (default
                                auditor.scale.task:default_history)
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError

DEFAULT_RUN_FN = "auditor.pipeline:run_audit"
DEFAULT_HISTORY_FN = "auditor.scale.task:default_history"
_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """Remove ``user:password@`` from any URL in ``text`` (broker and database errors quote URLs)."""
    return _CREDENTIALS.sub(r"\g<scheme>***@", text)


@dataclass(frozen=True)
class ScaleSettings:
    broker_url: str | None = None
    result_backend: str | None = None
    config_path: str | None = None
    queue: str = "entra-auditor"
    lease_seconds: float = 300.0
    max_attempts: int = 3
    max_wait_retries: int = 200
    retry_seconds: float = 60.0
    run_fn: str = DEFAULT_RUN_FN
    history_fn: str = DEFAULT_HISTORY_FN

    @property
    def heartbeat_seconds(self) -> float:
        return max(self.lease_seconds / 3.0, 0.2)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScaleSettings:
        env = os.environ if env is None else env
        broker = env.get("ENTRA_AUDITOR_BROKER_URL") or None
        broker_file = env.get("ENTRA_AUDITOR_BROKER_URL_FILE")
        if not broker and broker_file:
            try:
                broker = Path(broker_file).read_text().strip() or None
            except OSError as exc:
                raise ConfigError(
                    f"The broker URL file {broker_file} (ENTRA_AUDITOR_BROKER_URL_FILE) cannot be read "
                    f"({exc.strerror})."
                ) from exc
        return cls(
            broker_url=broker,
            result_backend=env.get("ENTRA_AUDITOR_RESULT_BACKEND") or None,
            config_path=env.get("ENTRA_AUDITOR_CONFIG") or None,
            queue=env.get("ENTRA_AUDITOR_QUEUE") or "entra-auditor",
            lease_seconds=_number(env, "ENTRA_AUDITOR_LEASE_SECONDS", 300.0, float),
            max_attempts=int(_number(env, "ENTRA_AUDITOR_MAX_ATTEMPTS", 3, int)),
            max_wait_retries=int(_number(env, "ENTRA_AUDITOR_MAX_WAIT_RETRIES", 200, int)),
            retry_seconds=_number(env, "ENTRA_AUDITOR_RETRY_SECONDS", 60.0, float),
            run_fn=env.get("ENTRA_AUDITOR_RUN_FN") or DEFAULT_RUN_FN,
            history_fn=env.get("ENTRA_AUDITOR_HISTORY_FN") or DEFAULT_HISTORY_FN,
        )

    def require_broker(self) -> str:
        if not self.broker_url:
            raise ConfigError(
                "No message broker configured: set ENTRA_AUDITOR_BROKER_URL (or "
                "ENTRA_AUDITOR_BROKER_URL_FILE), e.g. amqp://user:password@rabbitmq:5672//."
            )
        return self.broker_url


def _number(env: Mapping[str, str], key: str, default: float, kind: Callable[[str], Any]) -> Any:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ConfigError(f"Environment variable {key} must be a number, not {raw!r}.") from exc
    if value <= 0:
        raise ConfigError(f"Environment variable {key} must be greater than zero.")
    return value


def resolve(path: str) -> Callable[..., Any]:
    """Import ``package.module:attr`` (or ``package.module.attr``); one clear sentence on failure."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"{path!r} is not a dotted path such as 'package.module:function'.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"Cannot import module {module_name!r} named by {path!r} ({exc}).") from exc
    try:
        target: Callable[..., Any] = getattr(module, attr)
    except AttributeError as exc:
        raise ConfigError(f"Module {module_name!r} has no attribute {attr!r} (from {path!r}).") from exc
    if not callable(target):
        raise ConfigError(f"{path!r} is not callable.")
    return target
