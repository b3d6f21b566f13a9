"""A run's report folder, from before collection to the final rename — so collected data is never lost.

* ``check_writable(base)`` runs before anything is collected: an unwritable reports folder fails the run
  in one sentence naming the path, not after an hour of collection.
* ``start_run_folder`` creates ``<base>/<tenant>/.<stamp>.partial`` (0700); the snapshot is written there
  first (before evaluation); ``finish_run_folder`` renames it to ``<base>/<tenant>/<stamp>`` once every
  report is written. A folder without the ``.partial`` mark is always complete; a killed run leaves only
  a ``.partial`` folder. ``start_run_folder`` removes the tenant's ``.partial`` leftovers older than
  ``ORPHAN_MIN_AGE_S`` (so do runs without history: ``--demo``, ``--snapshot``); history's pruning also
  removes stamped folders of runs it never recorded.
* ``keep_snapshot`` saves a collected snapshot somewhere safe when its folder cannot take it (the temp
  directory, owner-only) and returns where, for the error message.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from auditor.errors import AuditorError
from auditor.history.orphans import PARTIAL, is_partial, orphan_folders
from auditor.snapshot import Snapshot
from auditor.snapshot import save as save_snapshot

log = logging.getLogger("auditor.rundir")


class UnwritableError(AuditorError):
    """A reports folder or snapshot path that cannot be written (exit 2: fix the configuration)."""

    exit_code = 2


def check_writable(folder: Path) -> None:
    """Create ``folder`` (0700) if needed and prove a file can be created in it."""
    try:
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UnwritableError(f"Cannot write to {folder} ({reason}); nothing was collected.") from exc


def check_writable_file(path: Path) -> None:
    """``collect --out FILE``: the file's folder must take a new file, and the path must not be a folder."""
    if path.is_dir():
        raise UnwritableError(f"Cannot write the snapshot to {path}: it is a folder; nothing was collected.")
    check_writable(path.parent if str(path.parent) else Path("."))


def stamp(started: datetime) -> str:
    return started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def start_run_folder(base: Path, tenant: str, started: datetime) -> Path:
    """A new, empty ``<base>/<tenant>/.<stamp>.partial`` folder (0700)."""
    from auditor.render.safe import file_component

    tenant_dir = base / file_component(tenant)  # the name may come from a snapshot file: never a path
    tenant_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    prune_partial_leftovers(tenant_dir)
    folder = Path(tempfile.mkdtemp(prefix=f".{stamp(started)}-", suffix=PARTIAL, dir=tenant_dir))
    os.chmod(folder, 0o700)
    return folder


def prune_partial_leftovers(tenant_dir: Path) -> list[Path]:
    """Remove the ``.partial`` folders of killed runs in ``tenant_dir`` (only those older than the orphan age:
    a younger one may be another process's run still writing; never a symlink). Returns what was removed."""
    removed = []
    for orphan in orphan_folders({tenant_dir}, set()):
        if is_partial(orphan):
            shutil.rmtree(orphan, ignore_errors=True)
            if not orphan.exists():
                removed.append(orphan)
                log.info("removed the folder of a killed run: %s", orphan)
    return removed


def finish_run_folder(partial: Path, started: datetime) -> Path:
    """Rename a complete ``.partial`` folder to its final ``<stamp>`` (``<stamp>-N`` when taken)."""
    tenant_dir = partial.parent
    name = stamp(started)
    final, suffix = tenant_dir / name, 1
    while True:
        try:
            final.mkdir(mode=0o700)  # claim the name (rename over an empty folder is atomic on POSIX)
            os.rename(partial, final)
            return final
        except FileExistsError:
            suffix += 1
            final = tenant_dir / f"{name}-{suffix}"


def keep_snapshot(snapshot: Snapshot, preferred: Path | None) -> Path:
    """Save ``snapshot`` at ``preferred`` if possible, else in the temp directory; return where it went."""
    if preferred is not None:
        try:
            return save_snapshot(snapshot, preferred)
        except OSError:
            pass
    from auditor.render.safe import file_component

    fd, name = tempfile.mkstemp(
        prefix=f"entra-auditor-{file_component(snapshot.tenant_name)}-{stamp(snapshot.collected_at)}-",
        suffix=".json.gz",
    )
    os.close(fd)
    return save_snapshot(snapshot, name)
