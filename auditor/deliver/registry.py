"""The delivery channel registry: ``@channel("name")`` on a send function is all a channel needs.

A channel is one module in ``auditor/deliver/channels/`` (found by ``known_channels()``, nothing else lists
it) or, in tests and plugins, any module that applies the decorator. ``email.transport`` names the
channel; ``validate_email_config`` checks that name and the channel's own section against this
registry, so the configuration and the dispatch cannot disagree.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from auditor.config import AuditorConfig, EmailConfig, TenantConfig
from auditor.errors import ConfigError


@dataclass
class DeliveryResult:
    """What a channel reports after sending (or, for a repeated run, not sending)."""

    sent: bool
    transport: str
    skipped: bool = False
    detail: str = ""
    message_id: str | None = None
    recipients: list[str] = field(default_factory=list)


SendFn = Callable[[EmailConfig, TenantConfig | None, EmailMessage], DeliveryResult]
CheckFn = Callable[[EmailConfig], str | None]


@dataclass(frozen=True)
class Channel:
    """One way to deliver the message: ``send`` raises ``DeliveryError`` (one sentence, no secret)
    on failure; ``check`` returns what is missing from the ``email`` section for this channel."""

    name: str
    send: SendFn
    check: CheckFn | None = None
    doc: str = ""


_CHANNELS: dict[str, Channel] = {}
_LOADED: list[bool] = []
_LOCK = threading.Lock()


def channel(name: str, *, check: CheckFn | None = None) -> Callable[[SendFn], SendFn]:
    """Register the decorated ``send(email, tenant, message)`` as the channel ``name``."""

    def register(send: SendFn) -> SendFn:
        existing = _CHANNELS.get(name)
        if existing is not None and existing.send is not send:
            raise ValueError(f"delivery channel {name!r} is registered twice")
        _CHANNELS[name] = Channel(name=name, send=send, check=check, doc=(send.__doc__ or "").strip())
        return send

    return register


def unregister(name: str) -> None:
    """Remove a channel (tests register throwaway ones)."""
    _CHANNELS.pop(name, None)


def known_channels() -> dict[str, Channel]:
    """Every registered channel by name, after importing each module of ``auditor.deliver.channels``."""
    with _LOCK:
        if not _LOADED:
            package = importlib.import_module("auditor.deliver.channels")
            for module in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{package.__name__}.{module.name}")
            _LOADED.append(True)
    return dict(_CHANNELS)


def get_channel(name: str) -> Channel:
    known = known_channels()
    try:
        return known[name]
    except KeyError:
        raise ConfigError(
            f"E-mail transport {name!r} is not a delivery channel; known channels: {', '.join(sorted(known))}."
        ) from None


def validate_email_config(config: AuditorConfig, origin: str = "configuration") -> None:
    """Raise ``ConfigError`` (one sentence naming the key) when ``email`` names an unknown channel or
    lacks the channel's own settings. No ``email`` section is valid (nothing is sent)."""
    email = config.email
    if email is None:
        return
    known = known_channels()
    found = known.get(email.transport)
    if found is None:
        raise ConfigError(
            f"{origin}: invalid value for 'email.transport': {email.transport!r} is not a delivery "
            f"channel (known: {', '.join(sorted(known))})."
        )
    problem = found.check(email) if found.check else None
    if problem:
        raise ConfigError(f"{origin}: invalid value for 'email': {problem}.")
