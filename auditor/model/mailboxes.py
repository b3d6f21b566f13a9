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
    ids = set(users["id"])
    user_ids = users["id"].tolist()
    by_address = {a: i for a, i in zip(users["mail"].tolist(), user_ids, strict=True) if a}
    by_address.update({u.lower(): i for u, i in zip(users["upn"].tolist(), user_ids, strict=True) if u})
    rows = []
    for r in records:
        address = str(r.get("PrimarySmtpAddress") or "").lower()
        ext = r.get("ExternalDirectoryObjectId")
        user_id = ext if ext in ids else by_address.get(address)
        setting = r.get("SmtpClientAuthenticationDisabled")
        setting = setting if isinstance(setting, bool) else None
        if setting is None:
            effective, source = org_enabled, "inherited from org"
        else:
            effective, source = (not setting), "mailbox"
        rows.append(
            (
                str(r.get("Guid") or r.get("ExchangeGuid") or address),
                user_id,
                r.get("DisplayName") or address,
                address,
                r.get("ImapEnabled") is True,
                r.get("PopEnabled") is True,
                setting,
                effective,
                source,
                False,
                False,
            )
        )
    frame = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    for column in ("imap", "pop", "is_admin", "privileged_admin"):
        frame[column] = frame[column].astype(bool)
    return frame
