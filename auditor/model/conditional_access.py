"""Conditional Access policies with their conditions resolved to user sets.

A policy *covers* a user when the user is included (All users, directly, through a group's transitive
members, or through an active role) and not excluded the same ways. Role conditions match active,
tenant-wide (``directoryScopeId`` "/") role holders only: a PIM-eligible role is not in effect until
activated, and Conditional Access ignores roles scoped to an administrative unit or object. Guests and
external users match ``GuestsOrExternalUsers`` and the ``include/excludeGuestsOrExternalUsers`` objects
by kind (internal guest, B2B guest, B2B member).

A policy that only applies under extra conditions (sign-in or user risk, some platforms, a device
filter, some client apps, authentication flows) is not a baseline: ``requires_mfa`` and
``blocks_legacy`` are true only for policies that apply whatever those conditions are; ``grants_mfa``
says the grant alone would require MFA and ``narrowed_by`` names the conditions that narrow it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from auditor.model.membership import in_set

LEGACY_CLIENT_TYPES = {"exchangeActiveSync", "other"}
MODERN_CLIENT_TYPES = {"browser", "mobileAppsAndDesktopClients"}
GUEST_KINDS = ("internalGuest", "b2bCollaborationGuest", "b2bCollaborationMember")
_ALL_RISK = {"low", "medium", "high", "none"}
COLUMNS = [
    "id",
    "name",
    "state",
    "requires_mfa",
    "blocks_legacy",
    "all_users",
    "all_apps",
    "include_users",
    "include_groups",
    "include_roles",
    "exclude_users",
    "exclude_groups",
    "exclude_roles",
    "include_guests",
    "exclude_guests",
    "include_locations",
    "exclude_locations",
    "client_app_types",
    "grant_controls",
    "grant_operator",
    "authentication_strength",
    "include_applications",
    "grants_mfa",
    "narrowed_by",
    "all_client_apps",
    "include_guest_kinds",
    "exclude_guest_kinds",
]


def _list(node: Any, key: str) -> list[str]:
    value = (node or {}).get(key) if isinstance(node, dict) else None
    return [str(v) for v in value] if isinstance(value, list) else []


def _narrowed_by(cond: dict[str, Any]) -> list[str]:
    """Conditions (other than users, apps, client apps and locations) that limit when a policy applies."""
    out = []
    for key in ("signInRiskLevels", "userRiskLevels", "servicePrincipalRiskLevels"):
        levels = set(_list(cond, key))
        if levels and not levels >= _ALL_RISK:
            out.append(key)
    if cond.get("insiderRiskLevels"):
        out.append("insiderRiskLevels")
    platforms = cond.get("platforms") if isinstance(cond.get("platforms"), dict) else {}
    include_platforms = _list(platforms, "includePlatforms")
    if (include_platforms and "all" not in include_platforms) or _list(platforms, "excludePlatforms"):
        out.append("platforms")
    devices = cond["devices"] if isinstance(cond.get("devices"), dict) else {}
    if (
        devices.get("deviceFilter")
        or _list(devices, "includeDevices")
        or _list(devices, "excludeDevices")
        or _list(devices, "includeDeviceStates")
        or _list(devices, "excludeDeviceStates")
    ):
        out.append("devices")
    flows = cond.get("authenticationFlows")
    if isinstance(flows, dict) and flows.get("transferMethods"):
        out.append("authenticationFlows")
    return out


def _guest_kinds(value: Any, legacy_value: bool, *, include: bool) -> list[str]:
    """User kinds a ``GuestsOrExternalUsers`` condition matches.

    An ``include/excludeGuestsOrExternalUsers`` object names the kinds in ``guestOrExternalUserTypes``
    and may be limited to some external tenants, which the directory does not tell us for a guest: then
    an inclusion is not assumed (the guest may be outside it) and an exclusion is (it may apply).
    """
    if legacy_value:
        return list(GUEST_KINDS)
    if not isinstance(value, dict):
        return []
    types = value.get("guestOrExternalUserTypes")
    names = {t.strip() for t in (types.split(",") if isinstance(types, str) else types or []) if isinstance(t, str)}
    tenants = value.get("externalTenants")
    kind = str((tenants or {}).get("membershipKind") or "all") if isinstance(tenants, dict) else "all"
    if include and kind != "all":
        return []
    return [k for k in GUEST_KINDS if k in names]


def _all_client_apps(client_types: set[str]) -> bool:
    return not client_types or "all" in client_types or client_types >= MODERN_CLIENT_TYPES | LEGACY_CLIENT_TYPES


#: built-in authentication strengths that require MFA (when a strength does not say requirementsSatisfied)
MFA_STRENGTH_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000002",  # Multifactor authentication
        "00000000-0000-0000-0000-000000000003",  # Passwordless MFA
        "00000000-0000-0000-0000-000000000004",  # Phishing-resistant MFA
    }
)


def strength_requires_mfa(strength: dict[str, Any], known: dict[str, dict[str, Any]] | None = None) -> bool:
    """MFA only when ``requirementsSatisfied`` is ``mfa`` (from the strength, else the strength policies);
    without it, only the built-in MFA strengths count. A custom strength allowing password or SMS alone
    (``requirementsSatisfied: none``) is not MFA."""
    satisfied = strength.get("requirementsSatisfied")
    if not isinstance(satisfied, str) and known:
        satisfied = (known.get(str(strength.get("id") or "")) or {}).get("requirementsSatisfied")
    if isinstance(satisfied, str):
        return satisfied.strip().lower() == "mfa"
    return str(strength.get("id") or "") in MFA_STRENGTH_IDS


def parse_policy(raw: dict[str, Any], strengths: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    cond = raw.get("conditions") or {}
    users = cond.get("users") or {}
    apps = cond.get("applications") or {}
    locations = cond.get("locations") or {}
    grant = raw.get("grantControls") or {}
    controls = _list(grant, "builtInControls")
    strength = grant.get("authenticationStrength")
    strength_name = (
        (strength.get("displayName") or strength.get("id") or "authentication strength")
        if isinstance(strength, dict)
        else None
    )
    operator = str(grant.get("operator") or "OR").upper()
    strength_mfa = isinstance(strength, dict) and strength_requires_mfa(strength, strengths)
    mfa_controls = int("mfa" in controls) + int(strength_mfa)
    other_controls = (
        len([c for c in controls if c != "mfa"])
        + len(_list(grant, "termsOfUse"))
        + len(_list(grant, "customAuthenticationFactors"))
        + int(strength_name is not None and not strength_mfa)
    )
    # With OR, any other control (e.g. a compliant device) satisfies the policy without MFA.
    grants_mfa = mfa_controls > 0 and (operator == "AND" or other_controls == 0)
    client_types = set(_list(cond, "clientAppTypes"))
    narrowed = _narrowed_by(cond)
    covers_modern = not client_types or "all" in client_types or client_types >= MODERN_CLIENT_TYPES
    covers_legacy = "all" in client_types or client_types >= LEGACY_CLIENT_TYPES
    include_locations = _list(locations, "includeLocations")
    exclude_locations = _list(locations, "excludeLocations")
    # A block that applies only in some locations still lets legacy protocols in from the others.
    everywhere = set(include_locations) <= {"All"} and not exclude_locations
    include_apps = _list(apps, "includeApplications")
    include_users = _list(users, "includeUsers")
    exclude_users = _list(users, "excludeUsers")
    include_kinds = _guest_kinds(
        users.get("includeGuestsOrExternalUsers"), "GuestsOrExternalUsers" in include_users, include=True
    )
    exclude_kinds = _guest_kinds(
        users.get("excludeGuestsOrExternalUsers"), "GuestsOrExternalUsers" in exclude_users, include=False
    )
    return {
        "id": str(raw.get("id")),
        "name": raw.get("displayName") or str(raw.get("id")),
        "state": raw.get("state") or "disabled",
        "requires_mfa": grants_mfa and covers_modern and not narrowed,
        "blocks_legacy": "block" in controls
        and covers_legacy
        and not narrowed
        and bool({"All", "Office365"} & set(include_apps))
        and everywhere,
        "all_users": "All" in include_users,
        "all_apps": "All" in include_apps,
        "include_users": [u for u in include_users if u not in ("All", "None", "GuestsOrExternalUsers")],
        "include_groups": _list(users, "includeGroups"),
        "include_roles": _list(users, "includeRoles"),
        "exclude_users": [u for u in exclude_users if u != "GuestsOrExternalUsers"],
        "exclude_groups": _list(users, "excludeGroups"),
        "exclude_roles": _list(users, "excludeRoles"),
        "include_guests": bool(include_kinds),
        "exclude_guests": bool(exclude_kinds),
        "include_locations": include_locations,
        "exclude_locations": exclude_locations,
        "client_app_types": sorted(client_types),
        "grant_controls": controls,
        "grant_operator": operator,
        "authentication_strength": strength_name,
        "include_applications": include_apps,
        "grants_mfa": grants_mfa,
        "narrowed_by": narrowed + ([] if covers_modern else ["clientAppTypes"]),
        "all_client_apps": _all_client_apps(client_types),
        "include_guest_kinds": include_kinds,
        "exclude_guest_kinds": exclude_kinds,
    }


def build_ca_policies(records: list[dict[str, Any]], strengths: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    known = {str(s.get("id")): s for s in strengths or [] if isinstance(s, dict)}
    return pd.DataFrame([parse_policy(r, known) for r in records if isinstance(r, dict)], columns=COLUMNS)


def role_condition_holdings(holdings: pd.DataFrame, roles: list[str]) -> pd.DataFrame:
    """The holdings a CA role condition matches: active and tenant-wide."""
    if not roles or holdings.empty:
        return holdings.iloc[0:0]
    return holdings[(holdings["assignment"] == "active") & (holdings["scope"] == "/") & holdings["role_id"].isin(roles)]


def _members(
    users: pd.DataFrame,
    ids: list[str],
    groups: list[str],
    roles: list[str],
    guest_kinds: list[str],
    group_members: dict[str, dict[str, Any]],
    holdings: pd.DataFrame,
) -> pd.Series:
    wanted = set(ids)
    for g in groups:
        wanted.update((group_members.get(g) or {}).get("members") or [])
    wanted.update(role_condition_holdings(holdings, roles)["user_id"])
    mask = in_set(users["id"], wanted)
    if guest_kinds:
        mask = mask | users["guest_kind"].isin(guest_kinds)
    return mask


def policy_scope(
    policy: pd.Series, users: pd.DataFrame, groups: dict[str, dict[str, Any]], holdings: pd.DataFrame
) -> tuple[pd.Series, pd.Series]:
    """Boolean masks over ``users``: (included, excluded) for one policy row."""
    if policy["all_users"]:
        included = pd.Series(True, index=users.index)
    else:
        included = _members(
            users,
            policy["include_users"],
            policy["include_groups"],
            policy["include_roles"],
            policy["include_guest_kinds"],
            groups,
            holdings,
        )
    excluded = _members(
        users,
        policy["exclude_users"],
        policy["exclude_groups"],
        policy["exclude_roles"],
        policy["exclude_guest_kinds"],
        groups,
        holdings,
    )
    return included, excluded
