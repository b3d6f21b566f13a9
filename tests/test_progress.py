"""Progress of a run (issue 12, item 17): plain timestamped lines off a terminal, one live table on one."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from auditor.progress import progress_display

ROOT = Path(__file__).resolve().parents[1]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_demo_audit_off_a_terminal_logs_timestamped_phases(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "audit", "--demo", "--out", str(tmp_path), "--format", "json"],
        cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_CONFIG"}, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    for phase in ("evaluate", "render"):
        assert any(re.fullmatch(rf"{STAMP} \[demo\] {phase}: started", line) for line in lines), lines
    assert any(re.fullmatch(rf"{STAMP} \[demo\] evaluate: done \([\d,]+ findings\)", line) for line in lines), lines
    assert lines.index(next(x for x in lines if "evaluate: done" in x)) < lines.index(
        next(x for x in lines if "render: started" in x)
    )


def test_an_empty_source_reads_as_collected_not_failed():
    out = io.StringIO()
    with progress_display(["contoso"], stream=out, live=False) as progress_for:
        report = progress_for("contoso")
        report("sign_in_activity", "started", None)
        report("sign_in_activity", "running", 10)
        report("sign_in_activity", "collected", 0)
        report("users", "collected", 1204)
        report("mailboxes", "failed", None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines  # no started/running chatter in a log
    assert re.fullmatch(rf"{STAMP} \[contoso\] sign_in_activity: collected \(none in the tenant\)", lines[0])
    assert "0 items" not in out.getvalue()
    assert lines[1].endswith("users: collected (1,204 items)") and lines[2].endswith("mailboxes: failed")


def test_one_live_table_for_several_tenants():
    out = io.StringIO()
    with progress_display(["contoso", "fabrikam"], stream=out, live=True) as progress_for:
        a, b = progress_for("contoso"), progress_for("fabrikam")
        a("users", "started", None)
        a("groups", "started", None)
        a("users", "collected", 1500)
        b("users", "started", None)
        b("users", "failed", None)
        b("evaluate", "started", None)
    text = out.getvalue()
    final = text[text.rindex("entra-auditor") :]  # the last frame of the table
    assert "contoso" in final and "fabrikam" in final
    assert "1/2" in final and "1,500" in final and "(1 failed)" in final
    assert re.search(r"\d+:\d\d\.\d", final)  # elapsed
