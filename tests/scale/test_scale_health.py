"""The health check command, run as the container HEALTHCHECK runs it (a subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from scale_workload import sim_config

REPO = Path(__file__).resolve().parents[2]


def _health(env_extra, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTRA_AUDITOR_")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.scale.health", *args], env=env, capture_output=True, text=True, timeout=60
    )
    return proc.returncode, proc.stdout.strip()


def _config(tmp_path, url):
    path = tmp_path / "auditor.yaml"
    path.write_text(yaml.safe_dump(sim_config(["sim-001"], url, str(tmp_path / "reports"))))
    return str(path)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthy_with_sqlite_and_no_broker(tmp_path):
    code, out = _health({"ENTRA_AUDITOR_CONFIG": _config(tmp_path, f"sqlite:///{tmp_path / 'h.db'}")})
    assert (code, out) == (0, "healthy")


def test_missing_configuration_is_named(tmp_path):
    code, out = _health({"ENTRA_AUDITOR_CONFIG": str(tmp_path / "nope.yaml")})
    assert code == 1
    assert out == f"unhealthy: configuration: Configuration file {tmp_path / 'nope.yaml'} does not exist."


def test_unreachable_broker_and_database_without_leaking_passwords(tmp_path, postgres_url):
    port = _closed_port()
    db = postgres_url.replace("postgres@", "postgres:s3cret@").rsplit("/", 1)[0] + "/no_such_db_scale"
    code, out = _health(
        {
            "ENTRA_AUDITOR_CONFIG": _config(tmp_path, db),
            "ENTRA_AUDITOR_BROKER_URL": f"amqp://guest:hunter2@127.0.0.1:{port}//",
        }
    )
    assert code == 1
    assert out.startswith("unhealthy: history database: ")
    assert "no_such_db_scale" in out and "message broker: " in out
    assert "s3cret" not in out and "hunter2" not in out


def test_healthy_with_postgres_and_rabbitmq(tmp_path, postgres_url, amqp_url):
    code, out = _health({"ENTRA_AUDITOR_CONFIG": _config(tmp_path, postgres_url), "ENTRA_AUDITOR_BROKER_URL": amqp_url})
    assert (code, out) == (0, "healthy")
