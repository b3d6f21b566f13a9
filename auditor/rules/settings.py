"""Where the configuration meets the rule registry: its ``rules`` and ``waivers`` sections are checked here.

``auditor.config`` validates the shape of the file on its own (it knows nothing about rules); the drivers
(the CLI, the scale-out workers) call :func:`validate_rule_settings` right after loading it, so a rule id,
parameter or waiver that names nothing is a one-sentence error naming the key and the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from auditor.config import AuditorConfig, RuleConfig, Waiver
from auditor.errors import ConfigError
from auditor.rules import REGISTRY
from auditor.rules.registry import RuleSpec
from auditor.sources import SOURCES


def validate_rule_settings(
    rules: Mapping[str, RuleConfig],
    waivers: Sequence[Waiver],
    origin: str,
    registry: Mapping[str, RuleSpec] = REGISTRY,
    *,
    prefix: str = "",
) -> None:
    """Reject rule ids, parameters and waivers that name nothing, naming the key at fault (``prefix``:
    the key path of the section checked, e.g. ``tenants[1].overrides.``)."""
    for rule_id, rule_config in rules.items():
        spec = registry.get(rule_id)
        if spec is None:
            raise ConfigError(f"{origin}: unknown rule '{prefix}rules.{rule_id}' (see `entra-auditor rules`).")
        for param, value in rule_config.params.items():
            if param not in spec.params:
                known = ", ".join(spec.params) or "none"
                raise ConfigError(
                    f"{origin}: unknown parameter '{prefix}rules.{rule_id}.params.{param}' (known: {known})."
                )
            default = spec.params[param]
            if isinstance(default, bool) or not isinstance(default, int | float):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(
                    f"{origin}: invalid value for '{prefix}rules.{rule_id}.params.{param}': expected a number."
                )
    for index, waiver in enumerate(waivers):
        if waiver.rule not in registry:
            raise ConfigError(f"{origin}: unknown rule '{waiver.rule}' in '{prefix}waivers[{index}].rule'.")


def validate_config_rules(config: AuditorConfig, origin: str, registry: Mapping[str, RuleSpec] = REGISTRY) -> None:
    """:func:`validate_rule_settings` over the global ``rules``/``waivers`` and every tenant's overrides."""
    validate_rule_settings(config.rules, config.waivers, origin, registry)
    for index, tenant in enumerate(config.tenants):
        if tenant.overrides is None:
            continue
        effective = config.for_tenant(tenant.name)
        own_rules = {k: effective.rules[k] for k in tenant.overrides.rules or {}}
        own_waivers = effective.waivers[len(effective.waivers) - len(tenant.overrides.waivers or []) :]
        validate_rule_settings(own_rules, own_waivers, origin, registry, prefix=f"tenants[{index}].overrides.")


def sources_only_disabled_rules_need(
    rules: Mapping[str, RuleConfig], registry: Mapping[str, RuleSpec] = REGISTRY
) -> dict[str, str]:
    """Catalog sources that some rule needs but no enabled rule does, each with the reason the collector
    records as its ``skipped`` coverage (so a tenant without Entra ID P1 that disables the P1 rules is never
    asked for the P1 sources). A source no rule names (the model may still read it) is never listed."""
    wanted: set[str] = set()
    disabled: dict[str, list[str]] = {}
    for rule_id, spec in registry.items():
        names = set(spec.needs) | set(spec.optional_needs)
        settings = rules.get(rule_id)
        if settings is not None and not settings.enabled:
            for name in names:
                disabled.setdefault(name, []).append(rule_id)
        else:
            wanted |= names
    return {
        name: f"not collected: only disabled rules need it ({', '.join(sorted(ids))})"
        for name, ids in sorted(disabled.items())
        if name in SOURCES and name not in wanted
    }
