"""Model parsing of real-tenant shapes (issue 9): authentication strengths and registration capability."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.model.conditional_access import build_ca_policies, parse_policy
from auditor.model.users import build_users

BUILTIN_MFA = "00000000-0000-0000-0000-000000000002"


def policy(strength: dict[str, Any] | None, controls: list[str] | None = None, operator: str = "OR") -> dict:
    return {
        "id": "p1",
        "displayName": "MFA",
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {
            "operator": operator,
            "builtInControls": controls or [],
            "customAuthenticationFactors": [],
            "termsOfUse": [],
            "authenticationStrength": strength,
        },
    }


@pytest.mark.parametrize(
    ("strength", "mfa"),
    [
        (
            {
                "id": "custom-1",
                "displayName": "Password or SMS",
                "policyType": "custom",
                "requirementsSatisfied": "none",
                "allowedCombinations": ["password", "sms"],
            },
            False,
        ),
        ({"id": "custom-2", "displayName": "Strong", "policyType": "custom", "requirementsSatisfied": "mfa"}, True),
        ({"id": BUILTIN_MFA, "displayName": "Multifactor authentication"}, True),  # fallback: built-in id
        ({"id": "custom-3", "displayName": "Unknown"}, False),  # neither said nor built-in
    ],
)
def test_authentication_strength_is_mfa_only_when_requirements_say_so(strength: dict, mfa: bool) -> None:
    parsed = parse_policy(policy(strength))
    assert parsed["grants_mfa"] is mfa and parsed["requires_mfa"] is mfa


def test_a_non_mfa_strength_or_mfa_is_not_mfa_but_and_is() -> None:
    weak = {"id": "custom-1", "requirementsSatisfied": "none"}
    assert parse_policy(policy(weak, ["mfa"], "OR"))["grants_mfa"] is False
    assert parse_policy(policy(weak, ["mfa"], "AND"))["grants_mfa"] is True


def test_a_strength_not_inline_is_resolved_from_the_strength_policies() -> None:
    ref = {"id": "custom-9", "displayName": "Custom"}
    assert bool(build_ca_policies([policy(ref)])["grants_mfa"].iloc[0]) is False
    frame = build_ca_policies([policy(ref)], [{"id": "custom-9", "requirementsSatisfied": "mfa"}])
    assert bool(frame["grants_mfa"].iloc[0]) is True


def test_registration_capability_columns() -> None:
    users = build_users(
        [{"id": "a"}, {"id": "b"}, {"id": "c"}],
        None,
        [
            {
                "id": "a",
                "isMfaRegistered": True,
                "isMfaCapable": False,
                "isPasswordlessCapable": True,
                "methodsRegistered": [],
            },
            {"id": "b", "isMfaRegistered": True, "isMfaCapable": True},
        ],
    )
    assert users["mfa_capable"].tolist() == [False, True, None]
    assert users["passwordless_capable"].tolist() == [True, None, None]
    assert users["methods"].tolist() == [[], [], []]


def test_stale_admin_without_dates_says_none_recorded_since_2023_12_01() -> None:
    from auditor.config import parse_config
    from auditor.engine import evaluate_snapshot
    from auditor.testing import NOW, baseline, baseline_config, snapshot_of

    records = baseline()
    admin = records["users"][0]  # alice holds Global Administrator in the baseline
    # what the collector stores: signInActivity for role holders only, with Graph's sentinel dates
    records["sign_in_activity"] = {
        admin["id"]: {
            "lastSignInDateTime": "0001-01-01T00:00:00Z",
            "lastNonInteractiveSignInDateTime": "0001-01-01T00:00:00Z",
            "lastSuccessfulSignInDateTime": "",
        }
    }
    result = evaluate_snapshot(snapshot_of(records), parse_config(baseline_config()), now=NOW)
    findings = [f for f in result.findings if f.rule_id == "stale-admin"]
    assert [f.evidence["last_sign_in"] for f in findings] == ["none recorded since 2023-12-01"]
