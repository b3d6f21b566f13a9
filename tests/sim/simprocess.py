"""``python -m auditor.sim`` as a child process: start it, read the secret and the configuration snippet it
prints, stop it with SIGINT; and one authenticated Graph call against what it printed."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from auditor.config import TenantConfig, parse_config

ROOT = Path(__file__).resolve().parents[2]
READY = "Serving until interrupted"


@dataclass
class Served:
    secret: str
    snippet: str
    exit_code: int | None = None

    @property
    def parsed(self) -> dict:
        return yaml.safe_load(self.snippet)

    @property
    def tenant(self) -> TenantConfig:
        return parse_config(self.parsed, origin="snippet").tenants[0]


@contextmanager
def serving(*args: str) -> Iterator[Served]:
    """Run the simulator with ``args`` until the block ends; ``exit_code`` is set after the block."""
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_SIM_SECRET"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.sim", *args],
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
            if line.startswith(READY):
                break
        out = "".join(lines)
        assert READY in out, out + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        secret = re.search(r"^export ENTRA_AUDITOR_SIM_SECRET=(\S+)$", out, re.M)
        assert secret is not None, out
        snippet = out.split("# configuration snippet (cloud: custom):\n", 1)[1].split("\nServing", 1)[0]
        served = Served(secret.group(1), snippet)
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    served.exit_code = code


def count_users(tenant: TenantConfig, secret: str) -> int:
    """Get a token with the client secret and count the users on the first page (``$top=999``)."""
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
