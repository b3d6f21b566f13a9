"""Rules about the legacy MFA trusted IPs and IP named locations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding
from auditor.model.ipranges import not_public_kind
from auditor.model.tenant import TenantModel
from auditor.rules.common import rows, tenant_finding
from auditor.rules.registry import Case, NotAssessed, RuleContext, rule
from auditor.testing import Records


def _legacy(model: TenantModel) -> pd.DataFrame:
    if not model.legacy_mfa.trusted_ips_known:
        raise NotAssessed(
            "the trusted IP list is unknown: the legacy MFA service settings have no recognisable "
            "list of ranges and config legacy_mfa.trusted_ips is not set"
        )
    return model.ip_ranges[model.ip_ranges["origin"] == "legacy_trusted_ips"]


def _range_finding(ctx: RuleContext, cidr: str, evidence: dict[str, Any], severity: str | None = None) -> Finding:
    return ctx.finding("ip_range", cidr, cidr, evidence, severity)


def _location(lid: str, name: str, trusted: bool, *cidrs: str) -> dict[str, Any]:
    kinds = {4: "#microsoft.graph.iPv4CidrRange", 6: "#microsoft.graph.iPv6CidrRange"}
    return {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "id": lid,
        "displayName": name,
        "isTrusted": trusted,
        "ipRanges": [{"@odata.type": kinds[6 if ":" in c else 4], "cidrAddress": c} for c in cidrs],
    }


def _legacy_trusted_ips(r: Records) -> None:
    r["named_locations"].append(
        {
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "id": "loc-partner",
            "displayName": "Partner",
            "isTrusted": False,
            "ipRanges": [
                {"@odata.type": "#microsoft.graph.iPv4Range", "lowerAddress": "52.9.0.200", "upperAddress": "52.9.1.20"}
            ],
        }
    )
    r["mfa_service_policy"]["trustedIps"]["ipRanges"] = [
        "52.1.2.0/24",
        "52.1.2.128/25",
        "52.1.0.0/22",
        "52.9.1.0/24",
        "10.20.0.0/16",
        "52.200.0.0/24",
    ]


def _exempt_all_trusted(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["locations"] = {
        "includeLocations": ["All"],
        "excludeLocations": ["AllTrusted"],
    }


def _legacy_duplicates_untrusted_location_mfa_exempts_trusted(r: Records) -> None:
    r["named_locations"].append(_location("loc-branch", "Branch (untrusted)", False, "52.30.0.0/24"))
    r["mfa_service_policy"]["trustedIps"]["ipRanges"] = ["52.30.0.0/24"]
    _exempt_all_trusted(r)


def _legacy_duplicates_untrusted_location_no_exemption(r: Records) -> None:
    r["named_locations"].append(_location("loc-branch", "Branch (untrusted)", False, "52.30.0.0/24"))
    r["mfa_service_policy"]["trustedIps"]["ipRanges"] = ["52.30.0.0/24"]


def _too_broad_and_exempt_from_mfa(r: Records) -> None:
    r["named_locations"].append(_location("loc-cloud", "Cloud", True, "20.32.0.0/14"))
    r["named_locations"].append(_location("loc-wide", "Wide office", True, "21.0.0.0/12"))
    r["conditional_access"][0]["conditions"]["locations"] = {
        "includeLocations": ["All"],
        "excludeLocations": ["loc-cloud"],
    }


def _legacy_range_apart(r: Records) -> None:
    r["mfa_service_policy"]["trustedIps"]["ipRanges"] = ["52.200.0.0/24"]


def _too_broad(r: Records) -> None:
    r["named_locations"].append(_location("loc-cloud", "Cloud", True, "20.32.0.0/14", "2001:db8::/32"))
    r["named_locations"].append(_location("loc-wide-untrusted", "Untrusted", False, "30.0.0.0/8"))
    r["named_locations"].append(_location("loc-ok16", "Exactly16", True, "40.1.0.0/16", "2001:db8:5::/48"))


def _at_the_limits(r: Records) -> None:
    r["named_locations"].append(_location("loc-wide-untrusted", "Untrusted", False, "30.0.0.0/8"))
    r["named_locations"].append(_location("loc-ok16", "Exactly16", True, "40.1.0.0/16", "2001:db8:5::/48"))


LEGACY_TRUSTED_IPS = Case(
    "legacy trusted IPs vs named locations",
    _legacy_trusted_ips,
    {
        ("trusted-ips-duplicate-named-locations", "52.1.2.0/24"): "low",
        ("trusted-ips-duplicate-named-locations", "52.1.2.128/25"): "low",
        ("trusted-ips-duplicate-named-locations", "52.1.0.0/22"): "low",
        ("trusted-ips-duplicate-named-locations", "52.9.1.0/24"): "low",
        ("trusted-ips-private-range", "10.20.0.0/16"): "medium",
        ("trusted-ips-ipv4-only", "Contoso"): "low",
    },
)
UNTRUSTED_DUPLICATE_SKIPS_MFA = Case(
    "a legacy trusted IP duplicates an untrusted named location while the MFA baseline exempts AllTrusted: high",
    _legacy_duplicates_untrusted_location_mfa_exempts_trusted,
    {
        ("trusted-ips-duplicate-named-locations", "52.30.0.0/24"): "high",
        ("trusted-ips-ipv4-only", "Contoso"): "low",
    },
)
UNTRUSTED_DUPLICATE_NO_EXEMPTION = Case(
    "the same duplicate with no MFA baseline exempting AllTrusted: low",
    _legacy_duplicates_untrusted_location_no_exemption,
    {
        ("trusted-ips-duplicate-named-locations", "52.30.0.0/24"): "low",
        ("trusted-ips-ipv4-only", "Contoso"): "low",
    },
)
TOO_BROAD_AND_EXEMPT = Case(
    "a too-broad trusted location the MFA baseline exempts is high; one it does not exempt medium",
    _too_broad_and_exempt_from_mfa,
    {
        ("trusted-location-too-broad", "Cloud"): "high",
        ("trusted-location-too-broad", "Wide office"): "medium",
    },
)
LEGACY_RANGE_APART = Case(
    "a public legacy trusted range apart from every named location",
    _legacy_range_apart,
    {
        ("trusted-ips-ipv4-only", "Contoso"): "low",
    },
)
TOO_BROAD = Case(
    "trusted locations wider than /16 or /48",
    _too_broad,
    {
        ("trusted-location-too-broad", "Cloud"): "medium",
    },
)
AT_THE_LIMITS = Case("trusted locations of exactly /16 and /48, and wide untrusted ones, are fine", _at_the_limits, {})


@rule(
    id="trusted-ips-duplicate-named-locations",
    order=60,
    title="Legacy trusted IP duplicates a named location",
    severity="low",
    needs=("legacy_mfa_settings", "named_locations"),
    headline="trusted-ips",
    sheet="Trusted IPs vs locations",
    rationale="The legacy MFA trusted IPs and Conditional Access named locations are two lists of the same "
    "networks that must be kept in step; when one changes and the other does not, MFA is skipped for "
    "networks you no longer own, or required where you meant to trust.",
    remediation="Keep only the IP named location (it holds IPv4 and IPv6 and is used by Conditional Access) "
    "and remove the range from the legacy MFA service settings.",
    escalation="high when the duplicated named location is untrusted and an in-force MFA baseline exempts AllTrusted",
    optional_needs=("conditional_access",),
    cases=(LEGACY_TRUSTED_IPS, UNTRUSTED_DUPLICATE_SKIPS_MFA, UNTRUSTED_DUPLICATE_NO_EXEMPTION, LEGACY_RANGE_APART),
)
def trusted_ips_duplicate(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Each legacy trusted range identical to, inside, containing or overlapping a range of an IP named
    location: one finding per legacy range listing every match, its overlap kind and ``isTrusted``. High when a
    matched location is *untrusted* and an in-force MFA baseline exempts ``AllTrusted``: ``AllTrusted`` includes the
    legacy trusted IPs, so that network silently skips MFA (Microsoft Learn "named locations")."""
    legacy = _legacy(model)
    exempting = list(model.baselines.mfa_exempts_all_trusted)
    named = model.ip_ranges[model.ip_ranges["origin"] == "named_location"]
    for lrow in rows(legacy):
        matches = []
        for nrow in rows(named):
            kind = lrow.range.relation(nrow.range)
            if kind:
                matches.append(
                    {
                        "named_location": nrow.location_name,
                        "location_id": nrow.location_id,
                        "location_range": nrow.cidr,
                        "overlap": kind,
                        "is_trusted": nrow.is_trusted,
                    }
                )
        if matches:
            untrusted = any(not m["is_trusted"] for m in matches)
            evidence = {"legacy_range": lrow.cidr, "matches": matches, "mfa_baselines_exempting_all_trusted": exempting}
            if untrusted and exempting:
                evidence["skips_mfa"] = (
                    "the range is untrusted as a named location, but as a legacy trusted IP it is "
                    "part of AllTrusted, which the MFA baseline exempts"
                )
            yield _range_finding(ctx, lrow.cidr, evidence, "high" if untrusted and exempting else None)


@rule(
    id="trusted-ips-private-range",
    order=70,
    title="Legacy trusted IP is a private or reserved range",
    severity="medium",
    needs=("legacy_mfa_settings",),
    rationale="Entra sees the public egress address of a sign-in, so a private or reserved range never "
    "matches: it is a mistake that hides the real trusted network (or lack of one).",
    remediation="Replace it with the organisation's public egress range, in an IP named location.",
    cases=(LEGACY_TRUSTED_IPS, LEGACY_RANGE_APART),
)
def trusted_ips_private_range(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Legacy trusted ranges touching RFC 1918, loopback, link-local, CGNAT 100.64/10, documentation or other
    reserved IPv4 blocks."""
    for row in rows(_legacy(model)):
        kind = not_public_kind(row.range)
        if kind:
            yield _range_finding(ctx, row.cidr, {"range": row.cidr, "kind": kind})


@rule(
    id="trusted-ips-ipv4-only",
    order=80,
    title="Legacy MFA trusted IPs in use (IPv4 only)",
    severity="low",
    needs=("legacy_mfa_settings",),
    rationale="The legacy trusted IPs hold IPv4 only, so IPv6 egress is never trusted and behaviour differs by "
    "network stack.",
    remediation="Move the ranges to an IP named location (IPv4 and IPv6) and empty the legacy list.",
    cases=(LEGACY_TRUSTED_IPS, LEGACY_RANGE_APART, TOO_BROAD),
)
def trusted_ips_ipv4_only(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """One tenant finding when the legacy trusted IP list is not empty; evidence counts the ranges. Entries
    that could not be read as IP ranges still mean the list is in use: they are counted separately."""
    legacy = _legacy(model)
    unparsed = model.legacy_mfa.unparsed
    if not legacy.empty or unparsed:
        evidence = {"ranges": len(legacy), "source": model.legacy_mfa.origin}
        if unparsed:
            evidence["unreadable_entries"] = unparsed[:10]
        yield tenant_finding(ctx, model, evidence)


@rule(
    id="trusted-location-too-broad",
    order=90,
    title="Trusted location is too broad",
    severity="medium",
    needs=("named_locations",),
    optional_needs=("legacy_mfa_settings", "conditional_access"),
    escalation="high when an in-force MFA baseline exempts the location (directly or through AllTrusted)",
    params={"max_ipv4_prefix": 16, "max_ipv6_prefix": 48},
    rationale="Trusting a very wide range trusts networks (and people) you do not control.",
    remediation="Narrow the range to the organisation's actual egress addresses.",
    cases=(TOO_BROAD, TOO_BROAD_AND_EXEMPT, AT_THE_LIMITS),
)
def trusted_location_too_broad(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """A trusted IP named location with a range wider than ``/max_ipv4_prefix`` (IPv4) or
    ``/max_ipv6_prefix`` (IPv6) — one finding per location — or such a legacy trusted range. High when an in-force
    MFA baseline exempts it, by id or through ``AllTrusted`` (trusted locations and legacy trusted IPs are both in
    ``AllTrusted``): the whole range then signs in without MFA (CIS 5.2.2.14 adjacent)."""
    exempt_by: dict[str, list[str]] = {}
    for p in rows(model.ca_semantics):
        if p.mfa_baseline:
            for loc in p.exclude_locations:
                exempt_by.setdefault(loc, []).append(p.name)

    def exemption(location_id: str | None) -> list[str]:
        return sorted(set(exempt_by.get("AllTrusted", []) + (exempt_by.get(location_id, []) if location_id else [])))

    limits = {4: ctx.params["max_ipv4_prefix"], 6: ctx.params["max_ipv6_prefix"]}
    ranges = model.ip_ranges
    broad = ranges[ranges["is_trusted"] & (ranges["prefixlen"] < ranges["version"].map(limits))]
    for location_id, group in broad[broad["origin"] == "named_location"].groupby("location_id", sort=False):
        exempting = exemption(str(location_id))
        yield ctx.finding(
            "named_location",
            str(location_id),
            group.iloc[0]["location_name"],
            {
                "ranges": [{"range": r.cidr, "prefix": int(r.prefixlen)} for r in rows(group)],
                "max_ipv4_prefix": limits[4],
                "max_ipv6_prefix": limits[6],
                "mfa_baselines_exempting": exempting,
            },
            "high" if exempting else None,
        )
    if not model.legacy_mfa.trusted_ips_known:
        ctx.assessed_without(
            "the legacy MFA trusted IPs (the list is unknown: the legacy MFA service settings have no recognisable "
            "list of ranges and config legacy_mfa.trusted_ips is not set)"
        )
    else:
        for row in rows(broad[broad["origin"] == "legacy_trusted_ips"]):
            exempting = exemption(None)
            yield _range_finding(
                ctx,
                row.cidr,
                {
                    "range": row.cidr,
                    "prefix": int(row.prefixlen),
                    "source": "legacy MFA trusted IPs",
                    "max_ipv4_prefix": limits[4],
                    "mfa_baselines_exempting": exempting,
                },
                "high" if exempting else None,
            )
