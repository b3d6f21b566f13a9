"""Logging for the long-running processes (``schedule``, ``schedule --dispatch``).

One sink: JSON lines when the stream is not a terminal (journald, containers, log shipping), one readable
line per event with its fields (``tenant=… next_run_time=…``) when it is. The ``auditor`` and ``apscheduler``
loggers do not propagate meanwhile, so the CLI's root handler never prints the same event a second time.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or record.name.split(".")[0],
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key != "event" and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            doc["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(doc, default=str, ensure_ascii=False)


class HumanLineFormatter(logging.Formatter):
    """``<local time> <LEVEL> <message>  key=value ...`` with the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        fields = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS and key != "event" and not key.startswith("_") and value is not None
        )
        line = f"{ts} {record.levelname:7} {record.getMessage()}" + (f"  {fields}" if fields else "")
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return line


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def json_logging(stream: IO[str] | None = None, level: int = logging.INFO) -> Iterator[None]:
    """Send ``auditor.*`` and ``apscheduler.*`` logs to ``stream`` (stderr) only, meanwhile: JSON lines,
    or readable lines when ``stream`` is a terminal."""
    target = stream or sys.stderr
    handler = logging.StreamHandler(target)
    handler.setFormatter(HumanLineFormatter() if _is_tty(target) else JsonLineFormatter())
    loggers = [logging.getLogger("auditor"), logging.getLogger("apscheduler")]
    saved = [(lg, lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(level)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, old, propagate in saved:
            lg.removeHandler(handler)
            lg.setLevel(old)
            lg.propagate = propagate
