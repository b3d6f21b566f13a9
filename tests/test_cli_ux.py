"""The rough edges of the command line a new user hits (issue 12, item 18)."""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import auditor.cli as cli_module
from auditor.snapshot import save
from auditor.testing import baseline, snapshot_of

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "auditor.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_no_arguments_prints_the_help_and_exits_0(tmp_path):
    proc = cli(cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "usage: entra-auditor" in proc.stdout and "audit" in proc.stdout and "examples:" in proc.stdout
    assert proc.stderr == ""


def test_every_option_has_help_and_every_command_an_example():
    commands = _subcommands(cli_module.build_parser())
    assert {"audit", "collect", "rules", "history", "doctor", "schedule", "worker"} <= set(commands)
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.option_strings or action.dest}"
        text = command.format_help()
        assert "example:" in text and f"entra-auditor {name}" in text.split("example:")[1], name


def test_a_closed_pipe_ends_quietly(tmp_path):
    read, write = os.pipe()
    os.close(read)  # like `| head` that has already exited
    with os.fdopen(write, "w") as stdout:
        proc = subprocess.run(
            [sys.executable, "-m", "auditor.cli", "rules", "-v"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.stderr == ""
    assert proc.returncode == 141


def test_snapshot_names_end_in_json_gz(tmp_path):
    assert cli_module.snapshot_name("a/contoso") == Path("a/contoso.json.gz")
    assert cli_module.snapshot_name("contoso.json") == Path("contoso.json.gz")
    assert cli_module.snapshot_name("contoso.json.gz") == Path("contoso.json.gz")


def _config(tmp_path: Path, waivers: str = "") -> Path:
    cfg = tmp_path / "auditor.yaml"
    cfg.write_text(
        textwrap.dedent(f"""
        tenants:
          - {{name: contoso, tenant_id: 00000000-0000-0000-0000-000000000001, client_id: c,
              client_secret_env: ENTRA_AUDITOR_TEST_UNSET_SECRET}}
        storage: {{url: "sqlite:///{tmp_path / "history.db"}"}}
        reports: {{dir: "{tmp_path / "out"}", formats: [json]}}
        """)
        + waivers
    )
    return cfg


def test_collect_out_without_suffix_writes_json_gz(tmp_path):
    # the demo path is offline: write through the same naming the collect command uses
    path = save(snapshot_of(baseline()), cli_module.snapshot_name(str(tmp_path / "snap.json")))
    assert path.name == "snap.json.gz"
    with gzip.open(path) as fh:
        assert fh.read(1) == b"{"


def test_a_failed_tenant_is_reported_once(tmp_path):
    proc = cli("audit", "-c", str(_config(tmp_path)), cwd=tmp_path)
    assert proc.returncode == 3
    assert "ENTRA_AUDITOR_TEST_UNSET_SECRET" in proc.stderr
    assert proc.stderr.count("ENTRA_AUDITOR_TEST_UNSET_SECRET") == 1, proc.stderr


def test_unused_and_expired_waivers_are_reported_at_the_end(tmp_path):
    past = (date.today() - timedelta(days=3)).isoformat()
    waivers = textwrap.dedent(f"""
    waivers:
      - {{rule: imap-pop-enabled, entity: nobody@nowhere.example, reason: r, approved_by: me}}
      - {{rule: smtp-auth-org-enabled, entity: "*", reason: r, approved_by: me, expires: {past}}}
    """)
    proc = cli("audit", "--demo", "-c", str(_config(tmp_path, waivers)), "--no-history", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any("imap-pop-enabled / nobody@nowhere.example matched no finding" in line for line in lines), lines
    assert any(f"smtp-auth-org-enabled / * expired on {past}" in line for line in lines), lines
    assert lines[-1].startswith("warning: waiver")


def test_history_of_an_unknown_tenant_says_so(tmp_path):
    proc = cli("history", "-c", str(_config(tmp_path)), "--tenant", "nosuch", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no tenant 'nosuch'" in proc.stderr
    ok = cli("history", "-c", str(_config(tmp_path)), "--tenant", "contoso", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
