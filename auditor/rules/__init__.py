"""Rules: importing this package registers every rule in ``REGISTRY``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.errors import ConfigError
from auditor.rules.registry import REGISTRY, RuleContext, RuleSpec, rule

if TYPE_CHECKING:
    from auditor.config import AuditorConfig

# Importing the rule modules registers their rules (order = catalog order).
from auditor.rules import admins, legacy_auth, locations, mailbox, mfa  # noqa: E402, F401

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
