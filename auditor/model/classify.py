"""Classification: admin, service account, daily account (see the rule catalog)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from auditor.model.membership import in_set
from auditor.model.settings import ClassificationSettings


def _admin_columns(users: pd.DataFrame, holdings: pd.DataFrame) -> pd.DataFrame:
    if holdings.empty:
        return pd.DataFrame(
            {
                "admin_roles": [[] for _ in range(len(users))],
                "privileged_admin": False,
                "role_assignment_kinds": [[] for _ in range(len(users))],
            },
            index=users.index,
        )
    kind = np.where(
        holdings["via_group_name"].notna(),
        holdings["assignment"] + " via group " + holdings["via_group_name"].fillna(""),
        holdings["assignment"],
    )
    h = holdings.assign(kind=kind)
    grouped = h.groupby("user_id", sort=False)
    agg = pd.DataFrame(
        {
            "admin_roles": grouped["role_name"].agg(lambda s: sorted(set(s))),
            "privileged_admin": grouped["privileged"].any(),
            "role_assignment_kinds": grouped["kind"].agg(lambda s: sorted(set(s))),
        }
    )
    # Admins are few: look them up in small dicts instead of reindexing object columns.
    ids = users["id"].tolist()
    role_map = agg["admin_roles"].to_dict()
    kind_map = agg["role_assignment_kinds"].to_dict()
    privileged = {uid for uid, p in agg["privileged_admin"].items() if p}
    nothing: list[str] = []  # shared by every user without a role: read, never mutate
    return pd.DataFrame(
        {
            "admin_roles": [role_map.get(uid) or nothing for uid in ids],
            "privileged_admin": [uid in privileged for uid in ids],
            "role_assignment_kinds": [kind_map.get(uid) or nothing for uid in ids],
        },
        index=users.index,
    )


def _search(values: pd.Series, pattern: str) -> pd.Series:
    rx = re.compile(pattern, re.IGNORECASE)
    return pd.Series([rx.search(v) is not None for v in values.tolist()], index=values.index, dtype=bool)


def _service_signals(users: pd.DataFrame, groups: dict[str, dict[str, Any]], cfg: ClassificationSettings) -> pd.Series:
    """The first signal that marks each user a service account (None when none does)."""
    signal = pd.Series([None] * len(users), index=users.index, dtype="object")

    def mark(mask: pd.Series, text: str) -> None:
        signal.loc[mask & signal.isna()] = text

    sa = cfg.service_accounts
    if sa.upns:
        listed = {u.lower() for u in sa.upns}
        mark(users["upn"].str.lower().isin(listed), "listed in classification.service_accounts.upns")
    for ref in sa.groups:
        # Graph matches group display names case-insensitively (the collector found it that way).
        group_id = (
            ref
            if ref in groups
            else next((g for g, v in groups.items() if str(v["name"]).casefold() == ref.casefold()), None)
        )
        if group_id is not None:
            mark(users["id"].isin(set(groups[group_id]["members"])), f"member of group '{groups[group_id]['name']}'")
    local = pd.Series([u.split("@", 1)[0] for u in users["upn"].tolist()], index=users.index, dtype="object")
    for pattern in sa.upn_patterns:
        mark(_search(local, pattern), f"UPN matches pattern {pattern}")
    for pattern in sa.display_name_patterns:
        mark(_search(users["display_name"].fillna(""), pattern), f"display name matches pattern {pattern}")
    return signal


def unresolved_service_groups(groups: dict[str, dict[str, Any]], cfg: ClassificationSettings) -> list[str]:
    """Configured service-account groups (by id or name) that match no collected group: their members
    cannot be classified, which the model records instead of passing over silently."""
    names = {str(v["name"]).casefold() for v in groups.values()}
    return [g for g in cfg.service_accounts.groups if g not in groups and g.casefold() not in names]


def classify_users(
    users: pd.DataFrame,
    holdings: pd.DataFrame,
    mailboxes: pd.DataFrame,
    groups: dict[str, dict[str, Any]],
    cfg: ClassificationSettings,
) -> pd.DataFrame:
    users = users.copy()
    holdings = holdings[holdings["admin"]] if not holdings.empty else holdings
    admin = _admin_columns(users, holdings)
    users["is_admin"] = users["id"].isin(set(holdings["user_id"])) if not holdings.empty else False
    users["admin_roles"] = admin["admin_roles"]
    users["privileged_admin"] = admin["privileged_admin"]
    users["role_assignment_kinds"] = admin["role_assignment_kinds"]
    users["service_signal"] = _service_signals(users, groups, cfg)
    users["is_service_account"] = users["service_signal"].notna()
    member_like = users["user_type"].str.lower().eq("member")
    if cfg.include_guests:
        member_like = member_like | users["is_guest"]
    users["is_daily"] = users["enabled"] & member_like & ~users["is_service_account"]
    users["has_mailbox"] = (
        in_set(users["id"], set(mailboxes["user_id"].dropna().tolist())) if not mailboxes.empty else False
    )
    return users
