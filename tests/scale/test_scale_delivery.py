"""A dispatched audit on a real Celery worker delivers the weekly e-mail exactly once.

The production path end to end: ``dispatch`` enqueues the tenant on RabbitMQ, a worker process (default
``run_fn``, i.e. ``auditor.pipeline.run_audit``) collects the simulated tenant over HTTPS, records the
run in PostgreSQL and sends the report to a real SMTP server on loopback, because ``email:`` is
configured. A redelivered task of the finished tenant sends nothing more.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from services import fresh_postgres_database
from smtp_inbox import Inbox, free_port
from sqlalchemy import create_engine

from auditor.config import load_config
from auditor.history import HistoryStore
from auditor.scale.app import TASK_NAME, create_app
from auditor.scale.claims import ClaimStore
from auditor.scale.dispatch import dispatch
from auditor.scale.settings import ScaleSettings
from auditor.sim import SimTenant, Simulator
from auditor.sim.tenant_gen import generate_tenant

pytestmark = [pytest.mark.services, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SECRET = "scale-delivery-secret"  # the simulator's throwaway credential
PERIOD = "2026-11-23T07:00Z"


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited early with {proc.returncode}")
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_dispatched_audit_on_a_worker_emails_the_report_once(postgres_url, amqp_url, tmp_path):
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    queue = f"entra-auditor-test-{uuid.uuid4().hex[:8]}"
    served = generate_tenant(80, seed=5, now=datetime.now(UTC))
    proc: subprocess.Popen | None = None
    app = None
    try:
        with (
            fresh_postgres_database(postgres_url) as db_url,
            Simulator(
                tenants=[SimTenant(served, client_id="11111111-1111-1111-1111-111111111111", client_secret=SECRET)]
            ) as sim,
        ):
            config_path = tmp_path / "auditor.yaml"
            config_path.write_text(
                yaml.safe_dump(
                    {
                        "tenants": [sim.tenant_config(secret_env="SIM_SECRET") | {"name": "contoso"}],
                        "storage": {"url": db_url},
                        "reports": {"dir": str(tmp_path / "reports"), "formats": ["html", "xlsx", "json"]},
                        "schedule": {"cron": "0 7 * * mon", "timezone": "UTC"},
                        "email": {
                            "transport": "smtp",
                            "sender": "audit@contoso.test",
                            "to": ["secops@contoso.test"],
                            "smtp": {"host": "127.0.0.1", "port": smtp_port, "starttls": False},
                        },
                    }
                )
            )
            config = load_config(config_path)
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "ENTRA_AUDITOR_RUN_FN")
            }
            env.update(
                {
                    "PYTHONPATH": str(REPO),
                    "SIM_SECRET": SECRET,
                    "ENTRA_AUDITOR_BROKER_URL": amqp_url,
                    "ENTRA_AUDITOR_RESULT_BACKEND": "rpc://",
                    "ENTRA_AUDITOR_CONFIG": str(config_path),
                    "ENTRA_AUDITOR_QUEUE": queue,
                }
            )
            app = create_app(ScaleSettings.from_env(env))
            engine = create_engine(db_url)
            store = ClaimStore(engine)
            log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "auditor.scale",
                    "worker",
                    "--hostname",
                    f"mail-{uuid.uuid4().hex[:6]}@scale-test",
                    "--concurrency",
                    "1",
                ],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                assert dispatch(app, store, config, PERIOD).enqueued == ["contoso"]
                _wait(lambda: store.summary(PERIOD).get("done") == 1, 90, "the audit to finish", proc)
                time.sleep(2)  # a duplicate would arrive right behind the first
                claim = store.get("contoso", PERIOD)
                assert claim["run_status"] == "complete", claim
                assert len(inbox.messages) == 1, (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
                # A redelivered task of the finished tenant is a no-op: no second e-mail.
                again = app.send_task(TASK_NAME, args=("contoso", PERIOD)).get(timeout=30)
                assert again["outcome"] == "duplicate"
                time.sleep(1)
                assert len(inbox.messages) == 1
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
                log.close()
                engine.dispose()
            message = inbox.messages[0]
            assert "contoso" in message["Subject"]
            attachments = sorted(part.get_filename() for part in message.walk() if part.get_filename())
            assert attachments == ["report.html", "report.xlsx"]
            (run,) = HistoryStore(db_url).list_runs("contoso")
            assert run.id == claim["run_id"]
            assert (Path(run.report_dir) / ".email-sent").exists()
            assert run.id in message["Message-ID"]
    finally:
        controller.stop()
        if app is not None:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(queue)
