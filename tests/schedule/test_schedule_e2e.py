"""`entra-auditor schedule` end to end: at the next cron minute it collects a simulated tenant over HTTPS,
writes the reports, records history and sends exactly one e-mail to a real local SMTP server.

Cron has minute resolution, so this waits for the next minute boundary (at most ~60 s).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from aiosmtpd.controller import Controller
from smtp_inbox import Inbox, free_port

from auditor.history import HistoryStore
from auditor.sim import SimTenant, Simulator
from auditor.sim.tenant_gen import generate_tenant

SECRET = "schedule-e2e-secret"  # the simulator's throwaway credential


def test_schedule_collects_renders_records_and_emails_once(tmp_path: Path) -> None:
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    served = generate_tenant(120, seed=21, now=datetime.now(UTC))
    db = f"sqlite:///{tmp_path}/history.db"
    try:
        with Simulator(
            tenants=[SimTenant(served, client_id="11111111-1111-1111-1111-111111111111", client_secret=SECRET)]
        ) as sim:
            config = {
                "tenants": [sim.tenant_config(secret_env="SIM_SECRET") | {"name": "contoso"}],
                "schedule": {"cron": "* * * * *", "timezone": "UTC"},
                "storage": {"url": db},
                "reports": {"dir": str(tmp_path / "reports")},
                "email": {
                    "transport": "smtp",
                    "sender": "audit@contoso.test",
                    "to": ["secops@contoso.test"],
                    "smtp": {"host": "127.0.0.1", "port": smtp_port, "starttls": False},
                },
            }
            (tmp_path / "auditor.yaml").write_text(yaml.safe_dump(config))
            env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
            env["SIM_SECRET"] = SECRET
            proc = subprocess.Popen(
                [sys.executable, "-m", "auditor.cli", "schedule", "-c", "auditor.yaml"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                deadline = time.monotonic() + 150
                while not inbox.messages and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.5)
                time.sleep(2)  # a duplicate would arrive right behind the first
            finally:
                proc.send_signal(signal.SIGTERM)
                _, stderr = proc.communicate(timeout=60)
    finally:
        controller.stop()

    assert len(inbox.messages) == 1, stderr
    message = inbox.messages[0]
    assert "contoso" in message["Subject"]
    attachments = sorted(part.get_filename() for part in message.walk() if part.get_filename())
    assert attachments == ["report.html", "report.xlsx"]

    [folder] = [p for p in (tmp_path / "reports" / "contoso").iterdir() if p.is_dir()]  # and decisions.json
    assert {"report.html", "report.xlsx", "findings.json", "snapshot.json.gz"} <= {p.name for p in folder.iterdir()}
    doc = json.loads((folder / "findings.json").read_text())
    runs = HistoryStore(db).list_runs("contoso")
    assert [r.id for r in runs] == [doc["run"]["id"]]
    assert runs[0].status == "complete"
    assert proc.returncode == 0
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert logs, "the scheduler logs JSON lines"
    assert SECRET not in stderr
