"""Run a scale-out worker in the foreground (``entra-auditor worker``)."""

from __future__ import annotations

import dataclasses
import os

from auditor.scale.app import create_app
from auditor.scale.settings import ScaleSettings
from auditor.scale.task import WorkerRuntime


def worker_main(argv: list[str] | None = None, settings: ScaleSettings | None = None) -> None:
    """Start ``celery worker`` on the audit queue; extra ``argv`` goes to it (e.g. ``--hostname``)."""
    settings = settings or ScaleSettings.from_env()
    settings.require_broker()
    runtime = WorkerRuntime(settings)
    # Fail fast, with one sentence, on a bad configuration or an unreachable history database.
    runtime.claims(runtime.load_config())
    runtime.dispose()  # connections must not be inherited by the forked pool processes
    app = create_app(settings, runtime=runtime)
    argv = list(argv or [])
    args = [
        "worker",
        "--loglevel",
        "INFO",
        "--queues",
        settings.queue,
        "--without-gossip",
        "--without-mingle",
        "--pool",
        "prefork",
        *argv,
    ]
    if not any(a == "-c" or a.startswith("--concurrency") for a in argv):
        args += ["--concurrency", "1"]
    app.worker_main(args)


def run_worker(config_path: str | os.PathLike[str] | None, *, concurrency: int = 1) -> int:
    """What ``entra-auditor worker`` calls: settings from the environment, config from the CLI."""
    settings = ScaleSettings.from_env()
    if config_path is not None:
        settings = dataclasses.replace(settings, config_path=str(config_path))
    worker_main(["--concurrency", str(max(1, concurrency))], settings)
    return 0
