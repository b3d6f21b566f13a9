"""Conditional Access policies with their conditions resolved to user sets.

A policy *covers* a user when the user is included (All users, directly, through a group's transitive
members, or through an active role) and not excluded the same ways. Role conditions match active role
holders only: a PIM-eligible role is not in effect until activated. Guests match ``GuestsOrExternalUsers``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

LEGACY_CLIENT_TYPES = {"exchangeActiveSync", "other"}
COLUMNS = [
    "id", "name", "state", "requires_mfa", "blocks_legacy", "all_users", "all_apps", "include_users",
    "include_groups", "include_roles", "exclude_users", "exclude_groups", "exclude_roles", "include_guests",
    "exclude_guests", "include_locations", "exclude_locations", "client_app_types", "grant_controls",
    "grant_operator", "authentication_strength", "include_applications",
]


def _list(node: Any, key: str) -> list[str]:
    value = (node or {}).get(key) if isinstance(node, dict) else None
    return [str(v) for v in value] if isinstance(value, list) else []


def parse_policy(raw: dict[str, Any]) -> dict[str, Any]:
    cond = raw.get("conditions") or {}
    users = cond.get("users") or {}
    apps = cond.get("applications") or {}
    locations = cond.get("locations") or {}
    grant = raw.get("grantControls") or {}
    controls = _list(grant, "builtInControls")
    strength = grant.get("authenticationStrength")
    strength_name = (strength.get("displayName") or strength.get("id") or "authentication strength") if isinstance(
        strength, dict) else None
    operator = str(grant.get("operator") or "OR").upper()
    mfa_controls = int("mfa" in controls) + int(strength_name is not None)
    other_controls = len([c for c in controls if c != "mfa"]) + len(_list(grant, "termsOfUse")) + len(
        _list(grant, "customAuthenticationFactors"))
    # With OR, any other control (e.g. a compliant device) satisfies the policy without MFA.
    requires_mfa = mfa_controls > 0 and (operator == "AND" or other_controls == 0)
    client_types = set(_list(cond, "clientAppTypes"))
    include_locations = _list(locations, "includeLocations")
    exclude_locations = _list(locations, "excludeLocations")
    # A block that applies only in some locations still lets legacy protocols in from the others.
    everywhere = set(include_locations) <= {"All"} and not exclude_locations
    include_apps = _list(apps, "includeApplications")
    include_users = _list(users, "includeUsers")
    exclude_users = _list(users, "excludeUsers")
    return {
        "id": str(raw.get("id")),
        "name": raw.get("displayName") or str(raw.get("id")),
        "state": raw.get("state") or "disabled",
        "requires_mfa": requires_mfa,
        "blocks_legacy": "block" in controls and (bool(client_types >= LEGACY_CLIENT_TYPES) or "all" in client_types)
        and bool({"All", "Office365"} & set(include_apps)) and everywhere,
        "all_users": "All" in include_users,
        "all_apps": "All" in include_apps,
        "include_users": [u for u in include_users if u not in ("All", "None", "GuestsOrExternalUsers")],
        "include_groups": _list(users, "includeGroups"),
        "include_roles": _list(users, "includeRoles"),
        "exclude_users": [u for u in exclude_users if u != "GuestsOrExternalUsers"],
        "exclude_groups": _list(users, "excludeGroups"),
        "exclude_roles": _list(users, "excludeRoles"),
        "include_guests": "GuestsOrExternalUsers" in include_users or bool(users.get("includeGuestsOrExternalUsers")),
        "exclude_guests": "GuestsOrExternalUsers" in exclude_users or bool(users.get("excludeGuestsOrExternalUsers")),
        "include_locations": include_locations,
        "exclude_locations": exclude_locations,
        "client_app_types": sorted(client_types),
        "grant_controls": controls,
        "grant_operator": operator,
        "authentication_strength": strength_name,
        "include_applications": include_apps,
    }


def build_ca_policies(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([parse_policy(r) for r in records if isinstance(r, dict)], columns=COLUMNS)


def _members(
    users: pd.DataFrame, ids: list[str], groups: list[str], roles: list[str], guests: bool,
    group_members: dict[str, dict[str, Any]], holdings: pd.DataFrame,
) -> pd.Series:
    wanted = set(ids)
    for g in groups:
        wanted.update((group_members.get(g) or {}).get("members") or [])
    if roles and not holdings.empty:
        active = holdings[(holdings["assignment"] == "active") & holdings["role_id"].isin(roles)]
        wanted.update(active["user_id"])
    mask = users["id"].isin(wanted)
    if guests:
        mask = mask | users["is_guest"]
    return mask


def policy_scope(
    policy: pd.Series, users: pd.DataFrame, groups: dict[str, dict[str, Any]], holdings: pd.DataFrame
) -> tuple[pd.Series, pd.Series]:
    """Boolean masks over ``users``: (included, excluded) for one policy row."""
    if policy["all_users"]:
        included = pd.Series(True, index=users.index)
    else:
        included = _members(users, policy["include_users"], policy["include_groups"], policy["include_roles"],
                            policy["include_guests"], groups, holdings)
    excluded = _members(users, policy["exclude_users"], policy["exclude_groups"], policy["exclude_roles"],
                        policy["exclude_guests"], groups, holdings)
    return included, excluded


def pins_to_location(policy: pd.Series) -> bool:
    """A block policy for all apps that applies everywhere except named locations pins users to them."""
    return (
        policy["state"] == "enabled"
        and "block" in policy["grant_controls"]
        and policy["all_apps"]
        and "All" in policy["include_locations"]
        and any(loc not in ("All", "AllTrusted") for loc in policy["exclude_locations"])
    )
