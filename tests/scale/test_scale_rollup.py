"""The cross-tenant roll-up of a dispatched period (``schedule --dispatch`` + Celery workers).

End to end: ``dispatch`` enqueues three tenants on RabbitMQ, a real worker process audits them through the
real pipeline (history in PostgreSQL, reports e-mailed to a real SMTP server on loopback); one tenant fails
on every attempt. When the last tenant is settled, the worker writes ``_rollup/<period>/`` from the runs
recorded in history and sends the MSP summary exactly once, also when every task is delivered again.
The claim-store side (settled periods, one roll-up per period) runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import email
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
import yaml
from aiosmtpd.controller import Controller
from scale_workload import sim_config
from services import fresh_postgres_database
from sqlalchemy import create_engine

from auditor.config import load_config, parse_config
from auditor.demo import demo_snapshot
from auditor.findings import SEVERITIES
from auditor.history import HistoryStore
from auditor.history.db import make_engine
from auditor.pipeline import run_audit
from auditor.render.rollup import row_for
from auditor.scale.__main__ import main as scale_main
from auditor.scale.app import TASK_NAME, create_app
from auditor.scale.claims import ClaimStore
from auditor.scale.dispatch import dispatch
from auditor.scale.rollup import rollup_rows, write_period_rollup
from auditor.scale.settings import ScaleSettings

REPO = Path(__file__).resolve().parents[2]
PERIOD = "2026-11-23T07:00Z"
TENANTS = ["sim-001", "sim-002", "sim-003"]
T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def rollups(self) -> list[email.message.Message]:
        return [m for m in self.messages if str(m["Subject"]).startswith("Entra audit roll-up")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _email_section(port: int) -> dict:
    return {
        "transport": "smtp",
        "sender": "audit@msp.test",
        "to": ["soc@msp.test"],
        "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "timeout_seconds": 10},
    }


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited early with {proc.returncode}")
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text(errors='replace')[-3000:]}")


@pytest.mark.services
@pytest.mark.slow
def test_a_dispatched_period_writes_one_rollup_and_one_summary(postgres_url, amqp_url, tmp_path):
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    queue = f"entra-auditor-test-{uuid.uuid4().hex[:8]}"
    markers = tmp_path / "markers"
    markers.mkdir()
    app = None
    try:
        with fresh_postgres_database(postgres_url) as db_url:
            raw = sim_config(TENANTS, db_url, str(tmp_path / "reports")) | {"email": _email_section(port)}
            config_path = tmp_path / "auditor.yaml"
            config_path.write_text(yaml.safe_dump(raw))
            config = load_config(config_path)
            env = {
                **{k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_RUN_FN"},
                "PYTHONPATH": os.pathsep.join([str(REPO / "tests" / "scale"), str(REPO)]),
                "ENTRA_AUDITOR_BROKER_URL": amqp_url,
                "ENTRA_AUDITOR_RESULT_BACKEND": "rpc://",
                "ENTRA_AUDITOR_CONFIG": str(config_path),
                "ENTRA_AUDITOR_QUEUE": queue,
                "ENTRA_AUDITOR_MAX_ATTEMPTS": "2",
                "ENTRA_AUDITOR_RETRY_SECONDS": "1",
                "ENTRA_AUDITOR_RUN_FN": "scale_workload:run_sim_tenant",
                "ENTRA_SCALE_TEST_FAIL": "sim-003:9",  # fails on every attempt
                "ENTRA_SCALE_TEST_MARKERS": str(markers),
            }
            settings = ScaleSettings.from_env(env)
            app = create_app(settings)
            engine = create_engine(db_url)
            store = ClaimStore(engine, max_attempts=2)
            log_path = tmp_path / "worker.log"
            worker_name = f"roll-{uuid.uuid4().hex[:6]}@scale-test"
            log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen(
                [sys.executable, "-m", "auditor.scale", "worker", "--concurrency", "2", "--hostname", worker_name],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                assert sorted(dispatch(app, store, config, PERIOD).enqueued) == TENANTS
                row = _wait(
                    lambda: (r := store.rollup(PERIOD)) and r["state"] == "done" and r,
                    120,
                    "the roll-up",
                    proc,
                    log_path,
                )
                _wait(lambda: len(inbox.rollups()) == 1, 30, "the MSP summary", proc, log_path)
                assert store.summary(PERIOD) == {"done": 2, "failed": 1}
                # Every task delivered again: nothing new is audited, written or sent.
                for tenant in TENANTS:
                    again = app.send_task(TASK_NAME, args=(tenant, PERIOD)).get(timeout=30)
                    assert again["outcome"] in ("duplicate", "gave_up"), again
                time.sleep(1)
                assert len(inbox.rollups()) == 1
                assert store.rollup(PERIOD)["attempts"] == 1
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
                log.close()
                engine.dispose()

            folder = tmp_path / "reports" / "_rollup" / "20261123T0700Z"
            assert Path(row["folder"]) == folder and (folder / ".email-sent").exists()
            history = HistoryStore(db_url)
            sheet = openpyxl.load_workbook(folder / "rollup.xlsx", read_only=True)["Tenants"]
            rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
            assert sorted(rows) == TENANTS
            for tenant in ("sim-001", "sim-002"):
                (run,) = history.list_runs(tenant)
                assert list(rows[tenant][1:6]) == [run.counts["open"][s] for s in SEVERITIES]
                assert rows[tenant][11] == "complete"
            assert rows["sim-003"][11] == "failed" and "injected failure" in rows["sim-003"][13]
            summary = inbox.rollups()[0]
            subject = " ".join(str(summary["Subject"]).split())  # unfold the header
            assert subject.startswith("Entra audit roll-up: 3 tenants") and "1 not complete" in subject
            names = sorted(p.get_filename() for p in summary.walk() if p.get_filename())
            assert names == ["rollup.html", "rollup.xlsx"]
            tenant_reports = [m for m in inbox.messages if m not in inbox.rollups()]
            assert len(tenant_reports) == 2  # each audited tenant's own report, once
    finally:
        controller.stop()
        if app is not None:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(queue)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    postgres_url = request.getfixturevalue("postgres_url")
    with fresh_postgres_database(postgres_url) as url:
        yield url


def test_the_period_rollup_waits_for_every_tenant_and_is_written_once(db_url, tmp_path, capsys):
    raw = {
        "tenants": [{"name": n, "tenant_id": "t", "client_id": "c", "client_secret_env": "NOPE"} for n in TENANTS],
        "storage": {"url": db_url},
        "reports": {"dir": str(tmp_path / "r"), "formats": ["json"]},
    }
    config = parse_config(raw)
    history = HistoryStore(db_url)
    engine = make_engine(db_url)
    now = [datetime(2026, 11, 23, 7, 0)]
    store = ClaimStore(engine, lease_seconds=60, max_attempts=2, clock=lambda: now[0])
    store.ensure_schema()
    for tenant in TENANTS:
        store.register(tenant, PERIOD)

    outcomes = {}

    def audit(tenant: str) -> None:
        claim = store.acquire(tenant, PERIOD, "w1").claim
        outcome = run_audit(config, tenant, snapshot=demo_snapshot(), history=history, now=T0, email=False)
        store.complete(claim, run_id=outcome.result.run.id, run_status=outcome.result.run.status)
        outcomes[tenant] = outcome

    audit("sim-001")
    audit("sim-002")
    assert write_period_rollup(config, store, history, PERIOD, "w1") is None  # sim-003 is still queued
    claim = store.acquire("sim-003", PERIOD, "w2").claim
    store.fail(claim, "first attempt failed")
    assert store.settled(PERIOD) is None  # one attempt left
    claim = store.acquire("sim-003", PERIOD, "w2").claim
    store.fail(claim, '=HYPERLINK("http://x") <b>', final=True)
    assert store.settled(PERIOD) is not None

    files = write_period_rollup(config, store, history, PERIOD, "w2")
    assert files is not None and files["html"].parent == tmp_path / "r" / "_rollup" / "20261123T0700Z"
    page = files["html"].read_text()
    assert "sim-001" in page and "&lt;b&gt;" in page and '<b>"' not in page
    assert write_period_rollup(config, store, history, PERIOD, "w1") is None  # done: never twice
    # Built from history, a tenant's row says what the foreground roll-up (from the result in memory) says.
    from_history = {r.tenant: r for r in rollup_rows(store.list(PERIOD), history)}
    for tenant, outcome in outcomes.items():
        assert from_history[tenant] == row_for(tenant, outcome.result)
    assert from_history["sim-003"].status == "failed" and "HYPERLINK" in from_history["sim-003"].problem
    assert store.rollup(PERIOD)["state"] == "done"

    # A roll-up whose writer died is taken over once its lease has run out, not before.
    store.register("sim-001", "P2")
    store.register("sim-002", "P2")
    for tenant in ("sim-001", "sim-002"):
        store.complete(store.acquire(tenant, "P2", "w1").claim, run_id=None, run_status=None)
    assert store.take_rollup("P2", "dead") is not None
    assert store.take_rollup("P2", "w1") is None
    now[0] += timedelta(seconds=61)
    files = write_period_rollup(config, store, history, "P2", "w1")
    assert files is not None and "no run recorded" in files["html"].read_text()
    assert store.rollup("P2")["attempts"] == 2
    engine.dispose()
    history.close()

    path = tmp_path / "auditor.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert scale_main(["status", "-c", str(path), "--period", PERIOD]) == 0
    assert f"roll-up done: {tmp_path / 'r' / '_rollup' / '20261123T0700Z'}" in capsys.readouterr().out


def test_the_dispatcher_registers_the_whole_batch_before_the_first_task(amqp_url, tmp_path):
    """A worker that settles a tenant while the dispatcher is still publishing must see every claim of the
    period (or it would write a roll-up of half the batch)."""
    queue = f"entra-auditor-test-{uuid.uuid4().hex[:8]}"
    app = create_app(ScaleSettings(broker_url=amqp_url, queue=queue))
    config = parse_config(sim_config(TENANTS, f"sqlite:///{tmp_path / 'h.db'}", str(tmp_path)))
    engine = create_engine(config.storage.url)
    store = ClaimStore(engine)
    seen: list[int] = []
    real_send = app.send_task

    def send_and_look(*args, **kwargs):
        seen.append(len(store.list("P1")))  # what a worker would find at this moment
        return real_send(*args, **kwargs)

    app.send_task = send_and_look
    try:
        assert dispatch(app, store, config, "P1").enqueued == TENANTS
        assert seen == [3, 3, 3]
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        engine.dispose()

    # The broker is down: no claim of the batch stays behind, so the next dispatch enqueues them all.
    down = create_app(ScaleSettings(broker_url=f"amqp://guest:guest@127.0.0.1:{_free_port()}//"))
    down.conf.broker_connection_max_retries = 0
    down.conf.broker_transport_options = {"max_retries": 0}
    engine = create_engine(config.storage.url)
    store = ClaimStore(engine)
    with pytest.raises(Exception):  # noqa: B017 - kombu's OperationalError
        dispatch(down, store, config, "P2")
    assert store.list("P2") == []
    engine.dispose()
