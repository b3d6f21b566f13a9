"""The ip_ranges table: every range of every IP named location plus the legacy MFA trusted IPs."""

from __future__ import annotations

from typing import Any

import pandas as pd

from auditor.model.ipranges import parse_cidr, parse_graph_range
from auditor.model.legacy_mfa import LegacyMfaSettings

COLUMNS = ["origin", "location_id", "location_name", "is_trusted", "cidr", "version", "prefixlen", "range"]


def build_ip_ranges(named_locations: list[dict[str, Any]], legacy: LegacyMfaSettings) -> pd.DataFrame:
    rows = []
    for loc in named_locations:
        if not isinstance(loc, dict) or not isinstance(loc.get("ipRanges"), list):
            continue  # country locations carry no IP ranges
        for raw in loc["ipRanges"]:
            try:
                rng = parse_graph_range(raw)
            except (ValueError, TypeError, AttributeError):
                continue
            rows.append(
                (
                    "named_location",
                    str(loc.get("id")),
                    loc.get("displayName") or str(loc.get("id")),
                    bool(loc.get("isTrusted")),
                    rng.text,
                    rng.version,
                    rng.prefixlen,
                    rng,
                )
            )
    for cidr in legacy.trusted_ips:
        rng = parse_cidr(cidr)
        rows.append(
            (
                "legacy_trusted_ips",
                "legacy-mfa-trusted-ips",
                "MFA trusted IPs (legacy)",
                True,
                rng.text,
                rng.version,
                rng.prefixlen,
                rng,
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)
