"""Successful legacy-protocol sign-ins, aggregated per user."""

from __future__ import annotations

from typing import Any

import pandas as pd

from auditor.sources import LEGACY_CLIENT_APPS

# clientAppUsed values that are legacy (basic-auth capable) protocols.
COLUMNS = ["user_id", "upn", "count", "last", "protocols", "ip_addresses", "failed"]
MAX_IPS = 5


EVENT_COLUMNS = ["user_id", "upn", "app", "ip", "when", "ok"]


def legacy_events(records: list[dict[str, Any]], users: pd.DataFrame) -> pd.DataFrame:
    """One row per legacy-protocol sign-in (successful or not) that can be tied to a user."""
    if not records:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    id_by_upn: dict[str, Any] = {}
    if not all(r.get("userId") for r in records):  # sign-ins without a user id are tied to users by UPN
        id_by_upn = {u.lower(): i for u, i in zip(users["upn"].tolist(), users["id"].tolist(), strict=True) if u}
    frame = pd.DataFrame(
        {
            "user_id": [
                r.get("userId") or id_by_upn.get(str(r.get("userPrincipalName") or "").lower()) for r in records
            ],
            "upn": [r.get("userPrincipalName") or "" for r in records],
            "app": [r.get("clientAppUsed") or "" for r in records],
            "ip": [r.get("ipAddress") or "" for r in records],
            "when": pd.to_datetime(
                pd.Series([r.get("createdDateTime") for r in records], dtype="object"),
                utc=True,
                errors="coerce",
                format="ISO8601",
            ),
            "ok": [((r.get("status") or {}).get("errorCode") or 0) == 0 for r in records],
        }
    )
    return frame[frame["app"].isin(LEGACY_CLIENT_APPS) & frame["user_id"].notna()].reset_index(drop=True)


def summarise(events: pd.DataFrame, since: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per user: successful legacy sign-ins (count, last, protocols, up to 5 IPs) and failed attempts.

    A sign-in whose time could not be read is kept: the collector fetched only the window, and an
    unreadable field must not make a successful legacy sign-in disappear."""
    frame = events if since is None else events[events["when"].isna() | (events["when"] >= since)]
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    failed = frame[~frame["ok"]].groupby("user_id").size()
    good = frame[frame["ok"]].sort_values("when", ascending=False)
    if good.empty:
        return pd.DataFrame(columns=COLUMNS)
    grouped = good.groupby("user_id", sort=False)
    out = pd.DataFrame(
        {
            "upn": grouped["upn"].first(),
            "count": grouped.size(),
            "last": grouped["when"].max(),
            "protocols": grouped["app"].agg(lambda s: sorted(set(s))),
            "ip_addresses": grouped["ip"].agg(lambda s: [ip for ip in dict.fromkeys(s) if ip][:MAX_IPS]),
        }
    )
    out["failed"] = failed.reindex(out.index).fillna(0).astype(int)
    out.index.name = "user_id"
    return out.reset_index()[COLUMNS]
