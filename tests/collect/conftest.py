"""Fixtures for the collector tests: a simulator per test (helpers live in ``simkit.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from simkit import SECRET_ENV


@pytest.fixture
def sim_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SECRET_ENV, "sim-secret")
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    return "sim-secret"


@pytest.fixture
def running_sim() -> Callable[..., Any]:
    """``with running_sim(snapshot, options=..., **tenant_kw) as sim:``"""
    from auditor.sim import SimOptions, SimTenant, Simulator

    @contextmanager
    def start(snapshot: Any, options: Any = None, tenants: list[Any] | None = None, **tenant_kw: Any) -> Iterator[Any]:
        opts = options or SimOptions(reports_per_10s=None, ca_per_second=None)
        specs = tenants or [SimTenant(snapshot, **tenant_kw)]
        with Simulator(tenants=specs, options=opts) as sim:
            yield sim

    return start
