"""The rule registry: one ``@rule`` decorator, metadata typed next to the logic.

A rule is a small function ``(model, ctx) -> iterable of Finding``. Its metadata (id, title, default
severity, the sources it needs, parameters with defaults, rationale, remediation, its place in the
catalog, its headline group and workbook sheet) and its named example cases are declared on the decorator
and validated at import. ``REGISTRY`` is kept in catalog order (``order=``). The engine owns everything
else: enablement, not_assessed, severity overrides, waivers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditor.findings import SEVERITIES, Finding, Headline, RollUp
from auditor.rules.references import REFERENCES, Reference
from auditor.sources import SOURCES

if TYPE_CHECKING:
    from auditor.model.tenant import TenantModel

# Sources that are not fetched from an API but derived: the model decides whether they are available.
DERIVED_SOURCES = {
    "legacy_mfa_settings": "legacy MFA service settings (mfa_service_policy, or config legacy_mfa)",
}
KNOWN_NEEDS = set(SOURCES) | set(DERIVED_SOURCES)
_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass
class RuleContext:
    """What a rule may read besides the model: its parameters and where to put findings."""

    spec: RuleSpec
    params: dict[str, Any]
    limits: list[str] = field(default_factory=list)

    def assessed_without(self, what: str) -> None:
        """Say that part of the rule could not be assessed (it stays assessed on the rest; the reason says so)."""
        self.limits.append(what)

    def finding(
        self,
        entity_type: str,
        entity_id: str,
        entity_name: str,
        evidence: dict[str, Any],
        severity: str | None = None,
        remediation: str | None = None,
    ) -> Finding:
        """A finding of this rule; ``remediation`` replaces the rule's own text when the entity needs other advice."""
        return Finding(
            rule_id=self.spec.id,
            severity=severity or self.spec.severity,
            entity_type=entity_type,
            entity_id=str(entity_id),
            entity_name=str(entity_name),
            evidence=evidence,
            title=self.spec.title,
            remediation=remediation or self.spec.remediation,
        )


RuleFunc = Callable[["TenantModel", RuleContext], Iterable[Finding]]


@dataclass(frozen=True)
class Case:
    """A named example for a rule: the compliant baseline tenant (``auditor.testing.baseline()``, raw
    records per source) with one deviation applied by ``mutate``, and every finding it must produce.

    ``expect`` maps ``(rule_id, entity_name)`` to the severity; any other finding fails the case, so a
    case also proves every other rule stays quiet. ``config`` is configuration data (as in the YAML file)
    when the case depends on it. One generic test (tests/rules/test_rule_cases.py) runs every case.
    """

    name: str
    mutate: Callable[[dict[str, Any]], None]
    expect: Mapping[tuple[str, str], str]
    config: Mapping[str, Any] | None = None

    def fires(self, rule_id: str) -> bool:
        return any(rid == rule_id for rid, _ in self.expect)


@dataclass(frozen=True)
class RuleSpec:
    id: str
    title: str
    severity: str
    needs: tuple[str, ...]
    func: RuleFunc
    rationale: str
    remediation: str
    params: dict[str, Any] = field(default_factory=dict)
    optional_needs: tuple[str, ...] = ()
    headline: str | None = None
    sheet: str | None = None
    escalation: str = ""
    order: int = 0
    cases: tuple[Case, ...] = ()
    references: tuple[Reference, ...] = ()
    """The benchmark controls and Microsoft pages the rule's decisions rest on (``auditor.rules.references``)."""
    rollup: RollUp | None = None
    """A finding of this rule may stand for many entities: the evidence key that counts them and the one fix."""

    @property
    def detection(self) -> str:
        """How detection works and where it stops: the rule function's docstring."""
        return (self.func.__doc__ or "").strip()


REGISTRY: dict[str, RuleSpec] = {}

# Rules that can never both fire on one tenant: mfa-no-baseline needs no MFA baseline (and security defaults off),
# per-user-mfa-legacy-config needs one (or security defaults). A single demo tenant fires one of each such pair.
# admin-not-covered-by-mfa needs an admin outside every all-resources MFA policy, so no All-users MFA baseline (which
# per-user-mfa-legacy-config — without security defaults — and mfa-baseline-device-alternative need); and
# mfa-baseline-device-alternative needs the very baseline whose absence mfa-no-baseline reports.
EXCLUSIVE_IN_ONE_TENANT: tuple[frozenset[str], ...] = (
    frozenset({"mfa-no-baseline", "per-user-mfa-legacy-config"}),
    frozenset({"admin-not-covered-by-mfa", "per-user-mfa-legacy-config"}),
    frozenset({"admin-not-covered-by-mfa", "mfa-baseline-device-alternative"}),
    frozenset({"mfa-baseline-device-alternative", "mfa-no-baseline"}),
)


def silent_on_one_tenant(fired: set[str], registry: Mapping[str, RuleSpec] | None = None) -> list[str]:
    """Rule ids that did not fire on one tenant although they could have (one of each exclusive pair suffices)."""
    silent = [rid for rid in (REGISTRY if registry is None else registry) if rid not in fired]
    return [rid for rid in silent if not any(rid in pair and pair & fired for pair in EXCLUSIVE_IN_ONE_TENANT)]


# The headline risks, in report order: key -> (title, summary). A rule joins one with ``@rule(headline=key)``.
HEADLINE_GROUPS: dict[str, tuple[str, str]] = {
    "app-passwords": (
        "Admins with app-password exposure",
        "Administrators whose per-user MFA state lets them create app passwords, which skip MFA.",
    ),
    "per-user-mfa": (
        "Daily accounts with per-user MFA",
        "Everyday accounts still on legacy per-user MFA, which overrides Conditional Access.",
    ),
    "legacy-protocols": ("IMAP, POP and SMTP AUTH exposure", "Mailbox protocols that accept a password alone."),
    "trusted-ips": (
        "Legacy trusted IPs vs named locations",
        "Ranges kept in two lists that must stay in step: the legacy MFA trusted IPs and IP named locations.",
    ),
}


def headlines(registry: Mapping[str, RuleSpec] | None = None) -> tuple[Headline, ...]:
    """The headline groups with their rules, in registry order."""
    specs = (REGISTRY if registry is None else registry).values()
    return tuple(
        Headline(key, title, summary, tuple(r.id for r in specs if r.headline == key))
        for key, (title, summary) in HEADLINE_GROUPS.items()
    )


def rule(
    *,
    id: str,
    order: int,
    title: str,
    severity: str,
    needs: Iterable[str],
    rationale: str,
    remediation: str,
    params: dict[str, Any] | None = None,
    optional_needs: Iterable[str] = (),
    headline: str | None = None,
    sheet: str | None = None,
    escalation: str = "",
    cases: Iterable[Case] = (),
    references: Iterable[Reference] | None = None,
    rollup: RollUp | None = None,
) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule at its place in the catalog (``order``: smaller first; the headline risks lead).

    ``references`` defaults to ``REFERENCES[id]``. ``rollup`` names the evidence key whose count a finding stands
    for (reports show "N mailboxes … — fix once …"). Raises at import time when the metadata is inconsistent."""

    def register(func: RuleFunc) -> RuleFunc:
        if not _ID.match(id):
            raise ValueError(f"rule id {id!r} is not kebab-case")
        if id in REGISTRY:
            raise ValueError(f"rule id {id!r} registered twice")
        taken = next((r.id for r in REGISTRY.values() if r.order == order), None)
        if taken:
            raise ValueError(f"rule {id}: order {order} is already {taken}'s")
        if severity not in SEVERITIES:
            raise ValueError(f"rule {id}: unknown severity {severity!r}")
        unknown = (set(needs) | set(optional_needs)) - KNOWN_NEEDS
        if unknown:
            raise ValueError(f"rule {id}: needs unknown sources {sorted(unknown)}")
        if headline is not None and headline not in HEADLINE_GROUPS:
            raise ValueError(f"rule {id}: unknown headline {headline!r} (known: {sorted(HEADLINE_GROUPS)})")
        refs = tuple(REFERENCES.get(id, ()) if references is None else references)
        if not refs:
            raise ValueError(f"rule {id}: no references (add them to auditor.rules.references)")
        if not func.__doc__:
            raise ValueError(f"rule {id}: the function needs a docstring saying how detection works")
        if rollup is not None and f"``{rollup.key}``" not in func.__doc__:
            raise ValueError(f"rule {id}: the docstring must describe the roll-up evidence ``{rollup.key}``")
        REGISTRY[id] = RuleSpec(
            id=id,
            title=title,
            severity=severity,
            needs=tuple(needs),
            func=func,
            rationale=rationale,
            remediation=remediation,
            params=dict(params or {}),
            optional_needs=tuple(optional_needs),
            headline=headline,
            sheet=sheet,
            escalation=escalation,
            order=order,
            cases=tuple(cases),
            references=refs,
            rollup=rollup,
        )
        ordered = sorted(REGISTRY.values(), key=lambda r: r.order)
        REGISTRY.clear()
        REGISTRY.update((r.id, r) for r in ordered)
        return func

    return register


class NotAssessed(Exception):
    """Raised by a rule whose data turned out to be insufficient at evaluation time."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
