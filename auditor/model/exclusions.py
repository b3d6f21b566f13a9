"""Who a Conditional Access policy includes and excludes, now and on role activation, and how.

Users are excluded directly, through transitive group membership, through an excluded directory role or by guest
kind (https://learn.microsoft.com/entra/identity/conditional-access/concept-conditional-access-users-groups).
Role conditions match *active*, tenant-wide role holders: a PIM-eligible holder is matched only while the role is
activated (https://learn.microsoft.com/entra/id-governance/privileged-identity-management/pim-how-to-activate-role),
so an eligible holder of an excluded role is excluded **on activation** (rules.md v2) — exactly while they hold
the privilege — and an eligible holder of an included role is not covered until they activate it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditor.model.conditional_access import policy_scope

ALWAYS = "always"
ON_ACTIVATION = "on activation"


def role_holders(holdings: pd.DataFrame, roles: list[str], assignment: str) -> pd.DataFrame:
    """Tenant-wide holdings of ``roles`` with the given assignment (``active`` or ``eligible``)."""
    if not roles or holdings.empty:
        return holdings.iloc[0:0]
    return holdings[
        (holdings["assignment"] == assignment) & (holdings["scope"] == "/") & holdings["role_id"].isin(roles)
    ]


@dataclass
class Scope:
    """Boolean arrays over the users table for one policy."""

    included: np.ndarray
    excluded: np.ndarray
    included_on_activation: np.ndarray
    excluded_on_activation: np.ndarray

    @property
    def applies(self) -> np.ndarray:
        return np.asarray(self.included & ~self.excluded)

    @property
    def applies_on_activation(self) -> np.ndarray:
        return np.asarray(self.included_on_activation & ~self.excluded_on_activation)


def policy_masks(policy: Any, users: pd.DataFrame, groups: dict[str, dict[str, Any]], holdings: pd.DataFrame) -> Scope:
    """Included/excluded now (active roles) and on activation (active and eligible roles)."""
    included, excluded = policy_scope(policy, users, groups, holdings)
    inc, exc = included.to_numpy(dtype=bool), excluded.to_numpy(dtype=bool)
    inc_act, exc_act = inc, exc
    if not policy["all_users"] and policy["include_roles"]:
        eligible = set(role_holders(holdings, policy["include_roles"], "eligible")["user_id"])
        if eligible:
            inc_act = inc | users["id"].isin(eligible).to_numpy(dtype=bool)
    if policy["exclude_roles"]:
        eligible = set(role_holders(holdings, policy["exclude_roles"], "eligible")["user_id"])
        if eligible:
            exc_act = exc | users["id"].isin(eligible).to_numpy(dtype=bool)
    return Scope(inc, exc, inc_act, exc_act)


@dataclass
class ExclusionExplainer:
    """Says how a user is excluded from a policy; group member sets are built once per group, on demand."""

    users: pd.DataFrame
    groups: dict[str, dict[str, Any]]
    holdings: pd.DataFrame
    _sets: dict[str, set[str]] = field(default_factory=dict)
    _kinds: dict[str, Any] | None = None

    def _members(self, group_id: str) -> set[str]:
        if group_id not in self._sets:
            self._sets[group_id] = set((self.groups.get(group_id) or {}).get("members") or [])
        return self._sets[group_id]

    def how(self, policy: Any, user_id: str) -> list[str]:
        """Every way ``user_id`` is excluded from ``policy`` (e.g. ``["group Break glass", "role Global
        Administrator (eligible)"]``); empty when not excluded at all."""
        out = []
        if user_id in policy["exclude_users"]:
            out.append("directly")
        for g in policy["exclude_groups"]:
            if user_id in self._members(g):
                out.append(f"group {(self.groups.get(g) or {}).get('name') or g}")
        if policy["exclude_roles"]:
            h = self.holdings
            mine = h[(h["user_id"] == user_id) & (h["scope"] == "/") & h["role_id"].isin(policy["exclude_roles"])]
            for role, assignment in sorted(set(zip(mine["role_name"], mine["assignment"], strict=True))):
                out.append(f"role {role}" + ("" if assignment == "active" else f" ({assignment})"))
        if policy["exclude_guest_kinds"]:
            if self._kinds is None:
                self._kinds = dict(zip(self.users["id"].tolist(), self.users["guest_kind"].tolist(), strict=True))
            kind = self._kinds.get(user_id)
            if kind in policy["exclude_guest_kinds"]:
                out.append(f"guest kind {kind}")
        return out
