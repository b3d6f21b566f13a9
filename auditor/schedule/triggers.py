"""Cron triggers: standard five-field cron to an APScheduler trigger, and the latest past fire time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from auditor.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

    from auditor.config import ScheduleConfig

_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_day_of_week(field: str) -> str:
    """Translate a standard cron day-of-week field (0 or 7 = Sunday) to day names.

    APScheduler 3 numbers days from Monday = 0, so ``1`` would silently mean Tuesday; names are
    unambiguous. Numeric ranges and steps are expanded to explicit lists.
    """
    parts = []
    for part in field.lower().split(","):
        match = re.fullmatch(r"(\d)(?:-(\d))?(?:/(\d+))?", part)
        if not match:
            parts.append(part)
            continue
        start = int(match[1])
        end = int(match[2]) if match[2] is not None else (7 if match[3] else start)
        step = int(match[3] or 1)
        if start > 7 or end > 7 or start > end:
            raise ValueError(f"invalid day of week {part!r}")
        parts.extend(_DOW_NAMES[d] for d in range(start, end + 1, step))
    return ",".join(dict.fromkeys(parts))


def build_trigger(schedule: ScheduleConfig) -> BaseTrigger:
    """The CronTrigger for ``schedule.cron`` (standard five-field cron) in ``schedule.timezone``."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        minute, hour, day, month, dow = schedule.cron.split()
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_cron_day_of_week(dow),
            timezone=ZoneInfo(schedule.timezone),
        )
    except ValueError as exc:
        raise ConfigError(f"schedule.cron {schedule.cron!r} is not a valid cron expression ({exc}).") from exc


def trigger_signature(trigger: Any) -> str:
    """Equal for triggers that fire at the same times (a stored job keeps its fire time only then)."""
    return repr(trigger)


_LOOKBACK = timedelta(days=400)
_MAX_FIRE_STEPS = 100_000


def previous_fire_time(trigger: BaseTrigger, now: datetime, *, not_before: datetime | None = None) -> datetime | None:
    """The latest fire time of ``trigger`` at or before ``now`` (not before ``not_before`` nor more
    than 400 days back), or None.

    APScheduler 3 triggers only compute forward, so this widens a window ``[now - w, now]`` (w = 1 s,
    2 s, 4 s, ...) until it holds a fire time, then steps forward to the last one in it.
    """
    limit = now - _LOOKBACK
    if not_before is not None and not_before > limit:
        limit = not_before
    width = timedelta(seconds=1)
    while True:
        start = max(now - width, limit)
        first: datetime | None = trigger.get_next_fire_time(None, start)
        if first is not None and first <= now:
            break
        if start <= limit:
            return None
        width *= 2
    prev = first
    for _ in range(_MAX_FIRE_STEPS):
        nxt: datetime | None = trigger.get_next_fire_time(prev, prev)
        if nxt is None or nxt <= prev or nxt > now:
            break
        prev = nxt
    return prev


def next_fire_time(schedule: ScheduleConfig, now: datetime) -> datetime | None:
    """When ``schedule.cron`` next fires after ``now`` in its timezone; None when it never does
    (``0 7 30 2 *``: February has no 30th)."""
    fire: datetime | None = build_trigger(schedule).get_next_fire_time(None, now)
    return fire


def describe_schedule(schedule: ScheduleConfig, now: datetime) -> tuple[bool, str]:
    """``(fires, one line)`` for ``doctor`` and ``schedule``: when the cron next fires, or that it never does."""
    try:
        upcoming = next_fire_time(schedule, now)
    except ConfigError as exc:
        return False, f"schedule: {exc}"
    where = f"schedule.cron {schedule.cron!r} ({schedule.timezone})"
    if upcoming is None:
        return False, f"{where} never fires; no scheduled audit would ever run."
    return True, f"{where} next fires at {upcoming.isoformat()}."
