"""`entra-auditor audit` against the simulator (cloud: custom) equals `audit --snapshot` of what it served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from auditor.sim import SimOptions, SimTenant, Simulator
from auditor.sim.tenant_gen import generate_tenant
from auditor.snapshot import save

SECRET = "cli-live-secret"  # the simulator's throwaway credential


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    env["SIM_SECRET"] = SECRET
    return subprocess.run(
        [sys.executable, "-m", "auditor.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _findings(folder: Path) -> set[tuple[str, str, str, str]]:
    [path] = list(folder.glob("*/*/findings.json"))
    doc = json.loads(path.read_text())
    return {(f["rule_id"], f["entity_id"], f["severity"], f["status"]) for f in doc["findings"]}


def test_live_audit_reproduces_offline_audit_under_faults(tmp_path: Path) -> None:
    served = generate_tenant(300, seed=11, now=datetime.now(UTC))
    offline_file = save(served, tmp_path / "served.json.gz")
    options = SimOptions(
        identity_budget_units=600,
        random_503_rate=0.05,
        retry_after_503_s=0,
        force_401_after_requests=30,
        per_user_mfa_bulk=False,
        default_page=50,
        malformed_json={"conditional_access": 1},
        truncated_page={"cas_mailboxes": 1},
        seed=3,
    )
    with Simulator(
        tenants=[SimTenant(served, client_id="11111111-1111-1111-1111-111111111111", client_secret=SECRET)],
        options=options,
    ) as sim:
        tenant = sim.tenant_config(secret_env="SIM_SECRET") | {"name": "contoso"}
        config = {
            "tenants": [tenant],
            "storage": {"url": f"sqlite:///{tmp_path}/h.db"},
            "reports": {"dir": str(tmp_path / "live")},
        }
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
        live = _cli("audit", "-c", "c.yaml", "--format", "json", cwd=tmp_path)
        stats = sim.stats
    assert live.returncode == 0, live.stdout + live.stderr
    offline = _cli(
        "audit", "--snapshot", str(offline_file), "--out", str(tmp_path / "offline"), "--format", "json", cwd=tmp_path
    )
    assert offline.returncode == 0, offline.stderr
    assert _findings(tmp_path / "live") == _findings(tmp_path / "offline")
    assert stats.faults_injected >= 2 and stats.unavailable_503 > 0 and stats.unauthorized_401 > 0
    assert SECRET not in live.stdout + live.stderr
