"""The dispatcher process (`entra-auditor schedule --dispatch`) and its retry behaviour."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from scale_workload import sim_config
from sqlalchemy import create_engine

from auditor.config import parse_config
from auditor.scale.app import create_app
from auditor.scale.claims import ClaimStore
from auditor.scale.dispatch import current_period, dispatch_due
from auditor.scale.settings import ScaleSettings
from auditor.scale.task import WorkerRuntime

REPO = Path(__file__).resolve().parents[2]
NAMES = ["sim-001", "sim-002", "sim-003"]


def _config_data(tmp_path, grace):
    data = sim_config(NAMES, f"sqlite:///{tmp_path / 'h.db'}", str(tmp_path / "reports"))
    data["schedule"]["misfire_grace_seconds"] = grace
    return data


def _depth(app, queue):
    with app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False).message_count


def _wait(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_schedule_dispatch_catches_up_and_stops_on_sigterm(amqp_url, tmp_path):
    queue = f"entra-auditor-test-{uuid.uuid4().hex[:8]}"
    config_path = tmp_path / "auditor.yaml"
    config_path.write_text(yaml.safe_dump(_config_data(tmp_path, grace=8 * 86400)))
    config = parse_config(yaml.safe_load(config_path.read_text()))
    period = current_period(config.schedule)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ENTRA_AUDITOR_BROKER_URL": amqp_url, "ENTRA_AUDITOR_QUEUE": queue}
    env.pop("ENTRA_AUDITOR_CONFIG", None)
    app = create_app(ScaleSettings(broker_url=amqp_url, queue=queue))
    engine = create_engine(config.storage.url)
    store = ClaimStore(engine)
    cmd = [sys.executable, "-m", "auditor.cli", "schedule", "--dispatch", "-c", str(config_path)]
    try:
        for expected in (3, 6):  # a restart re-enqueues the still-queued tenants (duplicates are no-ops)
            proc = subprocess.Popen(
                cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            try:
                _wait(lambda e=expected: _depth(app, queue) == e, 30, f"{expected} messages")
                assert store.summary(period) == {"queued": 3}
            finally:
                proc.send_signal(signal.SIGTERM)
                out = proc.communicate(timeout=30)[0]
            assert proc.returncode == 0, out
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        engine.dispose()


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dispatch_retries_while_the_broker_is_down_then_gives_up(tmp_path):
    broker = f"amqp://guest:guest@127.0.0.1:{_closed_port()}//"
    settings = ScaleSettings(broker_url=broker)
    app = create_app(settings)
    app.conf.broker_connection_max_retries = 0
    app.conf.broker_transport_options = {"max_retries": 0}
    # Grace 8 days (covers the latest fire): the failure is retried; a stop request ends the wait.
    config = parse_config(_config_data(tmp_path, grace=8 * 86400))
    runtime = WorkerRuntime(settings, config_loader=lambda: config)
    stop = threading.Event()
    timer = threading.Timer(2.0, stop.set)
    timer.start()
    try:
        assert dispatch_due(app, runtime, stop=stop, retry_seconds=600) is None
    finally:
        timer.cancel()
    # Grace 1 s (long past): no retry, the error is raised.
    config = parse_config(_config_data(tmp_path, grace=1))
    runtime = WorkerRuntime(settings, config_loader=lambda: config)
    with pytest.raises(Exception):  # noqa: B017 - kombu OperationalError
        dispatch_due(app, runtime, stop=threading.Event(), retry_seconds=600)
