"""Two-stage stop on SIGTERM/SIGINT: the first signal asks for a graceful stop, a second one abandons."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


def install_stop_signals(first: Callable[[str], None], again: Callable[[str, int], None]) -> Callable[[], None]:
    """Call ``first(signal name)`` on the first SIGTERM/SIGINT and ``again(name, number)`` on every later one.

    Only the main thread may install handlers; elsewhere this does nothing. Returns a function that
    puts the previous handlers back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    seen = [0]

    def handle(signum: int, _frame: Any) -> None:
        seen[0] += 1  # counted first: a second signal may interrupt this handler
        name = signal.Signals(signum).name
        if seen[0] == 1:
            first(name)
        else:
            again(name, signum)

    for sig in previous:
        signal.signal(sig, handle)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
