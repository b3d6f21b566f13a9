"""Graph/EXO throttling: identity resource-unit token buckets and request-count windows.

All state lives on the simulator's event loop thread; ``clock`` is injectable for determinism.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from auditor.sim.options import SimOptions

IDENTITY_WINDOW_S = 10.0


@dataclass
class Verdict:
    ok: bool
    retry_after: float | None = None  # seconds; None on a 429 means "send no Retry-After"
    headers: dict[str, str] | None = None


class TokenBucket:
    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.level = capacity
        self.stamp = now

    def take(self, cost: float, now: float) -> float:
        """0 when the cost was taken, else the seconds until it could be."""
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.level >= cost:
            self.level -= cost
            return 0.0
        return (cost - self.level) / self.per_second

    def used_fraction(self) -> float:
        return 1.0 - self.level / self.capacity


class Window:
    """At most ``limit`` requests in any ``seconds``-long sliding window."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.times: deque[float] = deque()

    def take(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if len(self.times) < self.limit:
            self.times.append(now)
            return 0.0
        return self.times[0] + self.seconds - now


class Throttles:
    """Per tenant+app limits for the four service families the simulator meters."""

    def __init__(self, options: SimOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._windows: dict[tuple[str, str, str], Window] = {}

    def identity(self, tenant_id: str, app_id: str, cost: int) -> Verdict:
        budget = self.options.identity_budget_units
        if budget is None:
            return Verdict(True, headers={"x-ms-resource-unit": str(cost)})
        now = self.clock()
        key = (tenant_id, app_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(budget, budget / IDENTITY_WINDOW_S, now)
        wait = bucket.take(cost, now)
        if wait:
            return Verdict(
                False,
                max(1, math.ceil(wait)),
                {
                    "x-ms-resource-unit": str(cost),
                    "x-ms-throttle-scope": f"Tenant_Application/Read/{app_id}/{tenant_id}",
                    "x-ms-throttle-information": "ResourceUnitLimitExceeded",
                    "x-ms-throttle-limit-percentage": "1.0",
                },
            )
        headers = {"x-ms-resource-unit": str(cost)}
        used = bucket.used_fraction()
        if used > 0.8:
            headers["x-ms-throttle-limit-percentage"] = f"{used:.1f}"
        return Verdict(True, headers=headers)

    def _window(self, kind: str, tenant_id: str, app_id: str, limit: int, seconds: float) -> float:
        key = (kind, tenant_id, app_id)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = Window(limit, seconds)
        return window.take(self.clock())

    def reports(self, tenant_id: str, app_id: str) -> Verdict:
        limit = self.options.reports_per_10s
        if limit is None:
            return Verdict(True)
        wait = self._window("reports", tenant_id, app_id, limit, 10.0)
        return Verdict(True) if not wait else Verdict(False, max(1, math.ceil(wait)))

    def sign_in_activity(self, tenant_id: str, app_id: str) -> Verdict:
        """A request selecting signInActivity: 10 per minute, and one of the reports bucket's 5 per 10 s."""
        limit = self.options.sign_in_activity_per_minute
        if limit == 0:  # a budget already spent by another app run: every request is throttled
            return Verdict(False, 1)
        if limit is not None:
            wait = self._window("activity", tenant_id, app_id, limit, 60.0)
            if wait:
                return Verdict(False, max(1, math.ceil(wait)))
        return self.reports(tenant_id, app_id)

    def conditional_access(self, tenant_id: str) -> Verdict:
        rate = self.options.ca_per_second
        if rate is None:
            return Verdict(True)
        # n requests per second expressed as a window of ceil(rate) requests per ceil(rate)/rate seconds
        limit = max(1, math.ceil(rate))
        wait = self._window("ca", tenant_id, "", limit, limit / rate)
        return Verdict(True) if not wait else Verdict(False, None)  # CA sends no Retry-After

    def exchange(self, tenant_id: str, app_id: str) -> Verdict:
        limit = self.options.exo_per_10s
        if limit is None:
            return Verdict(True)
        wait = self._window("exo", tenant_id, app_id, limit, 10.0)
        return Verdict(True) if not wait else Verdict(False, max(1, math.ceil(wait)))
