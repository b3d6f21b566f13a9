"""Presentation of raw Graph / Exchange values in the workbook: plain English a reviewer can read and print.

The model keeps the API's values (``enabledForReportingButNotEnforced``, ``SmtpClientAuthenticationDisabled``
booleans, method names such as ``microsoftAuthenticatorPush``); the workbook shows "Report-only", "SMTP AUTH:
Enabled", "Microsoft Authenticator (push)". Lookups are dictionaries and small caches, so a 300,000-user
sheet pays a constant per cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

YES_NO: dict[Any, str] = {True: "Yes", False: "No"}
ENABLED: dict[Any, str] = {True: "Enabled", False: "Disabled"}
CA_STATES = {"enabled": "On", "disabled": "Off", "enabledForReportingButNotEnforced": "Report-only"}
PER_USER_MFA = {"enforced": "Enforced", "enabled": "Enabled", "disabled": "Disabled"}
RULE_STATUS = {"assessed": "Assessed", "not_assessed": "Not assessed", "disabled": "Disabled"}
IP_ORIGINS = {"named_location": "Named location", "legacy_trusted_ips": "Legacy MFA trusted IPs"}
SMTP_SOURCES = {"mailbox": "Mailbox setting", "inherited from org": "Inherited"}
LOCATIONS = {"All": "Any location", "AllTrusted": "All trusted locations"}
USERS = {"All": "All users", "None": "Nobody", "GuestsOrExternalUsers": "Guests and external users"}
CLIENT_APPS = {
    "all": "All client apps",
    "browser": "Browser",
    "mobileAppsAndDesktopClients": "Mobile apps and desktop clients",
    "exchangeActiveSync": "Exchange ActiveSync",
    "other": "Other clients (legacy)",
    "easSupported": "Exchange ActiveSync (supported platforms)",
    "easUnsupported": "Exchange ActiveSync (unsupported platforms)",
}
GRANT_CONTROLS = {
    "mfa": "Require MFA",
    "block": "Block access",
    "compliantDevice": "Require compliant device",
    "domainJoinedDevice": "Require hybrid joined device",
    "approvedApplication": "Require approved client app",
    "compliantApplication": "Require app protection policy",
    "passwordChange": "Require password change",
}
METHODS = {
    "microsoftAuthenticatorPush": "Microsoft Authenticator (push)",
    "microsoftAuthenticatorPasswordless": "Microsoft Authenticator (passwordless)",
    "softwareOneTimePasscode": "Authenticator app code (TOTP)",
    "hardwareOneTimePasscode": "Hardware token (OTP)",
    "mobilePhone": "Mobile phone (SMS/voice)",
    "alternateMobilePhone": "Alternate mobile phone",
    "officePhone": "Office phone",
    "email": "Email",
    "fido2SecurityKey": "FIDO2 security key",
    "fido2": "FIDO2 security key",
    "windowsHelloForBusiness": "Windows Hello for Business",
    "passKeyDeviceBound": "Passkey (device-bound)",
    "passKeyDeviceBoundAuthenticator": "Passkey (Microsoft Authenticator)",
    "passKeyDeviceBoundWindowsHello": "Passkey (Windows Hello)",
    "temporaryAccessPass": "Temporary Access Pass",
    "securityQuestion": "Security questions",
    "macOsSecureEnclaveKey": "macOS Platform Credential",
    "x509Certificate": "Certificate-based authentication",
    "appPassword": "App password",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def words(name: str) -> str:
    """A camelCase API value as words: ``phoneAuthentication`` -> ``Phone authentication``."""
    text = _CAMEL.sub(" ", name).lower()
    return text[:1].upper() + text[1:]


def label(table: Mapping[Any, str], value: Any) -> Any:
    """``value`` through ``table``; an unknown string as words, anything else (None, numbers) unchanged."""
    found = table.get(value) if isinstance(value, str | bool) else None
    if found is not None:
        return found
    return words(value) if isinstance(value, str) and value else value


@lru_cache(maxsize=4096)
def _joined(table_id: int, values: tuple[str, ...]) -> str:
    table = _TABLES[table_id]
    return ", ".join(str(label(table, v)) for v in values)


_TABLES: list[Mapping[Any, str]] = [METHODS, CLIENT_APPS, GRANT_CONTROLS]
METHOD_LIST, CLIENT_APP_LIST, GRANT_LIST = range(3)


def labels(table_id: int, values: Any) -> str | None:
    """A list of API values as one readable text (cached: a tenant has few distinct combinations)."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple | set | frozenset):
        return None if values is None or values != values else str(values)  # missing (None, NaN) stays empty
    return _joined(table_id, tuple(str(v) for v in values))


def named(ids: Iterable[Any] | None, names: Mapping[str, str], special: Mapping[str, str] | None = None) -> str | None:
    """Directory object ids as ``Name (id)``, one a line (None for none); an id without a known name stays."""
    out = []
    for raw in ids or ():
        ident = str(raw)
        if special and ident in special:
            out.append(special[ident])
        elif names.get(ident) and names[ident] != ident:
            out.append(f"{names[ident]} ({ident})")
        else:
            out.append(ident)
    return "\n".join(out) or None


def as_date(value: Any) -> Any:
    """An ISO date string (as waivers carry them) as a date cell; other values unchanged."""
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10]) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            return value
    return value
