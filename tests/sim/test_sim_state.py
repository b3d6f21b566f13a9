"""``python -m auditor.sim --state DIR`` survives a restart: same ports, CA and secret (issue 12, item 19)."""

from __future__ import annotations

import os
import re
import signal
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from auditor.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def _serve_once(state: Path, while_serving: Callable[[], None] | None = None) -> tuple[str, str, dict]:
    """Start the simulator, read what it prints, run ``while_serving``, stop it; returns (secret, snippet,
    parsed snippet)."""
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_SIM_SECRET"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.sim", "--users", "40", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving until interrupted"):
                break
        out = "".join(lines)
        assert "Serving until interrupted" in out, out + (proc.stderr.read() if proc.poll() is not None else "")
        secret = re.search(r"^export ENTRA_AUDITOR_SIM_SECRET=(\S+)$", out, re.M).group(1)
        snippet = out.split("# configuration snippet (cloud: custom):\n", 1)[1].split("\nServing", 1)[0]
        if while_serving is not None:
            while_serving()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0
    return secret, snippet, yaml.safe_load(snippet)


def _list_users(secret: str, snippet: str) -> int:
    tenant = parse_config(yaml.safe_load(snippet), origin="snippet").tenants[0]
    verify = ssl.create_default_context(cafile=tenant.ca_bundle)
    token = httpx.post(
        f"{tenant.authority_host}/{tenant.tenant_id}/oauth2/v2.0/token",
        verify=verify,
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": secret,
            "scope": f"{tenant.graph_endpoint}/.default",
        },
    ).json()["access_token"]
    users = httpx.get(
        f"{tenant.graph_endpoint}/v1.0/users?$top=999", verify=verify, headers={"Authorization": f"Bearer {token}"}
    ).json()["value"]
    return len(users)


def test_restart_with_the_same_state_dir_serves_the_same_endpoints(tmp_path):
    state = tmp_path / "sim-state"
    first_secret, first_snippet, first = _serve_once(state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("sim-ca.pem", "sim-ca-key.pem", "sim-state.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    ca_before = (state / "sim-ca.pem").read_bytes()

    seen: list[int] = []
    second_secret, _snippet, second = _serve_once(state, lambda: seen.append(_list_users(first_secret, first_snippet)))
    assert second_secret == first_secret
    assert second == first  # same ports, endpoints and CA bundle path
    assert (state / "sim-ca.pem").read_bytes() == ca_before  # the CA survived (not removed on stop)
    assert seen == [40]  # the configuration and secret printed the first time work against the restart
