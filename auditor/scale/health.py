"""Container/service health check: ``python -m auditor.scale.health``.

Checks, each with a short timeout: the configuration loads; the history database answers; when a
broker is configured (``ENTRA_AUDITOR_BROKER_URL``), it accepts a connection. Prints one line and
exits 0 (healthy) or 1 (unhealthy, naming what failed). Never prints a secret.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from sqlalchemy import text

from auditor.errors import AuditorError
from auditor.scale.settings import ScaleSettings, redact
from auditor.scale.task import WorkerRuntime


def check(settings: ScaleSettings, *, broker: bool | None = None, timeout: float = 5.0) -> list[str]:
    """The problems found (empty when healthy)."""
    problems: list[str] = []
    runtime = WorkerRuntime(settings)
    try:
        config = runtime.load_config()
    except AuditorError as exc:
        return [f"configuration: {exc}"]
    problems += _probe("history database", lambda: _database(runtime, config.storage.url))
    if broker is None:
        broker = settings.broker_url is not None
    if broker:
        problems += _probe("message broker", lambda: _broker(settings, timeout))
    return problems


def _probe(what: str, fn: Callable[[], None]) -> list[str]:
    try:
        fn()
    except AuditorError as exc:
        return [f"{what}: {redact(str(exc))}"]
    except Exception as exc:
        detail = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return [f"{what}: {detail}"]
    return []


def _database(runtime: WorkerRuntime, url: str) -> None:
    engine = runtime.engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _broker(settings: ScaleSettings, timeout: float) -> None:
    from kombu import Connection

    with Connection(settings.require_broker(), connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auditor.scale.health", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--broker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check the broker (default: when ENTRA_AUDITOR_BROKER_URL is set)",
    )
    args = parser.parse_args(argv)
    try:
        settings = ScaleSettings.from_env()
    except AuditorError as exc:
        print(f"unhealthy: {exc}")
        return 1
    problems = check(settings, broker=args.broker)
    if problems:
        print("unhealthy: " + "; ".join(problems))
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
