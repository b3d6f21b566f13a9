"""``python -m auditor.sim`` serves a tenant and prints a working config snippet."""

from __future__ import annotations

from pathlib import Path

from simprocess import count_users, serving


def test_cli_serves_and_prints_config(tmp_path: Path) -> None:
    with serving("--users", "80", "--port", "0") as served:
        tenant = served.tenant
        assert tenant.cloud == "custom" and tenant.graph_endpoint != tenant.exchange_endpoint
        assert count_users(tenant, served.secret) == 80
        ca_bundle = Path(tenant.ca_bundle)
        assert ca_bundle.exists()
    assert served.exit_code == 0
    assert not ca_bundle.exists()  # the throwaway CA is removed on exit
