"""Client-side pacing so the collector stays inside each service's documented throttle.

* :class:`RateWindow` — at most ``count`` requests per ``period`` seconds (sliding window); used for the
  identity reports service (5 per 10 s) and Conditional Access (1 per s, which sends no Retry-After).
* :class:`UnitBudget` — a token bucket of identity "resource units" (e.g. 8,000 per 10 s). Each request
  reserves its estimated cost first; the estimate per kind of request is corrected from the
  ``x-ms-resource-unit`` header of real responses. A 429 closes the gate for everyone until its
  Retry-After has passed, so one throttled request does not turn into a storm.
"""

from __future__ import annotations

import asyncio
import time


class RateWindow:
    """At most ``count`` requests per ``period`` seconds, measured conservatively.

    A slot is taken when a request is about to be sent and re-stamped with the time its response
    arrived (:meth:`done`): the server counts arrivals, which happen somewhere in between, so
    counting from the later time can never overrun the server's window.
    """

    def __init__(self, count: int, period: float, *, margin: float = 0.02) -> None:
        self.count = count
        self.period = period
        self.margin = margin
        self._slots: list[list[float]] = []
        self._lock = asyncio.Lock()
        self._blocked_until = 0.0

    async def acquire(self, slot: list[float] | None = None) -> list[float]:
        """Wait for a free slot; ``slot`` (taken from another window) is shared so one ``done`` stamps both."""
        async with self._lock:
            while True:
                now = time.monotonic()
                horizon = self.period + self.margin
                self._slots = [s for s in self._slots if now - s[0] < horizon]
                wait = self._blocked_until - now
                if len(self._slots) >= self.count:
                    oldest = min(s[0] for s in self._slots)
                    wait = max(wait, oldest + horizon - now)
                if wait <= 0:
                    if slot is None:
                        slot = [now]
                    else:
                        slot[0] = max(slot[0], now)
                    self._slots.append(slot)
                    return slot
                await asyncio.sleep(wait)

    @staticmethod
    def done(slot: list[float] | None) -> None:
        if slot is not None:
            slot[0] = max(slot[0], time.monotonic())

    def block(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)


class UnitBudget:
    def __init__(self, units: float, period: float = 10.0) -> None:
        self.capacity = float(units)
        self.rate = float(units) / period
        self._level = float(units)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()
        self._blocked_until = 0.0
        self._cost: dict[str, float] = {}

    def estimate(self, kind: str, default: float) -> float:
        return self._cost.get(kind, default)

    def observe(self, kind: str, units: float) -> None:
        """Learn the real cost of a kind of request from the server's ``x-ms-resource-unit``."""
        self._cost[kind] = units

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
            self._stamp = now

    async def acquire(self, cost: float) -> None:
        cost = min(cost, self.capacity)
        async with self._lock:
            while True:
                now = time.monotonic()
                self._refill(now)
                wait = self._blocked_until - now
                if wait <= 0 and self._level >= cost:
                    self._level -= cost
                    return
                if wait <= 0:
                    wait = (cost - self._level) / self.rate
                await asyncio.sleep(max(wait, 0.001))

    def block(self, seconds: float) -> None:
        """The server said 429: nobody sends until ``seconds`` have passed; the bucket restarts empty."""
        now = time.monotonic()
        self._blocked_until = max(self._blocked_until, now + seconds)
        self._refill(now)
        self._level = 0.0
        self._stamp = max(self._stamp, self._blocked_until)
