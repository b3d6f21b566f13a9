"""Rules: importing this package registers every rule in ``REGISTRY``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.errors import ConfigError
from auditor.rules.registry import REGISTRY, RuleContext, RuleSpec, rule

if TYPE_CHECKING:
    from auditor.config import AuditorConfig

# Importing the rule modules registers their rules.
from auditor.rules import legacy_auth, locations, mailbox, mfa  # noqa: F401

# Catalog order: the four headline risks first, then the related rules.
CATALOG_ORDER = (
    "admin-app-passwords", "daily-account-per-user-mfa", "smtp-auth-org-enabled", "smtp-auth-mailbox-enabled",
    "imap-pop-enabled", "trusted-ips-duplicate-named-locations", "trusted-ips-private-range",
    "trusted-ips-ipv4-only", "trusted-location-too-broad", "mfa-no-baseline", "legacy-auth-not-blocked",
    "legacy-auth-block-excluded", "ca-mfa-excluded", "per-user-mfa-legacy-config", "tenant-app-passwords-allowed",
    "remember-mfa-long", "admin-no-mfa-method", "legacy-auth-sign-ins", "guest-admin", "stale-admin",
)
_ordered = {rid: REGISTRY[rid] for rid in CATALOG_ORDER if rid in REGISTRY}
_ordered.update({rid: spec for rid, spec in REGISTRY.items() if rid not in _ordered})
REGISTRY.clear()
REGISTRY.update(_ordered)

__all__ = ["REGISTRY", "RuleContext", "RuleSpec", "rule", "validate_rule_config"]


def validate_rule_config(config: AuditorConfig, origin: str) -> None:
    """Reject rule ids, parameters and waivers that name nothing, naming the key at fault."""
    for rule_id, rule_config in config.rules.items():
        spec = REGISTRY.get(rule_id)
        if spec is None:
            raise ConfigError(f"{origin}: unknown rule 'rules.{rule_id}' (see `entra-auditor rules`).")
        for param, value in rule_config.params.items():
            if param not in spec.params:
                known = ", ".join(spec.params) or "none"
                raise ConfigError(
                    f"{origin}: unknown parameter 'rules.{rule_id}.params.{param}' (known: {known})."
                )
            default = spec.params[param]
            if isinstance(default, bool) or not isinstance(default, int | float):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(
                    f"{origin}: invalid value for 'rules.{rule_id}.params.{param}': expected a number."
                )
    for index, waiver in enumerate(config.waivers):
        if waiver.rule not in REGISTRY:
            raise ConfigError(f"{origin}: unknown rule '{waiver.rule}' in 'waivers[{index}].rule'.")
