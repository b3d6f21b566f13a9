"""Progress of a run: collection per data source, then the phases (evaluate, record, render, deliver).

On a terminal one live ``rich`` table (a row per tenant: phase, sources done of the known total, items,
elapsed time) is redrawn in place on stderr; otherwise (cron, systemd, CI) finished steps are written as plain
timestamped lines. Callbacks take ``(step, status, items)``: ``step`` is a data source name or one of
``PHASES``; ``status`` is ``started``/``running``/``collected``/``failed``/``skipped`` for a source and
``started``/``done`` for a phase. A source collected with zero items is a success ("collected, none").
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from auditor.terminal import clean

Progress = Callable[[str, str, int | None], None]
PHASES = ("evaluate", "record", "render", "deliver")
_lock = threading.Lock()


def describe(step: str, status: str, items: int | None) -> str:
    """One human phrase for a progress event, e.g. ``users: collected (1,204 items)``."""
    if step in PHASES:
        if status == "done" and items is not None:
            return f"{step}: done ({items:,} findings)" if step == "evaluate" else f"{step}: done ({items:,})"
        return f"{step}: {status}"
    if status == "collected":
        return f"{step}: collected (none in the tenant)" if not items else f"{step}: collected ({items:,} items)"
    if status == "running" and items is not None:
        return f"{step}: {items:,} so far"
    return f"{step}: {status}"


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plain_printer(tenant: str, stream: IO[str] | None = None) -> Progress:
    """Timestamped lines for finished steps (no ``running`` chatter): what a log file or CI wants."""

    def report(step: str, status: str, items: int | None) -> None:
        if status in ("running", "started") and step not in PHASES:
            return
        with _lock:
            print(
                f"{_stamp()} [{clean(tenant)}] {clean(describe(step, status, items), 200)}",
                file=stream or sys.stderr,
                flush=True,
            )

    return report


@dataclass
class _Row:
    started: float = field(default_factory=time.monotonic)
    phase: str = "collect"
    sources: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    items: int = 0
    last: str = ""
    ended: float | None = None


class Board:
    """One live table for the tenants of a run, fed by one callback per tenant."""

    def __init__(self, tenants: Sequence[str]) -> None:
        self.rows = {t: _Row() for t in tenants}

    def callback(self, tenant: str) -> Progress:
        row = self.rows.setdefault(tenant, _Row())

        def report(step: str, status: str, items: int | None) -> None:
            with _lock:
                if step in PHASES:
                    row.phase = step if status == "started" else f"{step} done"
                else:
                    row.sources.add(step)
                    if status in ("collected", "failed", "skipped"):
                        row.finished.add(step)
                        row.items += items or 0
                    if status == "failed":
                        row.failed.add(step)
                row.last = describe(step, status, items)

        return report

    def finish(self, tenant: str) -> None:
        with _lock:
            row = self.rows[tenant]
            row.ended = row.ended or time.monotonic()
            row.phase = "done"

    def table(self) -> Any:  # a rich.table.Table (rich is imported lazily)
        from rich.table import Table

        table = Table(title="entra-auditor", title_justify="left", expand=False)
        for name in ("tenant", "phase", "sources", "items", "elapsed", "last step"):
            table.add_column(name, justify="right" if name in ("sources", "items", "elapsed") else "left")
        with _lock:
            for tenant, row in self.rows.items():
                elapsed = (row.ended or time.monotonic()) - row.started
                total = f"{len(row.finished)}/{len(row.sources)}" if row.sources else "-"
                failed = f" ({len(row.failed)} failed)" if row.failed else ""
                table.add_row(
                    clean(tenant),
                    row.phase,
                    total + failed,
                    f"{row.items:,}",
                    f"{int(elapsed // 60)}:{elapsed % 60:04.1f}",
                    clean(row.last, 60),
                )
        return table


@contextmanager
def progress_display(
    tenants: Sequence[str], stream: IO[str] | None = None, live: bool | None = None
) -> Iterator[Callable[[str], Progress]]:
    """Yield ``progress_for(tenant)``: a live table on a terminal, plain timestamped lines elsewhere."""
    out = stream or sys.stderr
    if live is None:
        live = out.isatty()
    if not live:
        yield lambda tenant: plain_printer(tenant, out)
        return
    from rich.console import Console
    from rich.live import Live

    board = Board(tenants)
    with Live(board.table(), console=Console(file=out), refresh_per_second=4, transient=False) as display:
        stop = threading.Event()

        def refresh() -> None:
            while not stop.wait(0.25):
                display.update(board.table())

        ticker = threading.Thread(target=refresh, name="progress", daemon=True)
        ticker.start()
        try:
            yield board.callback
        finally:
            stop.set()
            ticker.join()
            for tenant in list(board.rows):
                board.finish(tenant)
            display.update(board.table())


def progress_printer(tenant: str) -> Progress:
    """A progress callback for one tenant outside a display (``collect``): plain timestamped lines."""
    return plain_printer(tenant)
