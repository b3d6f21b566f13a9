"""``python -m auditor.sim`` serves a tenant and prints a working config snippet."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from auditor.config import parse_config


def test_cli_serves_and_prints_config(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_SIM_SECRET"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.sim", "--users", "80", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
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
        config = parse_config(yaml.safe_load(snippet), origin="snippet")
        tenant = config.tenants[0]
        assert tenant.cloud == "custom" and tenant.graph_endpoint != tenant.exchange_endpoint
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
        assert len(users) == 80
        ca_bundle = Path(tenant.ca_bundle)
        assert ca_bundle.exists()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0
    assert not ca_bundle.exists()  # the throwaway CA is removed on exit
