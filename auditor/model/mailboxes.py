"""Mailboxes with their effective IMAP / POP / SMTP AUTH settings, joined to users."""

from __future__ import annotations

from typing import Any

import pandas as pd

COLUMNS = [
    "mailbox_id",
    "user_id",
    "display_name",
    "smtp_address",
    "imap",
    "pop",
    "smtp_auth_setting",
    "smtp_auth_enabled",
    "smtp_auth_source",
    "is_admin",
    "privileged_admin",
]


def build_mailboxes(records: list[dict[str, Any]], users: pd.DataFrame, org_enabled: bool | None) -> pd.DataFrame:
    """Join on ``ExternalDirectoryObjectId`` (the Entra object id), else on the SMTP address / UPN.

    Effective SMTP AUTH: the mailbox's own ``SmtpClientAuthenticationDisabled`` when set, else the
    organisation's setting (null means "follow the org").
    """
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    user_ids = users["id"].tolist()
    ids = set(user_ids)
    # column by column: each comprehension reads one field of every record
    addresses = [str(r.get("PrimarySmtpAddress") or "").lower() for r in records]
    exts = [r.get("ExternalDirectoryObjectId") for r in records]
    # the address join, for the mailboxes without a known object id (only their addresses are kept)
    needed = {a for e, a in zip(exts, addresses, strict=True) if e not in ids}
    by_address: dict[str, Any] = {}
    if needed:  # mail first, then the UPN (which wins where both match)
        by_address = {a: i for a, i in zip(users["mail"].tolist(), user_ids, strict=True) if a and a in needed}
        by_address.update(
            {k: i for u, i in zip(users["upn"].tolist(), user_ids, strict=True) if u and (k := u.lower()) in needed}
        )
    raw = [r.get("SmtpClientAuthenticationDisabled") for r in records]
    settings = [v if isinstance(v, bool) else None for v in raw]
    columns: dict[str, list[Any]] = {
        "mailbox_id": [
            str(r.get("Guid") or r.get("ExchangeGuid") or a) for r, a in zip(records, addresses, strict=True)
        ],
        "user_id": [e if e in ids else by_address.get(a) for e, a in zip(exts, addresses, strict=True)],
        "display_name": [r.get("DisplayName") or a for r, a in zip(records, addresses, strict=True)],
        "smtp_address": addresses,
        "imap": [r.get("ImapEnabled") is True for r in records],
        "pop": [r.get("PopEnabled") is True for r in records],
        "smtp_auth_setting": settings,
        "smtp_auth_enabled": [org_enabled if v is None else not v for v in settings],
        "smtp_auth_source": ["inherited from org" if v is None else "mailbox" for v in settings],
        "is_admin": [False] * len(records),
        "privileged_admin": [False] * len(records),
    }
    frame = pd.DataFrame(columns, columns=COLUMNS, dtype=object)
    for column in ("imap", "pop", "is_admin", "privileged_admin"):
        frame[column] = frame[column].astype(bool)
    return frame
