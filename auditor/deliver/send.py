"""``deliver_email``: send a composed message through the configured channel, at most once per run."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from pathlib import Path

from auditor.config import EmailConfig, TenantConfig
from auditor.deliver.marker import already_sent, skipped, write_marker
from auditor.deliver.registry import DeliveryResult, get_channel
from auditor.errors import DeliveryError

log = logging.getLogger("auditor.deliver")


def deliver_email(
    email: EmailConfig,
    tenant: TenantConfig | None,
    message: EmailMessage,
    *,
    run_id: str,
    report_dir: Path | None = None,
) -> DeliveryResult:
    """Send ``message`` with the channel ``email.transport`` unless this run's marker says it went out.

    ``tenant`` supplies credentials and endpoints to channels that need them (Graph uses the audited
    tenant's app registration); others ignore it. Raises ``DeliveryError`` (logged) when the message
    could not be delivered; nothing on disk is touched then.
    """
    previous = already_sent(report_dir, run_id)
    if previous is not None:
        log.info("E-mail for run %s already sent at %s; not sending again", run_id, previous.get("sent_at"))
        return skipped(previous, email.transport)
    channel = get_channel(email.transport)
    try:
        result = channel.send(email, tenant, message)
    except DeliveryError as exc:
        log.error("E-mail delivery for run %s failed: %s", run_id, exc)
        raise
    log.info("E-mail for run %s sent via %s to %d recipient(s)", run_id, result.transport, len(result.recipients))
    if report_dir is not None:
        write_marker(Path(report_dir), run_id, result)
    return result
