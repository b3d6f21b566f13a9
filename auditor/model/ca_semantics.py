"""Conditional Access semantics v2, per policy: what a policy counts for, and why it does not.

This is the one place where rules.md's "Conditional Access semantics (v2)" are decided for a single policy;
``auditor.model.coverage`` applies them per user and ``auditor.model.baselines`` per tenant.

Sources the decisions rest on:

- In force = ``state: enabled``; ``enabledForReportingButNotEnforced`` only logs
  (https://learn.microsoft.com/entra/identity/conditional-access/concept-conditional-access-report-only).
  Microsoft-managed policies carry the display-name prefix "Microsoft-managed"
  (https://learn.microsoft.com/entra/identity/conditional-access/managed-policies).
- Requires MFA: built-in ``mfa``, or an authentication strength whose ``requirementsSatisfied`` is ``mfa``
  (https://learn.microsoft.com/graph/api/resources/authenticationstrengthpolicy); the built-in strengths
  ``00000000-0000-0000-0000-00000000000{2,3,4}`` are Multifactor authentication, Passwordless MFA and
  Phishing-resistant MFA (https://learn.microsoft.com/entra/identity/authentication/concept-authentication-strengths).
  With operator ``OR`` any other control satisfies the policy without MFA, except that Microsoft's own template
  "Require compliant or hybrid Azure AD joined device or multifactor authentication"
  (https://learn.microsoft.com/entra/identity/conditional-access/policy-all-users-device-compliance) still
  demands a managed device: that is a *device alternative*, not "no MFA".
- Target resources (https://learn.microsoft.com/entra/identity/conditional-access/concept-conditional-access-cloud-apps,
  https://learn.microsoft.com/graph/api/resources/conditionalaccessapplications): ``All``, ``Office365``,
  ``MicrosoftAdminPortals``, app ids, user actions (``urn:user:registersecurityinfo``…), authentication contexts
  (``includeAuthenticationContextClassReferences``) and an ``applicationFilter``.
- ScubaGear (cisagov/ScubaGear ``Rego/AADConfig.rego``, MS.AAD.1.1v1 and MS.AAD.3.2v2) counts a policy only when it is
  enabled, includes All users and All applications and has no ``ExcludeApplications``; CIS M365 v7.0 5.2.2.2 (MFA
  for all users) and 5.2.2.3 (block legacy authentication) ask the same. Here an excluded application does not
  disqualify the baseline: it makes it *partial* when the application is a high-value one (below).
- Block legacy authentication targets client app types ``exchangeActiveSync`` and ``other``
  (https://learn.microsoft.com/entra/identity/conditional-access/policy-block-legacy-authentication).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from auditor.model.conditional_access import _narrowed_by, parse_policy

EXCHANGE_ONLINE = "00000002-0000-0ff1-ce00-000000000000"
SHAREPOINT_ONLINE = "00000003-0000-0ff1-ce00-000000000000"
MICROSOFT_GRAPH = "00000003-0000-0000-c000-000000000000"
AZURE_MANAGEMENT = "797f4846-ba00-4fd7-ba43-dac1f8f63013"

# Resources whose exclusion turns a baseline into a partial one. App ids as Microsoft lists them in
# https://learn.microsoft.com/troubleshoot/entra/entra-id/governance/verify-first-party-apps-sign-in ; the
# ``Office365`` and ``MicrosoftAdminPortals`` keywords are the Graph values of conditionalAccessApplications.
HIGH_VALUE_RESOURCES: dict[str, str] = {
    EXCHANGE_ONLINE: "Office 365 Exchange Online",
    SHAREPOINT_ONLINE: "Office 365 SharePoint Online",
    "Office365": "Office 365",
    MICROSOFT_GRAPH: "Microsoft Graph",
    AZURE_MANAGEMENT: "Windows Azure Service Management API",
    "MicrosoftAdminPortals": "Microsoft Admin Portals",
}
# Legacy protocols are Exchange endpoints: a legacy block without Exchange Online blocks nothing that matters.
LEGACY_ESSENTIAL_RESOURCES = frozenset({EXCHANGE_ONLINE, "Office365"})

BUILTIN_MFA_STRENGTHS: dict[str, str] = {
    "00000000-0000-0000-0000-000000000002": "Multifactor authentication",
    "00000000-0000-0000-0000-000000000003": "Passwordless MFA",
    "00000000-0000-0000-0000-000000000004": "Phishing-resistant MFA",
}
DEVICE_CONTROLS = frozenset({"compliantDevice", "domainJoinedDevice"})
LEGACY_TYPES = ("exchangeActiveSync", "other")
MODERN_TYPES = ("browser", "mobileAppsAndDesktopClients")
ALL_CLIENT_TYPES = (*MODERN_TYPES, *LEGACY_TYPES)

COLUMNS = [
    "id",
    "name",
    "state",
    "in_force",
    "microsoft_managed",
    "target",
    "excluded_apps",
    "excluded_high_value",
    "app_filter",
    "mfa",
    "mfa_via",
    "blocks",
    "client_types",
    "legacy_types",
    "modern",
    "narrowed_by",
    "location_scope",
    "include_locations",
    "exclude_locations",
    "all_users",
    "include_users",
    "include_groups",
    "include_roles",
    "include_guest_kinds",
    "exclude_users",
    "exclude_groups",
    "exclude_roles",
    "exclude_guest_kinds",
    "mfa_all_resources",
    "mfa_baseline",
    "legacy_block",
    "legacy_block_effective",
    "pins_to_locations",
    "not_counted_because",
]


def _list(node: Any, key: str) -> list[str]:
    value = node.get(key) if isinstance(node, dict) else None
    return [str(v) for v in value] if isinstance(value, list) else []


def strength_requires_mfa(strength: Any, known: dict[str, str] | None = None) -> tuple[bool, str]:
    """(requires MFA, how it reads) for a grant's ``authenticationStrength``.

    ``requirementsSatisfied`` decides when present (``mfa`` yes, ``none`` no); else ``known`` (strength id →
    requirementsSatisfied, e.g. from the strength policies source) decides; else the built-in ids. A custom
    strength nobody describes is assumed to require MFA (Entra only lets custom strengths combine MFA methods)
    and says so.
    """
    if not isinstance(strength, dict):
        return False, ""
    sid = str(strength.get("id") or "")
    name = strength.get("displayName") or BUILTIN_MFA_STRENGTHS.get(sid) or sid or "authentication strength"
    satisfied = strength.get("requirementsSatisfied")
    if satisfied is None and known:
        satisfied = known.get(sid)
    if isinstance(satisfied, str):
        ok = satisfied.lower() == "mfa"
        return ok, f"authentication strength {name}" + ("" if ok else f" (requirementsSatisfied {satisfied})")
    if sid in BUILTIN_MFA_STRENGTHS:
        return True, f"authentication strength {name}"
    return True, f"authentication strength {name} (requirements not collected)"


def grant_mfa(grant: Any, known_strengths: dict[str, str] | None = None) -> tuple[str | None, str, list[str]]:
    """Classify a grant: (``'mfa'`` | ``'device_alternative'`` | None, how MFA is required, the other controls).

    ``None`` with a non-empty third element means MFA is one of several OR'ed controls and another one (terms of
    use, approved client app, …) satisfies the policy without it.
    """
    grant = grant if isinstance(grant, dict) else {}
    controls = _list(grant, "builtInControls")
    strength_ok, strength_via = strength_requires_mfa(grant.get("authenticationStrength"), known_strengths)
    via = "mfa" if "mfa" in controls else strength_via if strength_ok else ""
    others = [c for c in controls if c not in ("mfa", "block")]
    others += [f"termsOfUse {t}" for t in _list(grant, "termsOfUse")]
    others += [f"custom control {c}" for c in _list(grant, "customAuthenticationFactors")]
    if not via:
        return None, "", others
    if str(grant.get("operator") or "OR").upper() == "AND" or not others:
        return "mfa", via, []
    if set(others) <= DEVICE_CONTROLS:
        return "device_alternative", via, others
    return None, via, others


def _target(apps: dict[str, Any]) -> str:
    if _list(apps, "includeUserActions"):
        return "user_action"
    if _list(apps, "includeAuthenticationContextClassReferences"):
        return "auth_context"
    include = _list(apps, "includeApplications")
    if "All" in include:
        return "all"
    if "Office365" in include:
        return "office365"
    return "apps" if include else "none"


def _location_scope(include: list[str], exclude: list[str]) -> str:
    if set(include) - {"All"}:
        return "only"
    return "except" if exclude else "everywhere"


def policy_semantics(raw: dict[str, Any], known_strengths: dict[str, str] | None = None) -> dict[str, Any]:
    """One row of the ``ca_semantics`` table (see ``auditor.model.tenant``) for a raw Graph policy."""
    base = parse_policy(raw)
    cond = raw["conditions"] if isinstance(raw.get("conditions"), dict) else {}
    apps = cond["applications"] if isinstance(cond.get("applications"), dict) else {}
    grant = raw["grantControls"] if isinstance(raw.get("grantControls"), dict) else {}
    state = base["state"]
    in_force = state == "enabled"
    name = str(base["name"])
    target = _target(apps)
    excluded_apps = _list(apps, "excludeApplications")
    high_value = [HIGH_VALUE_RESOURCES[a] for a in excluded_apps if a in HIGH_VALUE_RESOURCES]
    app_filter = apps.get("applicationFilter") if isinstance(apps.get("applicationFilter"), dict) else None
    filter_text = (
        f"{app_filter.get('mode') or 'filter'}: {app_filter.get('rule') or ''}".strip() if app_filter else None
    )
    mfa, via, others = grant_mfa(grant, known_strengths)
    blocks = "block" in _list(grant, "builtInControls")
    types = set(_list(cond, "clientAppTypes"))
    client_types = (
        list(ALL_CLIENT_TYPES) if not types or "all" in types else [t for t in ALL_CLIENT_TYPES if t in types]
    )
    legacy_types = [t for t in LEGACY_TYPES if t in client_types]
    modern = all(t in client_types for t in MODERN_TYPES)
    narrowed = _narrowed_by(cond)
    include_locations, exclude_locations = base["include_locations"], base["exclude_locations"]
    scope = _location_scope(include_locations, exclude_locations)
    # An include-mode application filter next to All applies the policy to the matching apps only.
    all_resources = target == "all" and not (app_filter and app_filter.get("mode") == "include")

    reasons: list[str] = []
    if state == "enabledForReportingButNotEnforced":
        reasons.append("report-only")
    elif not in_force:
        reasons.append(state)
    if target == "user_action":
        reasons.append(
            "user action " + ", ".join(a.removeprefix("urn:user:") for a in _list(apps, "includeUserActions"))
        )
    elif target == "auth_context":
        reasons.append(
            "authentication context " + ", ".join(_list(apps, "includeAuthenticationContextClassReferences"))
        )
    elif (target in ("apps", "office365", "none") or not all_resources) and not (blocks and target == "office365"):
        reasons.append("app-scoped")  # a legacy block for Office365 is still a legacy block
    reasons += [f"narrowed by {n}" for n in narrowed]
    if scope == "only":
        reasons.append("only in locations " + ", ".join(include_locations))
    if mfa is None and via and others:
        reasons.append("MFA OR'ed with " + ", ".join(others))

    usable = in_force and not narrowed and scope != "only"
    mfa_all_resources = usable and all_resources and modern and mfa is not None
    if mfa is not None and not modern:
        reasons.append("client apps " + ", ".join(client_types))
    legacy_block = (
        usable
        and blocks
        and target in ("all", "office365")
        and bool(legacy_types)
        and not (target == "all" and not all_resources)
    )
    legacy_effective = legacy_block and not (set(excluded_apps) & LEGACY_ESSENTIAL_RESOURCES)
    pins = (
        in_force
        and blocks
        and target == "all"
        and all_resources
        and not narrowed
        and not excluded_apps
        and scope == "except"
        and any(loc not in ("All", "AllTrusted") for loc in exclude_locations)
    )
    counts = mfa_all_resources or legacy_block or pins
    relevant = blocks or mfa is not None or bool(via)
    return {
        "id": base["id"],
        "name": name,
        "state": state,
        "in_force": in_force,
        "microsoft_managed": name.lower().startswith("microsoft-managed"),
        "target": target,
        "excluded_apps": excluded_apps,
        "excluded_high_value": high_value,
        "app_filter": filter_text,
        "mfa": mfa,
        "mfa_via": via or None,
        "blocks": blocks,
        "client_types": client_types,
        "legacy_types": legacy_types,
        "modern": modern,
        "narrowed_by": narrowed,
        "location_scope": scope,
        "include_locations": include_locations,
        "exclude_locations": exclude_locations,
        "all_users": base["all_users"],
        "include_users": base["include_users"],
        "include_groups": base["include_groups"],
        "include_roles": base["include_roles"],
        "include_guest_kinds": base["include_guest_kinds"],
        "exclude_users": base["exclude_users"],
        "exclude_groups": base["exclude_groups"],
        "exclude_roles": base["exclude_roles"],
        "exclude_guest_kinds": base["exclude_guest_kinds"],
        "mfa_all_resources": mfa_all_resources,
        "mfa_baseline": mfa_all_resources and base["all_users"],
        "legacy_block": legacy_block,
        "legacy_block_effective": legacy_effective,
        "pins_to_locations": pins,
        "not_counted_because": reasons if relevant and not counts else [],
    }


def build_ca_semantics(records: list[Any], known_strengths: dict[str, str] | None = None) -> pd.DataFrame:
    """The ``ca_semantics`` table: one row per policy in the snapshot."""
    frame = pd.DataFrame(
        [policy_semantics(r, known_strengths) for r in records if isinstance(r, dict)], columns=COLUMNS
    )
    for column in ("mfa", "mfa_via", "app_filter"):  # None, not NaN, where a policy has no value
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame
