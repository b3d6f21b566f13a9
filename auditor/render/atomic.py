"""Atomic, owner-only file writes for reports: a reader never sees half a report."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from auditor.errors import RenderError


@contextmanager
def atomic_output(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file next to ``path`` (0600); rename it over ``path`` only when the block succeeds.

    A failure leaves any previous file untouched and no partial file behind. The parent directory is
    created with mode 0700 when missing.
    """
    path = Path(path)
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RenderError(f"Cannot write {path}: {exc.strerror}.") from exc
    ok = False
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        ok = True
    except OSError as exc:
        raise RenderError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    finally:
        if not ok:
            with suppress(OSError):
                os.unlink(tmp)


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically with mode 0600."""
    with atomic_output(path, "wb" if isinstance(data, bytes) else "w") as handle:
        handle.write(data)
    return Path(path)
