"""The already-sent marker ``<report_dir>/.email-sent`` that makes delivery idempotent per run."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.deliver.registry import DeliveryResult
from auditor.errors import AuditorError
from auditor.render.atomic import atomic_write

log = logging.getLogger("auditor.deliver")

MARKER = ".email-sent"


def already_sent(report_dir: Path | None, run_id: str) -> dict[str, Any] | None:
    """The marker of an earlier successful delivery of this run, if any."""
    if report_dir is None:
        return None
    marker = Path(report_dir) / MARKER
    try:
        doc = json.loads(marker.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("Ignoring unreadable e-mail marker %s", marker)
        return None
    return doc if isinstance(doc, dict) and doc.get("run_id") == run_id else None


def write_marker(report_dir: Path, run_id: str, result: DeliveryResult) -> None:
    """Record a successful delivery (JSON, mode 0600, atomic); a failure here is logged, not raised."""
    doc = {
        "run_id": run_id,
        "transport": result.transport,
        "sent_at": datetime.now(UTC).isoformat(),
        "message_id": result.message_id,
        "recipients": result.recipients,
    }
    try:
        atomic_write(Path(report_dir) / MARKER, json.dumps(doc, indent=2) + "\n")
    except AuditorError as exc:  # the mail is out; failing to record it must not fail the run
        log.error("E-mail for run %s was sent but the marker could not be written: %s", run_id, exc)


def skipped(previous: dict[str, Any], transport: str) -> DeliveryResult:
    """The result of not sending again: what the marker of the earlier delivery recorded."""
    return DeliveryResult(
        sent=False,
        skipped=True,
        transport=str(previous.get("transport", transport)),
        detail=f"already sent at {previous.get('sent_at')}",
        message_id=previous.get("message_id"),
        recipients=previous.get("recipients", []),
    )
