"""The ``smtp`` channel: implicit TLS (``ssl``) or STARTTLS (``starttls``, required when set), then AUTH."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import getaddresses

from auditor.config import EmailConfig, SmtpConfig, TenantConfig
from auditor.deliver.registry import DeliveryResult, channel
from auditor.errors import ConfigError, DeliveryError
from auditor.transport.tls import ssl_context

log = logging.getLogger("auditor.deliver")


def _needs_section(email: EmailConfig) -> str | None:
    return "transport smtp needs an smtp section" if email.smtp is None else None


@channel("smtp", check=_needs_section)
def smtp_channel(email: EmailConfig, tenant: TenantConfig | None, message: EmailMessage) -> DeliveryResult:
    """SMTP server of ``email.smtp`` (the tenant is not used)."""
    return send_smtp(email, message)


def _recipients(message: EmailMessage) -> list[str]:
    pairs = getaddresses(message.get_all("To", []) + message.get_all("Cc", []) + message.get_all("Bcc", []))
    return [addr for _name, addr in pairs if addr]


def _smtp_context(smtp: SmtpConfig) -> ssl.SSLContext:
    return ssl_context(smtp.ca_bundle)


@contextmanager
def _session(smtp: SmtpConfig) -> Iterator[tuple[smtplib.SMTP, list[str]]]:
    """An SMTP connection after EHLO, STARTTLS (when configured) and AUTH (when a user is configured);
    yields the client and the steps that succeeded. Every failure is one ``DeliveryError`` sentence."""
    where = f"SMTP server {smtp.host}:{smtp.port}"
    username = smtp.username()
    if username and not (smtp.ssl or smtp.starttls):
        raise DeliveryError(
            f"{where}: refusing to send the SMTP password over an unencrypted connection; "
            "set email.smtp.starttls or email.smtp.ssl."
        )
    password = smtp.password() if username else None
    context = _smtp_context(smtp) if (smtp.ssl or smtp.starttls) else None
    steps: list[str] = []
    try:
        if smtp.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_seconds, context=context)
            steps.append("implicit TLS")
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
        with client:
            client.ehlo()
            steps.append("EHLO")
            if smtp.starttls and not smtp.ssl:
                if not client.has_extn("starttls"):
                    raise DeliveryError(f"{where} does not offer STARTTLS, which email.smtp.starttls requires.")
                client.starttls(context=context)
                client.ehlo()
                steps.append("STARTTLS")
            if username:
                client.login(username, password or "")
                steps.append("AUTH")
            yield client, steps
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{where} rejected the login for the configured user ({exc.smtp_code}).") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"{where} refused every recipient ({', '.join(exc.recipients)}).") from exc
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"{where} failed: {_smtp_reason(exc)}.") from exc
    except ssl.SSLError as exc:
        raise DeliveryError(
            f"{where}: TLS failed ({exc.reason or exc}); set email.smtp.ca_bundle "
            "or SSL_CERT_FILE if the server uses a private CA."
        ) from exc
    except OSError as exc:
        raise DeliveryError(f"{where} cannot be reached ({exc.strerror or exc}).") from exc


def send_smtp(email: EmailConfig, message: EmailMessage) -> DeliveryResult:
    """SMTP with implicit TLS (``ssl``) or STARTTLS (``starttls``, required when set), then AUTH if configured."""
    smtp = email.smtp
    if smtp is None:
        raise ConfigError("email.transport is smtp but the 'email.smtp' section is missing.")
    recipients = _recipients(message)
    with _session(smtp) as (client, _steps):
        refused = client.send_message(message, from_addr=email.sender, to_addrs=recipients)
    if refused:
        log.warning("SMTP refused some recipients: %s", ", ".join(refused))
    return DeliveryResult(
        sent=True,
        transport="smtp",
        message_id=message["Message-ID"],
        recipients=[r for r in recipients if r not in refused],
        detail=f"SMTP server {smtp.host}:{smtp.port}",
    )


def check_smtp(smtp: SmtpConfig) -> str:
    """Connect as a delivery would (EHLO, STARTTLS when configured, AUTH when a user is configured) and
    quit without sending anything. Returns what succeeded; raises ``DeliveryError`` naming the step."""
    with _session(smtp) as (client, steps):
        client.noop()
    return f"SMTP server {smtp.host}:{smtp.port}: " + ", ".join(f"{s} ok" for s in steps) + "; no message sent"


def _smtp_reason(exc: smtplib.SMTPException) -> str:
    code = getattr(exc, "smtp_code", None)
    text = getattr(exc, "smtp_error", b"")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    reason = f"{code} {text}".strip() if code else (str(exc) or type(exc).__name__)
    return reason.rstrip(". ")
