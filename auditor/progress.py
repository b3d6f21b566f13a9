"""Progress lines on a terminal (per data source, with counts); silent when stderr is not a TTY."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

_lock = threading.Lock()


def progress_printer(tenant: str) -> Callable[[str, str, int | None], None] | None:
    """A progress callback ``(source, status, items)`` for one tenant, or None when not on a TTY."""
    if not sys.stderr.isatty():
        return None

    def report(source: str, status: str, items: int | None) -> None:
        count = "" if items is None or status == "started" else f" ({items:,} items)"
        with _lock:
            print(f"[{tenant}] {source}: {status}{count}", file=sys.stderr, flush=True)

    return report
