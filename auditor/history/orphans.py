"""Run folders that history does not know: what pruning removes besides the folders of pruned runs.

A run writes its folder as ``<tenant>/.<stamp>-XXXX.partial`` and renames it to ``<tenant>/<stamp>`` when
complete (``auditor.rundir``); history records the final name. A ``.partial`` folder is the leftover of a
killed run; a stamped folder that no recorded run names is a run killed between rendering and recording.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

PARTIAL = ".partial"


def is_partial(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(PARTIAL)


#: a finished run's folder name (``finish_run_folder``)
STAMP = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")
#: leftovers younger than this are left alone (a run of another process may still be writing them)
ORPHAN_MIN_AGE_S = 3600.0


def orphan_folders(tenant_dirs: set[Path], known: set[Path], *, min_age_s: float = ORPHAN_MIN_AGE_S) -> list[Path]:
    """Folders in the tenant folders that look like run folders but that history does not know: ``.partial``
    leftovers of killed runs and stamped folders of runs never recorded. Never a symlink, never a folder
    that does not look like a run's, never one touched in the last ``min_age_s`` seconds."""
    now = time.time()
    found: list[Path] = []
    for tenant_dir in sorted(tenant_dirs):
        if tenant_dir.is_symlink() or not tenant_dir.is_dir():
            continue
        for child in sorted(tenant_dir.iterdir()):
            if child.is_symlink() or not child.is_dir():
                continue
            if not (STAMP.match(child.name) or is_partial(child)) or child.resolve() in known:
                continue
            if now - child.stat().st_mtime < min_age_s:
                continue
            found.append(child)
    return found
