"""Celery app factory, settings, periods and the dispatcher (against a real RabbitMQ)."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime

import pytest
from scale_workload import sim_config
from sqlalchemy import create_engine

from auditor.config import ScheduleConfig, parse_config
from auditor.errors import ConfigError
from auditor.scale.app import TASK_NAME, create_app
from auditor.scale.claims import ClaimStore
from auditor.scale.dispatch import current_period, dispatch
from auditor.scale.settings import ScaleSettings, redact, resolve


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_factory_configures_redelivery_and_connects_to_nothing():
    settings = ScaleSettings(broker_url=f"amqp://guest:guest@127.0.0.1:{_closed_port()}//")
    app = create_app(settings)  # nothing listens there: creating the app must not connect
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_default_queue == "entra-auditor"
    assert TASK_NAME in app.tasks
    assert create_app(settings) is not app  # no singleton


def test_settings_from_env_and_bad_values(tmp_path):
    secret = tmp_path / "broker"
    secret.write_text("amqp://auditor:s3cret@rabbitmq:5672//\n")
    s = ScaleSettings.from_env(
        {"ENTRA_AUDITOR_BROKER_URL_FILE": str(secret), "ENTRA_AUDITOR_LEASE_SECONDS": "90", "ENTRA_AUDITOR_QUEUE": "q1"}
    )
    assert s.broker_url == "amqp://auditor:s3cret@rabbitmq:5672//"
    assert (s.lease_seconds, s.heartbeat_seconds, s.queue) == (90.0, 30.0, "q1")
    with pytest.raises(ConfigError, match="ENTRA_AUDITOR_LEASE_SECONDS must be a number"):
        ScaleSettings.from_env({"ENTRA_AUDITOR_LEASE_SECONDS": "soon"})
    with pytest.raises(ConfigError, match="ENTRA_AUDITOR_MAX_ATTEMPTS must be greater than zero"):
        ScaleSettings.from_env({"ENTRA_AUDITOR_MAX_ATTEMPTS": "0"})
    with pytest.raises(ConfigError, match="ENTRA_AUDITOR_BROKER_URL"):
        ScaleSettings.from_env({}).require_broker()
    with pytest.raises(ConfigError, match=r"broker URL file .*missing"):
        ScaleSettings.from_env({"ENTRA_AUDITOR_BROKER_URL_FILE": str(tmp_path / "missing")})


def test_redact_and_resolve():
    text = "Cannot connect to amqp://auditor:s3cret@rabbitmq:5672// or postgresql+psycopg://u:p@db/x"
    assert "s3cret" not in redact(text) and ":p@" not in redact(text)
    assert "amqp://***@rabbitmq" in redact(text)
    assert resolve("auditor.pipeline:run_audit").__name__ == "run_audit"
    assert resolve("auditor.pipeline.run_audit").__name__ == "run_audit"
    with pytest.raises(ConfigError, match="Cannot import module 'nope'"):
        resolve("nope:run")
    with pytest.raises(ConfigError, match="has no attribute 'missing'"):
        resolve("auditor.pipeline:missing")


@pytest.mark.parametrize(
    ("cron", "tz", "now", "period"),
    [
        ("0 7 * * mon", "UTC", datetime(2026, 11, 25, 12, tzinfo=UTC), "2026-11-23T07:00Z"),
        ("0 7 * * mon", "UTC", datetime(2026, 11, 23, 7, tzinfo=UTC), "2026-11-23T07:00Z"),
        ("0 7 * * mon", "UTC", datetime(2026, 11, 23, 6, 59, tzinfo=UTC), "2026-11-16T07:00Z"),
        ("0 7 * * mon", "Europe/Amsterdam", datetime(2026, 11, 23, 6, 30, tzinfo=UTC), "2026-11-23T06:00Z"),
        ("*/15 * * * *", "UTC", datetime(2026, 11, 25, 12, 44, 59, tzinfo=UTC), "2026-11-25T12:30Z"),
        ("0 7 * * 1", "UTC", datetime(2026, 11, 25, 12, tzinfo=UTC), "2026-11-23T07:00Z"),  # 1 = Monday
        ("0 7 * * 0", "UTC", datetime(2026, 11, 25, 12, tzinfo=UTC), "2026-11-22T07:00Z"),  # 0 = Sunday
        ("0 0 1 1 *", "UTC", datetime(2026, 11, 25, tzinfo=UTC), "2026-01-01T00:00Z"),
    ],
)
def test_current_period(cron, tz, now, period):
    assert current_period(ScheduleConfig(cron=cron, timezone=tz), now) == period


def _queue_depth(app, queue):
    with app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue=queue, passive=True).message_count


def test_dispatch_enqueues_one_task_per_tenant_once(amqp_url, tmp_path):
    queue = f"entra-auditor-test-{uuid.uuid4().hex[:8]}"
    app = create_app(ScaleSettings(broker_url=amqp_url, queue=queue))
    names = ["sim-001", "sim-002", "sim-003"]
    config = parse_config(sim_config(names, f"sqlite:///{tmp_path / 'h.db'}", str(tmp_path)))
    engine = create_engine(config.storage.url)
    store = ClaimStore(engine)
    try:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        first = dispatch(app, store, config, "P1")
        assert first.enqueued == names and first.skipped == []
        again = dispatch(app, store, config, "P1")
        assert again.enqueued == [] and again.skipped == names
        assert _queue_depth(app, queue) == 3
        with app.connection_for_write() as conn:
            message = conn.SimpleQueue(queue, no_ack=True).get(timeout=5)
            assert message.headers["task"] == TASK_NAME
            assert message.headers["id"] == "audit-sim-001-P1"
        assert store.summary("P1") == {"queued": 3}
        with pytest.raises(ConfigError, match="No tenant named 'ghost'"):
            dispatch(app, store, config, "P2", tenants=["sim-001", "ghost"])
        assert store.summary("P2") == {}  # nothing registered when a name is wrong
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        engine.dispose()


def test_dispatch_forgets_a_claim_whose_publish_failed(tmp_path):
    app = create_app(ScaleSettings(broker_url=f"amqp://guest:guest@127.0.0.1:{_closed_port()}//"))
    app.conf.broker_connection_max_retries = 0
    app.conf.broker_transport_options = {"max_retries": 0}
    config = parse_config(sim_config(["sim-001"], f"sqlite:///{tmp_path / 'h.db'}", str(tmp_path)))
    engine = create_engine(config.storage.url)
    store = ClaimStore(engine)
    with pytest.raises(Exception):  # noqa: B017 - kombu's OperationalError
        dispatch(app, store, config, "P1")
    assert store.get("sim-001", "P1") is None  # so the next dispatch enqueues it again
    engine.dispose()


def test_status_command_lists_the_claims_of_a_period(tmp_path, capsys):
    import yaml

    from auditor.scale.__main__ import main

    path = tmp_path / "auditor.yaml"
    path.write_text(yaml.safe_dump(sim_config(["sim-001", "sim-002"], f"sqlite:///{tmp_path / 'h.db'}", str(tmp_path))))
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    store = ClaimStore(engine)
    store.ensure_schema()
    claim = store.acquire("sim-001", "P1", "w1:7").claim
    store.complete(claim, run_id="run-abc", run_status="complete")
    store.register("sim-002", "P1")
    assert main(["status", "-c", str(path), "--period", "P1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "period P1: done 1, queued 1"
    assert out[1].split() == ["sim-001", "done", "attempts", "1", "run", "run-abc"]
    assert out[2].split() == ["sim-002", "queued", "attempts", "0", "run", "-"]
    assert main(["status", "-c", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
    engine.dispose()


def test_worker_refuses_to_start_with_a_bad_configuration(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "ENTRA_AUDITOR_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{_closed_port()}//",
        "ENTRA_AUDITOR_CONFIG": str(tmp_path / "absent.yaml"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.scale", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: Configuration file {tmp_path / 'absent.yaml'} does not exist."
