"""Request counters, read from any thread (``Simulator.stats`` returns a copy)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SimStats:
    requests_total: int = 0
    requests_by_route: Counter[str] = field(default_factory=Counter)
    status_counts: Counter[int] = field(default_factory=Counter)
    throttled_429: int = 0
    unavailable_503: int = 0
    unauthorized_401: int = 0
    forbidden_403: int = 0
    tokens_issued: int = 0
    batch_requests: int = 0
    batch_subrequests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faults_injected: int = 0

    def copy(self) -> SimStats:
        return SimStats(
            self.requests_total,
            Counter(self.requests_by_route),
            Counter(self.status_counts),
            self.throttled_429,
            self.unavailable_503,
            self.unauthorized_401,
            self.forbidden_403,
            self.tokens_issued,
            self.batch_requests,
            self.batch_subrequests,
            self.in_flight,
            self.max_in_flight,
            self.faults_injected,
        )


class StatsRecorder:
    """Thread-safe updates; the event loop writes, tests read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = SimStats()

    def snapshot(self) -> SimStats:
        with self._lock:
            return self._stats.copy()

    def reset(self) -> None:
        with self._lock:
            in_flight = self._stats.in_flight
            self._stats = SimStats(in_flight=in_flight, max_in_flight=in_flight)

    def enter(self) -> None:
        with self._lock:
            s = self._stats
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)

    def leave(self) -> None:
        with self._lock:
            self._stats.in_flight -= 1

    def response(self, route: str, status: int, *, sub: bool = False) -> None:
        with self._lock:
            s = self._stats
            if not sub:
                s.requests_total += 1
            else:
                s.batch_subrequests += 1
            s.requests_by_route[route] += 1
            s.status_counts[status] += 1
            if status == 429:
                s.throttled_429 += 1
            elif status == 503:
                s.unavailable_503 += 1
            elif status == 401:
                s.unauthorized_401 += 1
            elif status == 403:
                s.forbidden_403 += 1

    def bump(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + n)
