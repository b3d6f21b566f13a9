"""Deliver the report e-mail through a registered channel (``graph`` sendMail, ``smtp``, ...).

The message is composed by ``auditor.render.email``; this package only sends what it is given.

Idempotency: when ``report_dir`` is given, a successful delivery writes ``<report_dir>/.email-sent``
(JSON: run id, transport, time, Message-ID, recipients; mode 0600, atomic). ``deliver_email`` checks that
marker first and, when it names the same run, sends nothing and returns ``DeliveryResult(skipped=True)``
— so a retried run (or a re-invoked pipeline) never e-mails the same report twice. The Message-ID is
also derived from the run id, so receiving systems can drop duplicates across report folders.

Failure: every channel problem is logged and raised as one ``DeliveryError`` sentence naming the
channel, host or sender; no secret is ever in it. Nothing on disk is touched by a failure.

A new channel is one module in ``auditor/deliver/channels/`` with ``@channel("name")`` on its
``send(email, tenant, message) -> DeliveryResult``.
"""

from __future__ import annotations

from auditor.deliver.marker import MARKER, already_sent, skipped
from auditor.deliver.registry import (
    Channel,
    DeliveryResult,
    channel,
    get_channel,
    known_channels,
    unregister,
    validate_email_config,
)
from auditor.deliver.send import deliver_email

__all__ = [
    "MARKER",
    "Channel",
    "DeliveryResult",
    "already_sent",
    "channel",
    "deliver_email",
    "get_channel",
    "known_channels",
    "skipped",
    "unregister",
    "validate_email_config",
]
