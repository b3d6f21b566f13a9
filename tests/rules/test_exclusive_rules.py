"""Rules that can never fire together on one tenant: either side of each pair satisfies "every rule fires"."""

from __future__ import annotations

from auditor.rules import REGISTRY
from auditor.rules.registry import silent_on_one_tenant

FOUR = {"mfa-no-baseline", "per-user-mfa-legacy-config", "admin-not-covered-by-mfa", "mfa-baseline-device-alternative"}


def test_a_tenant_without_an_all_users_baseline_may_leave_the_baseline_rules_silent() -> None:
    fired = set(REGISTRY) - {"per-user-mfa-legacy-config", "mfa-baseline-device-alternative"}
    assert silent_on_one_tenant(fired) == []


def test_a_tenant_whose_only_baseline_is_a_device_alternative_may_leave_the_no_baseline_rules_silent() -> None:
    fired = set(REGISTRY) - {"mfa-no-baseline", "admin-not-covered-by-mfa"}
    assert silent_on_one_tenant(fired) == []


def test_when_none_of_them_fires_all_four_are_silent() -> None:
    assert set(silent_on_one_tenant(set(REGISTRY) - FOUR)) == FOUR
