"""A run killed with ``kill -9`` leaves nothing that looks like a report (issue 13, item 8): a real
``entra-auditor audit --demo --out DIR`` is killed at several moments of writing its folder — as soon as the
``.partial`` folder appears, once the snapshot is in it, once a report is being written — and every folder it
leaves is a ``.partial`` one. The next run removes those leftovers (once they are old enough not to belong to
a run still writing) and its own folder is the only complete one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.history.orphans import ORPHAN_MIN_AGE_S, STAMP, is_partial

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _partials(tenant_dir: Path) -> list[Path]:
    return [p for p in tenant_dir.iterdir() if is_partial(p)] if tenant_dir.is_dir() else []


def _snapshot_written(tenant_dir: Path) -> bool:
    return any((p / "snapshot.json.gz").is_file() for p in _partials(tenant_dir))


def _report_started(tenant_dir: Path) -> bool:
    return any(
        f.name != "snapshot.json.gz" and not f.name.startswith(".snapshot-")
        for p in _partials(tenant_dir)
        for f in p.iterdir()
    )


def _folder_created(tenant_dir: Path) -> bool:
    return bool(_partials(tenant_dir))


MOMENTS: dict[str, Callable[[Path], bool]] = {
    "folder created": _folder_created,
    "snapshot written": _snapshot_written,
    "report being written": _report_started,
}


def _kill_when(out: Path, moment: Callable[[Path], bool], cwd: Path) -> bool:
    """Start a demo audit, SIGKILL it as soon as ``moment`` holds; False when the run finished first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.cli", "audit", "--demo", "--out", str(out)],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 120
    try:
        while proc.poll() is None:
            assert time.monotonic() < end, "the demo audit neither reached the moment nor finished"
            try:
                reached = moment(out / "contoso")
            except FileNotFoundError:  # the folder was renamed while we looked
                reached = False
            if reached:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                return True
            time.sleep(0.002)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def _complete_looking(tenant_dir: Path) -> list[Path]:
    """Folders a reader would take for a finished run: not hidden, or named like a finished run's."""
    return [p for p in tenant_dir.iterdir() if p.is_dir() and (STAMP.match(p.name) or not p.name.startswith("."))]


def test_killed_runs_leave_only_partial_folders_and_the_next_run_prunes_them(tmp_path: Path) -> None:
    out = tmp_path / "out"
    tenant_dir = out / "contoso"
    killed = 0
    for name, moment in MOMENTS.items():
        for _attempt in range(3):  # a fast machine may finish before the poll sees the moment
            if _kill_when(out, moment, tmp_path):
                killed += 1
                break
            for done in _complete_looking(tenant_dir):  # finished first: not this test's case
                subprocess.run(["rm", "-rf", str(done)], check=True)
        else:
            pytest.fail(f"could not kill the run at moment {name!r}")
        assert _complete_looking(tenant_dir) == [], f"killed at {name!r}: a folder looks complete"
        assert all(p.is_dir() for p in tenant_dir.iterdir()), f"killed at {name!r}: a stray file"
    leftovers = _partials(tenant_dir)
    assert len(leftovers) == killed == len(MOMENTS)
    assert any((p / "snapshot.json.gz").is_file() for p in leftovers)

    # a leftover younger than the orphan age may belong to a run still writing: the next run keeps it ...
    young = leftovers[0]
    old = time.time() - ORPHAN_MIN_AGE_S - 60
    for p in leftovers[1:]:
        os.utime(p, (old, old))
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "audit", "--demo", "--out", str(out)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    # ... and removes the old ones; its own folder is the one complete folder
    assert _partials(tenant_dir) == [young]
    [done] = _complete_looking(tenant_dir)
    assert STAMP.match(done.name) and (done / "findings.json").is_file() and (done / "report.html").is_file()
