"""Per-user Conditional Access coverage (rules.md "Conditional Access semantics (v2)": Coverage, Excluded users,
Pinned, Legacy block as a union).

A user is **covered** for MFA by an in-force policy that requires MFA (or accepts a managed device instead) for
All resources, unnarrowed, and that includes and does not exclude them — whatever its user scope: a group-scoped
all-resources policy covers its group. Policies for some apps, for a user action or for an authentication context
never cover (a user excluded from the all-apps policy is *not* protected by an Azure-management-only one). A user
is **blocked** from legacy authentication per client type (``exchangeActiveSync``, ``other``) by the union of the
in-force legacy blocks that include and do not exclude them; a block excluding Exchange Online or ``Office365``
blocks nothing that matters and covers nobody. Maester (MT.1036, "excluded users covered by another policy") and
CIS 5.2.2.2 / 5.2.2.3 read exclusions the same way; ScubaGear (MS.AAD.1.1v1, MS.AAD.3.2v2) only asks for one
all-users policy.

Security defaults are not considered here: a rule combines ``model.security_defaults_enabled`` with this table.

Work per user is vectorised over the (few) policies; lists describing exclusions are built only for the users
who are excluded somewhere. List cells are shared between users (one list per distinct value): read, never mutate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from auditor.model.ca_semantics import LEGACY_TYPES
from auditor.model.exclusions import ALWAYS, ON_ACTIVATION, ExclusionExplainer, Scope, policy_masks

COLUMNS = [
    "user_id",
    "mfa_included",
    "mfa_covered",
    "mfa_covered_on_activation",
    "mfa_covered_by",
    "mfa_excluded_by",
    "mfa_exclusion",
    "pinned",
    "pinned_by",
    "legacy_blocked_types",
    "legacy_excluded_by",
    "legacy_gap_types",
    "legacy_exclusion",
]


def _names_by_bits(masks: list[np.ndarray], names: list[str], n: int) -> list[list[str]]:
    """For each user, the names whose mask is true; users with the same combination share one list."""
    if not masks:
        empty: list[str] = []
        return [empty] * n
    codes = np.zeros(n, dtype=np.int64)
    for bit, mask in enumerate(masks):
        codes |= mask.astype(np.int64) << bit
    lists = {int(c): [names[b] for b in range(len(names)) if (int(c) >> b) & 1] for c in np.unique(codes)}
    return [lists[c] for c in codes.tolist()]


def _any(masks: list[np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for m in masks:
        out |= m
    return out


def _exclusion_state(
    excluded_now: np.ndarray, covered_now: np.ndarray, excluded_act: np.ndarray, covered_act: np.ndarray
) -> np.ndarray:
    """'always' when excluded and uncovered today, 'on activation' when that happens once eligible roles are
    activated, else None."""
    gap_now = excluded_now & ~covered_now
    gap_act = excluded_act & ~covered_act
    out = np.full(len(gap_now), None, dtype=object)
    out[gap_act] = ON_ACTIVATION
    out[gap_now] = ALWAYS
    return out


def build_coverage(
    users: pd.DataFrame, ca: pd.DataFrame, groups: dict[str, dict[str, Any]], holdings: pd.DataFrame
) -> pd.DataFrame:
    """The ``coverage`` table: one row per user (same order as ``users``). See ``auditor.model.tenant``."""
    n = len(users)
    ids = users["id"].tolist()
    explain = ExclusionExplainer(users, groups, holdings)
    mfa = ca[ca["mfa_all_resources"]] if not ca.empty else ca
    legacy = ca[ca["legacy_block_effective"]] if not ca.empty else ca
    pins = ca[ca["pins_to_locations"]] if not ca.empty else ca
    scopes: dict[str, Scope] = {}

    def scope(policy: Any) -> Scope:
        if policy["id"] not in scopes:
            scopes[policy["id"]] = policy_masks(policy, users, groups, holdings)
        return scopes[policy["id"]]

    mfa_rows = [p for _, p in mfa.iterrows()]
    mfa_scopes = [scope(p) for p in mfa_rows]
    covered = _any([s.applies for s in mfa_scopes], n)
    covered_act = _any([s.applies_on_activation for s in mfa_scopes], n)
    excluded = _any([s.included & s.excluded for s in mfa_scopes], n)
    excluded_act = _any([s.included_on_activation & s.excluded_on_activation for s in mfa_scopes], n)
    mfa_exclusion = _exclusion_state(excluded, covered, excluded_act, covered_act)

    # Pinned: an in-force block for All resources except named locations applies to the user, for at least the
    # client app types of the MFA policies they are excluded from.
    pin_rows = [p for _, p in pins.iterrows()]
    pin_scopes = [scope(p) for p in pin_rows]
    # Per-user lists only for the users excluded somewhere; everyone else shares one empty list (never mutated):
    # a list per user would cost more than the whole coverage computation on a large tenant.
    nothing: list[Any] = []
    mfa_excluded_by: list[list[dict[str, Any]]] = [nothing] * n
    pinned = np.zeros(n, dtype=bool)
    pinned_by: list[list[str]] = [nothing] * n
    for i in np.flatnonzero(excluded | excluded_act).tolist():
        mfa_excluded_by[i] = []
        needed: set[str] = set()
        for p, s in zip(mfa_rows, mfa_scopes, strict=True):
            if s.included_on_activation[i] and s.excluded_on_activation[i]:
                applies = ALWAYS if s.included[i] and s.excluded[i] else ON_ACTIVATION
                mfa_excluded_by[i].append({"policy": p["name"], "how": explain.how(p, ids[i]), "applies": applies})
                needed.update(p["client_types"])
        if mfa_exclusion[i] is None or not pin_rows:
            continue
        state_now = mfa_exclusion[i] == ALWAYS
        have: set[str] = set()
        names = []
        for p, s in zip(pin_rows, pin_scopes, strict=True):
            if (s.applies if state_now else s.applies_on_activation)[i]:
                have.update(p["client_types"])
                names.append(p["name"])
        if names and needed <= have:
            pinned[i] = True
            pinned_by[i] = names

    # Legacy blocks: the union per client type.
    legacy_rows = [p for _, p in legacy.iterrows()]
    legacy_scopes = [scope(p) for p in legacy_rows]
    blocked: dict[str, np.ndarray] = {}
    blocked_act: dict[str, np.ndarray] = {}
    gap: dict[str, np.ndarray] = {}
    gap_act: dict[str, np.ndarray] = {}
    for t in LEGACY_TYPES:
        mine = [(p, s) for p, s in zip(legacy_rows, legacy_scopes, strict=True) if t in p["legacy_types"]]
        blocked[t] = _any([s.applies for _, s in mine], n)
        blocked_act[t] = _any([s.applies_on_activation for _, s in mine], n)
        gap[t] = _any([s.included & s.excluded for _, s in mine], n) & ~blocked[t]
        gap_act[t] = _any([s.included_on_activation & s.excluded_on_activation for _, s in mine], n) & ~blocked_act[t]
    any_gap = _any(list(gap.values()), n)
    any_gap_act = _any(list(gap_act.values()), n)
    legacy_exclusion = np.full(n, None, dtype=object)
    legacy_exclusion[any_gap_act] = ON_ACTIVATION
    legacy_exclusion[any_gap] = ALWAYS
    legacy_gap_types = _names_by_bits([gap[t] | (gap_act[t] & ~any_gap) for t in LEGACY_TYPES], list(LEGACY_TYPES), n)
    legacy_excluded_by: list[list[dict[str, Any]]] = [nothing] * n
    excluded_legacy = _any([s.included_on_activation & s.excluded_on_activation for s in legacy_scopes], n)
    for i in np.flatnonzero(excluded_legacy).tolist():
        legacy_excluded_by[i] = []
        for p, s in zip(legacy_rows, legacy_scopes, strict=True):
            if s.included_on_activation[i] and s.excluded_on_activation[i]:
                legacy_excluded_by[i].append(
                    {
                        "policy": p["name"],
                        "how": explain.how(p, ids[i]),
                        "client_types": list(p["legacy_types"]),
                        "applies": ALWAYS if s.included[i] and s.excluded[i] else ON_ACTIVATION,
                    }
                )

    return pd.DataFrame(
        {
            "user_id": pd.Series(ids, dtype="object"),
            "mfa_included": _any([s.included for s in mfa_scopes], n),
            "mfa_covered": covered,
            "mfa_covered_on_activation": covered_act,
            "mfa_covered_by": _names_by_bits([s.applies for s in mfa_scopes], [p["name"] for p in mfa_rows], n),
            "mfa_excluded_by": mfa_excluded_by,
            "mfa_exclusion": pd.Series(mfa_exclusion, dtype="object"),
            "pinned": pinned,
            "pinned_by": pinned_by,
            "legacy_blocked_types": _names_by_bits([blocked[t] for t in LEGACY_TYPES], list(LEGACY_TYPES), n),
            "legacy_excluded_by": legacy_excluded_by,
            "legacy_gap_types": legacy_gap_types,
            "legacy_exclusion": pd.Series(legacy_exclusion, dtype="object"),
        },
        columns=COLUMNS,
    )
