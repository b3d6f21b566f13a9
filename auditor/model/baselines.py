"""Tenant-level Conditional Access baselines (rules.md "Conditional Access semantics (v2)").

An **MFA baseline** is an in-force policy for All users and All resources, not narrowed by risk, platform, device
filter or authentication flow, that requires MFA or accepts a compliant / hybrid-joined device instead (a *device
alternative*: Microsoft's template https://learn.microsoft.com/entra/identity/conditional-access/policy-all-users-device-compliance).
It stays a baseline when it exempts trusted or named locations (Microsoft documents the variant:
https://learn.microsoft.com/entra/identity/conditional-access/policy-all-users-mfa-strength) — the exempted
locations are listed — and when it excludes a high-value resource, then it is *partial* (CIS M365 v7.0 5.2.2.2;
ScubaGear MS.AAD.3.2v2 rejects any ``ExcludeApplications``).

The **legacy block** is the union of in-force block policies for All users and All resources (or ``Office365``)
per client type ``exchangeActiveSync`` / ``other`` (CIS 5.2.2.3; MS.AAD.1.1v1; Microsoft's template
https://learn.microsoft.com/entra/identity/conditional-access/policy-block-legacy-authentication). A block that
excludes Exchange Online or ``Office365`` blocks nothing that matters; one that exempts locations blocks everywhere
else (the locations are listed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from auditor.model.ca_semantics import LEGACY_TYPES


@dataclass
class Baselines:
    """What the tenant's Conditional Access counts for. Lists of dicts are ready for finding evidence."""

    security_defaults: bool | None = None
    mfa_baselines: list[str] = field(default_factory=list)
    """In-force MFA baselines (All users, All resources), device alternatives and partial ones included."""
    mfa_required: list[str] = field(default_factory=list)
    """The MFA baselines that require MFA outright (not a device alternative)."""
    device_alternative: list[str] = field(default_factory=list)
    """MFA baselines that accept a compliant or hybrid-joined device instead of MFA."""
    mfa_all_resources: list[str] = field(default_factory=list)
    """In-force MFA policies for All resources with any user scope (coverage; ``admin-not-covered-by-mfa``)."""
    partial: list[dict[str, Any]] = field(default_factory=list)
    """Baselines excluding high-value resources: ``{policy, kind: 'mfa'|'legacy block', excluded_resources}``."""
    mfa_exempt_locations: list[dict[str, Any]] = field(default_factory=list)
    """``{policy, locations}`` for MFA baselines exempting locations (``AllTrusted`` shown as 'all trusted
    locations')."""
    mfa_exempts_all_trusted: list[str] = field(default_factory=list)
    """MFA baselines exempting ``AllTrusted`` (which includes the legacy MFA trusted IPs)."""
    legacy_blocks: list[str] = field(default_factory=list)
    """In-force legacy blocks for All users that count (they do not exclude Exchange Online / Office365)."""
    legacy_blocked_types: list[str] = field(default_factory=list)
    """The union of client types the counted legacy blocks block for All users."""
    legacy_ineffective: list[dict[str, Any]] = field(default_factory=list)
    """``{policy, excluded_resources}``: legacy blocks excluding Exchange Online or Office365."""
    legacy_exempt_locations: list[dict[str, Any]] = field(default_factory=list)
    """``{policy, locations, location_ids}`` for counted legacy blocks that exempt locations."""
    not_counted: list[dict[str, Any]] = field(default_factory=list)
    """``{policy, grant, reasons, microsoft_managed}``: MFA/device/block policies that count for nothing, and why."""

    @property
    def has_mfa_baseline(self) -> bool:
        return bool(self.mfa_baselines)

    @property
    def only_device_alternative(self) -> bool:
        """Every MFA baseline accepts a managed device instead of MFA (``mfa-baseline-device-alternative``)."""
        return bool(self.mfa_baselines) and not self.mfa_required

    @property
    def legacy_open_types(self) -> list[str]:
        """Legacy client types no counted block covers for All users (``legacy-auth-not-blocked``)."""
        return [t for t in LEGACY_TYPES if t not in self.legacy_blocked_types]


def _location_names(ids: list[str], names: dict[str, str]) -> list[str]:
    return ["all trusted locations" if i == "AllTrusted" else names.get(i, i) for i in ids]


def _grant(p: Any) -> str:
    if p["blocks"]:
        return "block"
    if p["mfa"] == "device_alternative":
        return "mfa or device"
    return "mfa"


def build_baselines(
    ca: pd.DataFrame, location_names: dict[str, str] | None = None, security_defaults: bool | None = None
) -> Baselines:
    """Summarise the ``ca_semantics`` table. ``location_names`` maps named-location ids to display names."""
    names = location_names or {}
    out = Baselines(security_defaults=security_defaults)
    blocked: set[str] = set()
    for _, p in ca.iterrows():
        if p["mfa_all_resources"]:
            out.mfa_all_resources.append(p["name"])
        if p["mfa_baseline"]:
            out.mfa_baselines.append(p["name"])
            (out.device_alternative if p["mfa"] == "device_alternative" else out.mfa_required).append(p["name"])
            if p["excluded_high_value"]:
                out.partial.append(
                    {"policy": p["name"], "kind": "mfa", "excluded_resources": list(p["excluded_high_value"])}
                )
            if p["exclude_locations"]:
                out.mfa_exempt_locations.append(
                    {"policy": p["name"], "locations": _location_names(p["exclude_locations"], names)}
                )
            if "AllTrusted" in p["exclude_locations"]:
                out.mfa_exempts_all_trusted.append(p["name"])
        if p["legacy_block"] and p["all_users"]:
            if not p["legacy_block_effective"]:
                out.legacy_ineffective.append(
                    {
                        "policy": p["name"],
                        "excluded_resources": [
                            r for r in p["excluded_high_value"] if r in ("Office 365 Exchange Online", "Office 365")
                        ],
                    }
                )
                continue
            out.legacy_blocks.append(p["name"])
            blocked.update(p["legacy_types"])
            if p["excluded_high_value"]:
                out.partial.append(
                    {"policy": p["name"], "kind": "legacy block", "excluded_resources": list(p["excluded_high_value"])}
                )
            if p["exclude_locations"]:
                out.legacy_exempt_locations.append(
                    {
                        "policy": p["name"],
                        "locations": _location_names(p["exclude_locations"], names),
                        "location_ids": list(p["exclude_locations"]),
                    }
                )
        if p["not_counted_because"]:
            out.not_counted.append(
                {
                    "policy": p["name"],
                    "grant": _grant(p),
                    "reasons": list(p["not_counted_because"]),
                    "microsoft_managed": bool(p["microsoft_managed"]),
                }
            )
        elif (p["mfa_all_resources"] or p["legacy_block"]) and not p["all_users"]:
            out.not_counted.append(
                {
                    "policy": p["name"],
                    "grant": _grant(p),
                    "reasons": ["not for All users"],
                    "microsoft_managed": bool(p["microsoft_managed"]),
                }
            )
    out.legacy_blocked_types = [t for t in LEGACY_TYPES if t in blocked]
    return out
