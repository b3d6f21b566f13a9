"""Where the configuration meets the rule registry: its ``rules`` and ``waivers`` sections are checked here.

``auditor.config`` validates the shape of the file on its own (it knows nothing about rules); the drivers
(the CLI, the scale-out workers) call :func:`validate_rule_settings` right after loading it, so a rule id,
parameter or waiver that names nothing is a one-sentence error naming the key and the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from auditor.config import RuleConfig, Waiver
from auditor.errors import ConfigError
from auditor.rules import REGISTRY
from auditor.rules.registry import RuleSpec


def validate_rule_settings(
    rules: Mapping[str, RuleConfig],
    waivers: Sequence[Waiver],
    origin: str,
    registry: Mapping[str, RuleSpec] = REGISTRY,
) -> None:
    """Reject rule ids, parameters and waivers that name nothing, naming the key at fault."""
    for rule_id, rule_config in rules.items():
        spec = registry.get(rule_id)
        if spec is None:
            raise ConfigError(f"{origin}: unknown rule 'rules.{rule_id}' (see `entra-auditor rules`).")
        for param, value in rule_config.params.items():
            if param not in spec.params:
                known = ", ".join(spec.params) or "none"
                raise ConfigError(f"{origin}: unknown parameter 'rules.{rule_id}.params.{param}' (known: {known}).")
            default = spec.params[param]
            if isinstance(default, bool) or not isinstance(default, int | float):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{origin}: invalid value for 'rules.{rule_id}.params.{param}': expected a number.")
    for index, waiver in enumerate(waivers):
        if waiver.rule not in registry:
            raise ConfigError(f"{origin}: unknown rule '{waiver.rule}' in 'waivers[{index}].rule'.")
