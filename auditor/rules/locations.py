"""Rules about the legacy MFA trusted IPs and IP named locations."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.findings import Finding
from auditor.model.ipranges import not_public_kind
from auditor.model.tenant import TenantModel
from auditor.rules.common import rows, tenant_finding
from auditor.rules.registry import NotAssessed, RuleContext, rule


def _legacy(model: TenantModel):
    if not model.legacy_mfa.trusted_ips_known:
        raise NotAssessed("the trusted IP list is unknown: the legacy MFA service settings have no recognisable "
                          "list of ranges and config legacy_mfa.trusted_ips is not set")
    return model.ip_ranges[model.ip_ranges["origin"] == "legacy_trusted_ips"]


def _range_finding(ctx: RuleContext, cidr: str, evidence: dict, severity: str | None = None) -> Finding:
    return ctx.finding("ip_range", cidr, cidr, evidence, severity)


@rule(
    id="trusted-ips-duplicate-named-locations",
    title="Legacy trusted IP duplicates a named location",
    severity="low",
    needs=("legacy_mfa_settings", "named_locations"),
    headline=True,
    rationale="The legacy MFA trusted IPs and Conditional Access named locations are two lists of the same "
    "networks that must be kept in step; when one changes and the other does not, MFA is skipped for "
    "networks you no longer own, or required where you meant to trust.",
    remediation="Keep only the IP named location (it holds IPv4 and IPv6 and is used by Conditional Access) "
    "and remove the range from the legacy MFA service settings.",
)
def trusted_ips_duplicate(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Each legacy trusted range identical to, inside, containing or overlapping a range of an IP named
    location: one finding per legacy range listing every match, its overlap kind and ``isTrusted``."""
    legacy = _legacy(model)
    named = model.ip_ranges[model.ip_ranges["origin"] == "named_location"]
    for lrow in rows(legacy):
        matches = []
        for nrow in rows(named):
            kind = lrow.range.relation(nrow.range)
            if kind:
                matches.append({"named_location": nrow.location_name, "location_id": nrow.location_id,
                                "location_range": nrow.cidr, "overlap": kind, "is_trusted": nrow.is_trusted})
        if matches:
            yield _range_finding(ctx, lrow.cidr, {"legacy_range": lrow.cidr, "matches": matches})


@rule(
    id="trusted-ips-private-range",
    title="Legacy trusted IP is a private or reserved range",
    severity="medium",
    needs=("legacy_mfa_settings",),
    rationale="Entra sees the public egress address of a sign-in, so a private or reserved range never "
    "matches: it is a mistake that hides the real trusted network (or lack of one).",
    remediation="Replace it with the organisation's public egress range, in an IP named location.",
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
    title="Legacy MFA trusted IPs in use (IPv4 only)",
    severity="low",
    needs=("legacy_mfa_settings",),
    rationale="The legacy trusted IPs hold IPv4 only, so IPv6 egress is never trusted and behaviour differs by "
    "network stack.",
    remediation="Move the ranges to an IP named location (IPv4 and IPv6) and empty the legacy list.",
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
    title="Trusted location is too broad",
    severity="medium",
    needs=("named_locations",),
    optional_needs=("legacy_mfa_settings",),
    params={"max_ipv4_prefix": 16, "max_ipv6_prefix": 48},
    rationale="Trusting a very wide range trusts networks (and people) you do not control.",
    remediation="Narrow the range to the organisation's actual egress addresses.",
)
def trusted_location_too_broad(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """A trusted IP named location with a range wider than ``/max_ipv4_prefix`` (IPv4) or
    ``/max_ipv6_prefix`` (IPv6) — one finding per location — or such a legacy trusted range."""
    limits = {4: ctx.params["max_ipv4_prefix"], 6: ctx.params["max_ipv6_prefix"]}
    ranges = model.ip_ranges
    broad = ranges[ranges["is_trusted"] & (ranges["prefixlen"] < ranges["version"].map(limits))]
    for location_id, group in broad[broad["origin"] == "named_location"].groupby("location_id", sort=False):
        yield ctx.finding("named_location", location_id, group.iloc[0]["location_name"], {
            "ranges": [{"range": r.cidr, "prefix": int(r.prefixlen)} for r in rows(group)],
            "max_ipv4_prefix": limits[4], "max_ipv6_prefix": limits[6]})
    if model.legacy_mfa.trusted_ips_known:
        for row in rows(broad[broad["origin"] == "legacy_trusted_ips"]):
            yield _range_finding(ctx, row.cidr, {"range": row.cidr, "prefix": int(row.prefixlen),
                                                  "source": "legacy MFA trusted IPs", "max_ipv4_prefix": limits[4]})


