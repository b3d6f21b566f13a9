"""A missing service skips visibly on a user's machine and fails under CI (ENTRA_AUDITOR_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import pytest
from services import unavailable


def test_missing_service_skips_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRA_AUDITOR_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="service unavailable: PostgreSQL is down"):
        unavailable("PostgreSQL is down")


def test_missing_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_AUDITOR_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="required service unavailable: PostgreSQL is down"):
        unavailable("PostgreSQL is down")
