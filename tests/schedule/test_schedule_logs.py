"""``entra-auditor schedule`` logs each event once: JSON lines when stderr is not a terminal (log shipping),
one readable line (with the event's fields, e.g. ``next_run_time``) when it is."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from auditor.schedule import json_logging

ROOT = Path(__file__).resolve().parents[2]


def test_cli_schedule_writes_only_json_lines_to_a_pipe(tmp_path):
    config = tmp_path / "auditor.yaml"
    config.write_text(
        textwrap.dedent(f"""
        tenants:
          - {{name: contoso, tenant_id: t, client_id: c, client_secret_env: NOPE_UNSET}}
        schedule: {{cron: "0 7 1 1 *", timezone: UTC}}
        storage: {{url: "sqlite:///{tmp_path / "history.db"}"}}
        reports: {{dir: "{tmp_path / "out"}"}}
        """)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from auditor.cli import main; sys.exit(main())",
            "schedule",
            "-c",
            str(config),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if '"job_scheduled"' in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
        lines += rest.splitlines(keepends=True)
    finally:
        if proc.poll() is None:
            proc.kill()
    events = [json.loads(line) for line in lines if line.strip()]  # every line is JSON: no plain duplicate
    names = [e["event"] for e in events]
    assert names.count("job_scheduled") == 1, lines
    assert names.count("scheduler_stopped") == 1, lines
    assert events[names.index("job_scheduled")]["next_run_time"].startswith(f"{time.gmtime().tm_year + 1}-01-01")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_human_line_per_event_on_a_terminal_with_its_fields():
    root_stream = io.StringIO()
    root_handler = logging.StreamHandler(root_stream)
    logging.getLogger().addHandler(root_handler)
    tty = _Tty()
    try:
        with json_logging(tty):
            logging.getLogger("auditor.schedule").info(
                "tenant scheduled",
                extra={"event": "job_scheduled", "tenant": "contoso", "next_run_time": "2027-01-01T07:00:00+00:00"},
            )
    finally:
        logging.getLogger().removeHandler(root_handler)
    out = tty.getvalue().splitlines()
    assert len(out) == 1, out
    assert "tenant scheduled" in out[0] and "next_run_time=2027-01-01T07:00:00+00:00" in out[0]
    assert "tenant=contoso" in out[0] and not out[0].startswith("{")
    assert root_stream.getvalue() == ""  # not propagated to a second sink
