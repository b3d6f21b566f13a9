"""Drift between runs: new, persisting and resolved findings (pure functions, no database).

Honesty rule for partial runs: a finding of the baseline is *resolved* only when its rule was
``assessed`` in the newer run and the finding is gone. When the rule was ``not_assessed`` (its data
source failed) or ``disabled``, nothing is known about it: it is reported as *unknown*, never as
resolved. A run recorded before rule statuses were stored (``rules`` is None) counts every rule that
produced findings there as assessed, and treats other rules as assessed too (the old behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DiffItem:
    rule_id: str
    entity_id: str
    entity_name: str
    entity_type: str = ""
    severity: str = ""

    @property
    def fingerprint(self) -> str:
        return f"{self.rule_id}|{self.entity_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "entity_id": self.entity_id, "entity_name": self.entity_name}


@dataclass
class Drift:
    new: list[DiffItem] = field(default_factory=list)
    persisting: list[DiffItem] = field(default_factory=list)
    resolved: list[DiffItem] = field(default_factory=list)
    unknown: list[DiffItem] = field(default_factory=list)


def rule_assessed(rules: Mapping[str, str] | None, rule_id: str) -> bool:
    if rules is None:
        return True
    return rules.get(rule_id) == "assessed"


def compare(
    before: Iterable[DiffItem],
    after: Iterable[DiffItem],
    after_rules: Mapping[str, str] | None,
    before_rules: Mapping[str, str] | None = None,
) -> Drift:
    """Classify ``after`` against ``before``.

    ``after_rules``/``before_rules`` are the runs' rule statuses. A finding gone from ``after`` is
    resolved only if its rule was assessed in ``after``; a finding absent from ``before`` is new only
    if its rule was assessed in ``before`` (``before_rules`` None = assume assessed). Everything else
    lands in ``unknown``.
    """
    old = {item.fingerprint: item for item in before}
    drift = Drift()
    seen: set[str] = set()
    for item in after:
        seen.add(item.fingerprint)
        if item.fingerprint in old:
            drift.persisting.append(item)
        elif rule_assessed(before_rules, item.rule_id):
            drift.new.append(item)
        else:
            drift.unknown.append(item)
    for fp, item in old.items():
        if fp in seen:
            continue
        (drift.resolved if rule_assessed(after_rules, item.rule_id) else drift.unknown).append(item)
    key = _sort_key
    for bucket in (drift.new, drift.persisting, drift.resolved, drift.unknown):
        bucket.sort(key=key)
    return drift


_SEV = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def _sort_key(item: DiffItem) -> tuple[int, str, str]:
    return (_SEV.get(item.severity, 9), item.rule_id, item.entity_name)
