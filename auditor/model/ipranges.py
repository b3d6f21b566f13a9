"""IP range arithmetic for named locations and legacy MFA trusted IPs (standard ``ipaddress`` only).

Ranges are compared as closed integer intervals ``[first, last]`` of one IP version, which covers CIDR
blocks and the ``lowerAddress``/``upperAddress`` ranges named locations may also hold.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

Overlap = Literal["identical", "contained", "contains", "overlaps"]

# Ranges Entra can never see as a sign-in's public egress address.
_NOT_PUBLIC_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
_KIND_NAMES = {
    "10.0.0.0/8": "private (RFC 1918)",
    "172.16.0.0/12": "private (RFC 1918)",
    "192.168.0.0/16": "private (RFC 1918)",
    "100.64.0.0/10": "carrier-grade NAT (RFC 6598)",
    "127.0.0.0/8": "loopback",
    "169.254.0.0/16": "link-local",
    "192.0.2.0/24": "documentation (RFC 5737)",
    "198.51.100.0/24": "documentation (RFC 5737)",
    "203.0.113.0/24": "documentation (RFC 5737)",
    "0.0.0.0/8": "this network",
    "192.0.0.0/24": "IETF protocol assignments",
    "198.18.0.0/15": "benchmarking (RFC 2544)",
    "224.0.0.0/4": "multicast",
    "240.0.0.0/4": "reserved",
}


@dataclass(frozen=True)
class IpRange:
    text: str
    version: int
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @property
    def prefixlen(self) -> int:
        """The prefix length of the smallest CIDR block at least as large as this range."""
        bits = 32 if self.version == 4 else 128
        return bits - (self.size - 1).bit_length()

    def relation(self, other: IpRange) -> Overlap | None:
        """How ``self`` relates to ``other``: None when disjoint or of another IP version."""
        if self.version != other.version or self.last < other.first or other.last < self.first:
            return None
        if self.first == other.first and self.last == other.last:
            return "identical"
        if other.first <= self.first and self.last <= other.last:
            return "contained"
        if self.first <= other.first and other.last <= self.last:
            return "contains"
        return "overlaps"


def parse_cidr(text: str) -> IpRange:
    net = ipaddress.ip_network(text.strip(), strict=False)
    return IpRange(str(net), net.version, int(net.network_address), int(net.broadcast_address))


def parse_bounds(lower: str, upper: str) -> IpRange:
    lo, hi = ipaddress.ip_address(lower.strip()), ipaddress.ip_address(upper.strip())
    if lo.version != hi.version or int(hi) < int(lo):
        raise ValueError(f"invalid range {lower}-{upper}")
    return IpRange(f"{lo}-{hi}", lo.version, int(lo), int(hi))


def parse_graph_range(raw: dict[str, Any]) -> IpRange:
    """An ``ipRange`` from a named location: CIDR types carry ``cidrAddress``, others lower/upper."""
    if raw.get("cidrAddress"):
        return parse_cidr(str(raw["cidrAddress"]))
    if raw.get("lowerAddress") and raw.get("upperAddress"):
        return parse_bounds(str(raw["lowerAddress"]), str(raw["upperAddress"]))
    raise ValueError(f"unrecognised ipRange {sorted(raw)}")


def not_public_kind(rng: IpRange) -> str | None:
    """Name the private/reserved block this IPv4 range touches, or None when it is public."""
    if rng.version != 4:
        return None
    for net in _NOT_PUBLIC_V4:
        other = IpRange(str(net), 4, int(net.network_address), int(net.broadcast_address))
        if rng.relation(other) is not None:
            return _KIND_NAMES[str(net)]
    return None
