"""Three real Celery workers on RabbitMQ + PostgreSQL audit 50 tenants; kills happen mid-run.

One worker is SIGKILLed whole (main process and pool child: a machine dies) while auditing one tenant,
and the pool child of another worker is SIGKILLed while auditing a second tenant (the OOM killer).
Every tenant must end with exactly one complete run in the history database: the killed tasks are
redelivered (acks_late / reject_on_worker_lost), wait for the dead holder's claim lease to expire and
take over; redeliveries of finished tenants are no-ops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from scale_workload import sim_config
from services import fresh_postgres_database
from sqlalchemy import create_engine, func, select

from auditor.config import load_config
from auditor.history.models import findings, runs
from auditor.scale.app import TASK_NAME, create_app
from auditor.scale.claims import ClaimStore
from auditor.scale.dispatch import dispatch
from auditor.scale.settings import ScaleSettings

pytestmark = [pytest.mark.services, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TENANTS = [f"sim-{i:03d}" for i in range(50)]
SLOW = "sim-007"  # its worker (main process and pool child) is SIGKILLed: a machine dies
SLOW2 = "sim-031"  # only its pool child is SIGKILLed (OOM killer): task_reject_on_worker_lost
PERIOD = "2026-11-23T07:00Z"
LEASE = 6.0
DEADLINE = 80.0


def _wait(predicate, timeout, what, procs=()):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        for name, proc in procs:
            if proc.poll() is not None and name != "killed":
                raise AssertionError(f"worker {name} exited early with {proc.returncode}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_fifty_tenants_three_workers_with_kills(postgres_url, amqp_url, tmp_path):
    queue = f"entra-auditor-test-{uuid.uuid4().hex[:8]}"
    markers = tmp_path / "markers"
    markers.mkdir()
    with fresh_postgres_database(postgres_url) as db_url:
        config_path = tmp_path / "auditor.yaml"
        config_path.write_text(yaml.safe_dump(sim_config(TENANTS, db_url, str(tmp_path / "reports"))))
        config = load_config(config_path)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO / "tests" / "scale"), str(REPO)]),
            "ENTRA_AUDITOR_BROKER_URL": amqp_url,
            "ENTRA_AUDITOR_RESULT_BACKEND": "rpc://",
            "ENTRA_AUDITOR_CONFIG": str(config_path),
            "ENTRA_AUDITOR_QUEUE": queue,
            "ENTRA_AUDITOR_LEASE_SECONDS": str(LEASE),
            "ENTRA_AUDITOR_RETRY_SECONDS": "1",
            "ENTRA_AUDITOR_RUN_FN": "scale_workload:run_sim_tenant",
            "ENTRA_SCALE_TEST_SLOW": f"{SLOW}:120,{SLOW2}:120",
            "ENTRA_SCALE_TEST_MARKERS": str(markers),
        }
        settings = ScaleSettings.from_env(env)
        app = create_app(settings)
        engine = create_engine(db_url)
        store = ClaimStore(engine, lease_seconds=LEASE)
        workers: dict[str, subprocess.Popen] = {}
        try:
            run = uuid.uuid4().hex[:6]  # unique node names: RabbitMQ may still hold a previous run's
            for i in (1, 2, 3):  # exclusive pidbox queue for a moment
                name = f"w{i}-{run}@scale-test"
                log = open(tmp_path / f"worker{i}.log", "wb")  # noqa: SIM115 - closed with the process
                workers[name] = subprocess.Popen(
                    [sys.executable, "-m", "auditor.scale", "worker", "--hostname", name, "--concurrency", "1"],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs = list(workers.items())
            report = dispatch(app, store, config, PERIOD)
            assert sorted(report.enqueued) == TENANTS

            # Kill the worker that runs the slow tenant, mid-run (process group: main + pool child).
            row = _wait(
                lambda: (markers / f"{SLOW}.sleeping").exists() and store.get(SLOW, PERIOD),
                45,
                f"{SLOW} to start",
                procs,
            )
            assert row["state"] == "running"
            victim = row["worker"].rsplit(":", 1)[0]
            os.killpg(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait(10)
            procs = [(n, p) for n, p in procs if n != victim]

            row = _wait(
                lambda: (markers / f"{SLOW2}.sleeping").exists() and store.get(SLOW2, PERIOD),
                45,
                f"{SLOW2} to start",
                procs,
            )
            assert row["state"] == "running"
            node, child = row["worker"].rsplit(":", 1)
            assert int(child) != workers[node].pid  # the task runs in a pool process
            assert (markers / f"{SLOW2}.sleeping").read_text() == child
            os.kill(int(child), signal.SIGKILL)

            def all_done():
                summary = store.summary(PERIOD)
                return summary.get("done") == len(TENANTS) and summary

            _wait(all_done, DEADLINE, "every tenant to be audited", procs)

            claims = {r["tenant"]: r for r in store.list(PERIOD)}
            with engine.connect() as conn:
                recorded = conn.execute(select(runs.c.tenant, runs.c.id, runs.c.status)).all()
                per_run = dict(conn.execute(select(findings.c.run_id, func.count()).group_by(findings.c.run_id)).all())
            assert len(per_run) == len(TENANTS) and min(per_run.values()) > 20  # real evaluations
            per_tenant: dict[str, list] = {}
            for tenant, run_id, status in recorded:
                per_tenant.setdefault(tenant, []).append((run_id, status))
            assert sorted(per_tenant) == TENANTS
            for tenant in TENANTS:
                assert len(per_tenant[tenant]) == 1, f"{tenant}: {per_tenant[tenant]}"
                run_id, status = per_tenant[tenant][0]
                assert status == "complete"
                assert claims[tenant]["run_id"] == run_id and claims[tenant]["run_status"] == "complete"
            slow = claims[SLOW]
            assert slow["attempts"] == 2, slow
            assert not slow["worker"].startswith(victim)
            assert claims[SLOW2]["attempts"] == 2, claims[SLOW2]
            assert claims[SLOW2]["worker"] != row["worker"]
            assert all(claims[t]["attempts"] == 1 for t in TENANTS if t not in (SLOW, SLOW2))
            assert len({c["worker"].rsplit(":", 1)[0] for c in claims.values()}) >= 2

            # A second dispatch of the same period enqueues nothing ...
            assert dispatch(app, store, config, PERIOD).enqueued == []
            # ... and redelivered / duplicated tasks of finished tenants are no-ops.
            dupes = [app.send_task(TASK_NAME, args=(t, PERIOD)) for t in (SLOW, "sim-000", "sim-049")]
            outcomes = [d.get(timeout=30) for d in dupes]
            assert [o["outcome"] for o in outcomes] == ["duplicate"] * 3
            assert outcomes[0]["run_id"] == slow["run_id"]
            assert store.get(SLOW, PERIOD)["duplicates"] == 1
            with engine.connect() as conn:
                assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == len(TENANTS)
        except BaseException:
            sys.stderr.write(f"claims: {store.summary(PERIOD)}\n")
            for r in store.list(PERIOD):
                if r["state"] != "done" or r["attempts"] != 1:
                    sys.stderr.write(f"  {r}\n")
            for i in (1, 2, 3):
                log_file = tmp_path / f"worker{i}.log"
                if log_file.exists():
                    sys.stderr.write(f"--- worker {i} log (tail) ---\n")
                    sys.stderr.write(log_file.read_text(errors="replace")[-4000:])
            raise
        finally:
            for proc in workers.values():
                _stop(proc)
            with app.connection_for_write() as conn:
                channel = conn.default_channel
                channel.queue_delete(queue)
            engine.dispose()
