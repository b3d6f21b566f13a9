"""IP range relations and private/reserved detection."""

from __future__ import annotations

import pytest

from auditor.model.ipranges import not_public_kind, parse_bounds, parse_cidr, parse_graph_range


@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [
        ("203.0.113.0/24", "203.0.113.0/24", "identical"),
        ("203.0.113.128/25", "203.0.113.0/24", "contained"),
        ("203.0.112.0/23", "203.0.113.0/24", "contains"),
        ("203.0.114.0/24", "203.0.113.0/24", None),
        ("2001:db8::/48", "203.0.113.0/24", None),
        ("2001:db8:1::/64", "2001:db8::/32", "contained"),
    ],
)
def test_cidr_relations(a: str, b: str, kind: str | None) -> None:
    assert parse_cidr(a).relation(parse_cidr(b)) == kind


def test_bounds_range_overlaps_partially() -> None:
    rng = parse_bounds("198.51.101.200", "198.51.102.20")
    assert parse_cidr("198.51.102.0/24").relation(rng) == "overlaps"
    assert rng.prefixlen == 25  # size-based: 77 addresses need 7 host bits


def test_prefixlen_is_size_based() -> None:
    assert parse_cidr("20.32.0.0/14").prefixlen == 14
    assert parse_cidr("2001:db8::/32").prefixlen == 32
    assert parse_bounds("10.0.0.0", "10.0.0.255").prefixlen == 24


def test_graph_range_shapes() -> None:
    assert parse_graph_range({"cidrAddress": "52.1.2.3/24"}).text == "52.1.2.0/24"
    assert parse_graph_range({"lowerAddress": "1.1.1.1", "upperAddress": "1.1.1.9"}).size == 9
    with pytest.raises(ValueError):
        parse_graph_range({"foo": "bar"})
    with pytest.raises(ValueError):
        parse_bounds("1.1.1.9", "1.1.1.1")


@pytest.mark.parametrize(
    ("cidr", "kind"),
    [
        ("10.20.0.0/16", "private (RFC 1918)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.168.1.0/24", "private (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
        ("127.0.0.1/32", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("192.0.2.0/24", "documentation (RFC 5737)"),
        ("52.10.20.0/24", None),
        ("8.0.0.0/7", None),
        ("2001:db8::/32", None),
    ],
)
def test_not_public(cidr: str, kind: str | None) -> None:
    assert not_public_kind(parse_cidr(cidr)) == kind
