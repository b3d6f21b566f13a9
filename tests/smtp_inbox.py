"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives, for delivery tests."""

from __future__ import annotations

import email
import email.message
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller


class Inbox:
    """An aiosmtpd handler: ``messages`` holds each received message, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_inbox(**controller_options: Any) -> Iterator[Inbox]:
    """Serve SMTP on a free loopback port (``inbox.port``) until the block ends."""
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **controller_options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
