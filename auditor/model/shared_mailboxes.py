"""Shared mailboxes and the state of their accounts (rules.md v2 ``shared-mailbox-sign-in-enabled``; CIS M365 1.2.2).

A shared mailbox is a ``Get-Mailbox`` record with ``RecipientTypeDetails`` ``SharedMailbox``
(https://learn.microsoft.com/exchange/collaboration-exo/shared-mailboxes). Its user object is joined on
``ExternalDirectoryObjectId``, else on the UPN / primary SMTP address; an enabled account can sign in with a
password like any user (https://learn.microsoft.com/microsoft-365/admin/email/about-shared-mailboxes — "block
sign-in for the shared mailbox account").
"""

from __future__ import annotations

from typing import Any

import pandas as pd

COLUMNS = ["mailbox_id", "user_id", "display_name", "address", "enabled"]


def build_shared_mailboxes(records: list[Any], users: pd.DataFrame) -> pd.DataFrame:
    """One row per shared mailbox; ``enabled`` is the account's ``accountEnabled`` (None when no user matches)."""
    shared = [r for r in records if isinstance(r, dict) and r.get("RecipientTypeDetails") == "SharedMailbox"]
    by_id: dict[Any, Any] = {}
    by_upn: dict[str, Any] = {}
    if shared and not users.empty:  # the lookups keep only the users these few mailboxes can match
        ids, upns = users["id"].tolist(), users["upn"].tolist()
        names = {str(r.get(key) or "").lower() for r in shared for key in ("UserPrincipalName", "PrimarySmtpAddress")}
        by_upn = {k: i for u, i in zip(upns, ids, strict=True) if u and (k := str(u).lower()) in names}
        wanted = {str(r.get("ExternalDirectoryObjectId") or "") for r in shared} | set(by_upn.values())
        by_id = {i: e for i, e in zip(ids, users["enabled"].tolist(), strict=True) if i in wanted}
    out = []
    for rec in shared:
        uid = str(rec.get("ExternalDirectoryObjectId") or "")
        if uid not in by_id:
            for key in ("UserPrincipalName", "PrimarySmtpAddress"):
                match = by_upn.get(str(rec.get(key) or "").lower())
                if match:
                    uid = match
                    break
        address = rec.get("PrimarySmtpAddress") or rec.get("UserPrincipalName")
        out.append(
            {
                "mailbox_id": str(rec.get("Guid") or rec.get("ExchangeGuid") or uid or address),
                "user_id": uid if uid in by_id else None,
                "display_name": str(rec.get("DisplayName") or address or uid),
                "address": address,
                "enabled": bool(by_id[uid]) if uid in by_id else None,
            }
        )
    frame = pd.DataFrame(out, columns=COLUMNS)
    for column in ("user_id", "enabled"):  # None, not NaN, where the account is unknown
        frame[column] = pd.Series([r[column] for r in out], dtype=object)
    return frame
