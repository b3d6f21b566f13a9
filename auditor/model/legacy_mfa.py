"""The legacy per-user-MFA *service settings*: app passwords, trusted IPs, remember MFA.

They come from the undocumented beta ``/policies/mfaServicePolicy`` when it answered, else from the
``legacy_mfa`` section of the configuration. The endpoint's trusted-IP list property name is not
documented, so the parser looks for any list of IPv4 CIDR strings (or objects carrying one) under
``trustedIps`` instead of trusting one guessed name. A ``trustedIps`` object without any such list (the
only evidenced member is ``skipMfaForFederatedUsers``) means the list is *unknown*, never "known and
empty": then ``legacy_mfa.trusted_ips`` from the configuration is used when it is set, else the
trusted-IP rules are not assessed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from auditor.model.settings import LegacyMfaFallback

_CIDR_KEYS = ("cidrAddress", "cidr", "ipAddress", "ipRange", "address", "value")


@dataclass
class LegacyMfaSettings:
    origin: str  # 'mfa_service_policy' | 'config' | 'unavailable'
    allow_app_passwords: bool | None = None
    trusted_ips: list[str] = field(default_factory=list)
    trusted_ips_known: bool = False
    remember_mfa_enabled: bool | None = None
    remember_mfa_days: int | None = None
    unparsed: list[str] = field(default_factory=list)
    #: ``trustedIps.skipMfaForFederatedUsers``: MFA skipped for federated users (None: not said)
    skip_mfa_for_federated_users: bool | None = None
    #: where the trusted IP list came from ('mfa_service_policy' | 'config' | '' when unknown)
    trusted_ips_origin: str = ""

    @property
    def available(self) -> bool:
        return self.origin != "unavailable"


def _as_cidr(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in _CIDR_KEYS:
            if isinstance(item.get(key), str):
                return _as_cidr(item[key])
        return None
    if not isinstance(item, str):
        return None
    try:
        return str(ipaddress.ip_network(item.strip(), strict=False))
    except ValueError:
        return None


def _find_ranges(node: Any) -> tuple[list[str], list[str], bool]:
    """Collect CIDRs from every list under ``node``; returns (ranges, unparsed items, any list seen)."""
    ranges: list[str] = []
    unparsed: list[str] = []
    seen_list = False
    if isinstance(node, dict):
        for value in node.values():
            r, u, s = _find_ranges(value)
            ranges += r
            unparsed += u
            seen_list = seen_list or s
    elif isinstance(node, list):
        seen_list = True
        for item in node:
            cidr = _as_cidr(item)
            if cidr is None:
                unparsed.append(str(item)[:80])
            else:
                ranges.append(cidr)
    return ranges, unparsed, seen_list


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_service_policy(raw: dict[str, Any]) -> LegacyMfaSettings:
    trusted = raw.get("trustedIps")
    ranges, unparsed, seen_list = _find_ranges(trusted) if isinstance(trusted, dict) else ([], [], False)
    remember = raw.get("rememberMfaOnTrustedDevice") or {}
    days = remember.get("allowedNumberOfDays") if isinstance(remember, dict) else None
    known = isinstance(trusted, dict) and seen_list
    return LegacyMfaSettings(
        origin="mfa_service_policy",
        allow_app_passwords=_bool(raw.get("allowAppPasswords")),
        trusted_ips=sorted(set(ranges), key=ranges.index),
        trusted_ips_known=known,
        trusted_ips_origin="mfa_service_policy" if known else "",
        skip_mfa_for_federated_users=_bool(trusted.get("skipMfaForFederatedUsers"))
        if isinstance(trusted, dict)
        else None,
        remember_mfa_enabled=_bool(remember.get("isEnabled")) if isinstance(remember, dict) else None,
        remember_mfa_days=int(days) if isinstance(days, int | float) and not isinstance(days, bool) else None,
        unparsed=unparsed,
    )


def resolve_legacy_mfa(raw: Any, fallback: LegacyMfaFallback | None) -> LegacyMfaSettings:
    """The endpoint wins; the config is the fallback for when it could not be read, and for the trusted IP
    list when the endpoint's answer has no recognisable list (only if ``legacy_mfa.trusted_ips`` is set)."""
    if isinstance(raw, dict):
        settings = parse_service_policy(raw)
        if not settings.trusted_ips_known and fallback is not None and "trusted_ips" in fallback.model_fields_set:
            settings.trusted_ips = [str(ipaddress.ip_network(c, strict=False)) for c in fallback.trusted_ips]
            settings.trusted_ips_known = True
            settings.trusted_ips_origin = "config"
        return settings
    if fallback is not None:
        return LegacyMfaSettings(
            origin="config",
            allow_app_passwords=fallback.allow_app_passwords,
            trusted_ips=[str(ipaddress.ip_network(c, strict=False)) for c in fallback.trusted_ips],
            trusted_ips_known=True,
            trusted_ips_origin="config",
            remember_mfa_enabled=None if fallback.remember_mfa_days is None else fallback.remember_mfa_days > 0,
            remember_mfa_days=fallback.remember_mfa_days,
        )
    return LegacyMfaSettings(origin="unavailable")
