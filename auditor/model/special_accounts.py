"""v2 classifications: emergency access accounts and directory sync accounts (rules.md "Classifications").

- **Emergency access** ("break-glass") accounts are listed in ``classification.emergency_access`` (UPNs, object ids
  or group names/ids). Microsoft (https://learn.microsoft.com/entra/identity/role-based-access-control/security-emergency-access)
  and CIS M365 v7.0 1.1.2 say to exclude them from Conditional Access and keep them permanent active Global
  Administrators with a phishing-resistant method; Maester MT.1005 checks they are excluded.
- **Directory sync accounts** hold *Directory Synchronization Accounts* (``d29b2b05-8046-44ba-8758-1e26182fcf32``,
  https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference#directory-synchronization-accounts)
  or *On Premises Directory Sync Account* (``a92aed5d-d78a-4d16-b381-09adb37eb3b0``; the Learn table does not list
  it, the id is the one ``roleDefinitions`` returns, as EntraOps' role classification records it). A sync account is
  a service identity: Microsoft excludes it from security defaults and CIS 5.2.3.4 names it as the exception. It
  is an admin for the rules only when it also holds another role.

Columns added to ``users``: ``is_emergency_access``, ``emergency_signal``, ``is_sync_account``, ``sync_roles``,
``counts_as_admin``; ``is_daily`` loses emergency and sync accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

DIRECTORY_SYNC_ACCOUNTS = "d29b2b05-8046-44ba-8758-1e26182fcf32"
ON_PREMISES_DIRECTORY_SYNC_ACCOUNT = "a92aed5d-d78a-4d16-b381-09adb37eb3b0"
SYNC_ROLES: dict[str, str] = {
    DIRECTORY_SYNC_ACCOUNTS: "Directory Synchronization Accounts",
    ON_PREMISES_DIRECTORY_SYNC_ACCOUNT: "On Premises Directory Sync Account",
}


def _group_id(ref: str, groups: dict[str, dict[str, Any]]) -> str | None:
    if ref in groups:
        return ref
    return next((g for g, v in groups.items() if str(v.get("name")).casefold() == ref.casefold()), None)


def emergency_signals(users: pd.DataFrame, groups: dict[str, dict[str, Any]], entries: Sequence[str]) -> pd.Series:
    """Which configured entry marks each user an emergency access account (None when none does)."""
    signal = pd.Series([None] * len(users), index=users.index, dtype="object")
    if not entries:
        return signal
    by_key: dict[str, str] = {}
    for entry in entries:
        gid = _group_id(entry, groups)
        if gid is not None:
            for member in groups[gid]["members"]:
                by_key.setdefault(str(member), f"member of group '{groups[gid]['name']}'")
        elif "@" in entry:
            by_key.setdefault(entry.casefold(), f"UPN {entry}")
        else:
            by_key.setdefault(entry, f"object id {entry}")
    ids, upns = users["id"].tolist(), users["upn"].tolist()
    values = [by_key.get(i) or by_key.get(str(u).casefold()) for i, u in zip(ids, upns, strict=True)]
    return pd.Series(values, index=users.index, dtype="object")


def unresolved_emergency_entries(
    users: pd.DataFrame, groups: dict[str, dict[str, Any]], entries: Sequence[str]
) -> list[str]:
    """Configured entries that match no user and no collected group (to name in evidence)."""
    if not entries:
        return []
    ids = set(users["id"].tolist())
    upns = {str(u).casefold() for u in users["upn"].tolist()}
    return [e for e in entries if _group_id(e, groups) is None and e not in ids and e.casefold() not in upns]


def _sync_roles(users: pd.DataFrame, holdings: pd.DataFrame) -> tuple[list[list[str]], set[str]]:
    """Sync role names per user, and the users holding some *other* role that makes them an admin."""
    nothing: list[str] = []  # shared by every user without a sync role: read, never mutate
    if holdings.empty:
        return [nothing] * len(users), set()
    sync = holdings[holdings["role_id"].isin(list(SYNC_ROLES))]
    names: dict[str, list[str]] = {}
    for uid, role in zip(sync["user_id"].tolist(), sync["role_id"].tolist(), strict=True):
        if SYNC_ROLES[role] not in names.setdefault(uid, []):
            names[uid].append(SYNC_ROLES[role])
    other = holdings[~holdings["role_id"].isin(list(SYNC_ROLES)) & holdings["admin"]]
    names = {uid: sorted(n) for uid, n in names.items()}
    return [names.get(uid, nothing) for uid in users["id"].tolist()], set(other["user_id"])


def classify_special_accounts(
    users: pd.DataFrame, holdings: pd.DataFrame, groups: dict[str, dict[str, Any]], emergency_access: Sequence[str]
) -> pd.DataFrame:
    """Add the v2 classification columns to a classified ``users`` table (after ``classify_users``)."""
    users = users.copy(deep=False)  # new columns only; a deep copy of 300k rows costs more than the work
    users["emergency_signal"] = emergency_signals(users, groups, emergency_access)
    users["is_emergency_access"] = users["emergency_signal"].notna()
    sync_roles, other_admins = _sync_roles(users, holdings)
    users["sync_roles"] = sync_roles
    users["is_sync_account"] = pd.Series([bool(r) for r in sync_roles], index=users.index, dtype=bool)
    sync_only = users["is_sync_account"] & ~users["id"].isin(other_admins)
    users["counts_as_admin"] = users["is_admin"] & ~sync_only
    users["is_daily"] = users["is_daily"] & ~users["is_emergency_access"] & ~users["is_sync_account"]
    return users
