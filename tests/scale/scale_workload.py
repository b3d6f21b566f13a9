"""The audit function the scale tests inject (``ENTRA_AUDITOR_RUN_FN=scale_workload:run_sim_tenant``).

It audits a tenant named ``sim-<seed>`` by evaluating a generated snapshot through the real
``auditor.pipeline.run_audit`` (history, JSON report) - the same path as a live run minus collection.

Delay hook (test-only, never in product code): ``ENTRA_SCALE_TEST_SLOW="sim-007:30,sim-011:5"`` makes
the *first* attempt of those tenants sleep that many seconds before auditing, so a test can kill the
worker mid-run; ``ENTRA_SCALE_TEST_MARKERS`` is the directory remembering attempts, where
``<tenant>.sleeping`` appears when the delay starts (kill only then: earlier, the attempt is not
counted yet and the next one would sleep again). The hook
``ENTRA_SCALE_TEST_FAIL="sim-003:2"`` makes the first 2 attempts of a tenant raise.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from auditor.pipeline import run_audit
from auditor.sim.tenant_gen import generate_tenant

USERS = 60


def _table(var: str) -> dict[str, float]:
    out = {}
    for item in filter(None, os.environ.get(var, "").split(",")):
        name, _, value = item.partition(":")
        out[name] = float(value)
    return out


def _count_attempt(tenant: str) -> int:
    markers = Path(os.environ.get("ENTRA_SCALE_TEST_MARKERS", "/nonexistent"))
    marker = markers / f"{tenant}.attempts"
    count = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(count))
    return count


def run_sim_tenant(config: Any, tenant_name: str, *, history: Any = None, **kwargs: Any) -> Any:
    attempt = _count_attempt(tenant_name)
    slow = _table("ENTRA_SCALE_TEST_SLOW").get(tenant_name)
    if slow and attempt == 1:
        markers = Path(os.environ["ENTRA_SCALE_TEST_MARKERS"])
        (markers / f"{tenant_name}.sleeping").write_text(str(os.getpid()))  # the test kills us now
        time.sleep(slow)
    failures = _table("ENTRA_SCALE_TEST_FAIL").get(tenant_name, 0)
    if attempt <= failures:
        raise RuntimeError(f"injected failure {attempt} of {tenant_name}")
    seed = int(tenant_name.rsplit("-", 1)[1])
    snapshot = generate_tenant(users=USERS, seed=seed, name=tenant_name)  # every rule fires at least once
    return run_audit(config, tenant_name, snapshot=snapshot, history=history, formats=["json"], **kwargs)


def sim_config(names: list[str], storage_url: str, reports_dir: str) -> dict[str, Any]:
    """A configuration (as YAML data) with one tenant per name."""
    return {
        "tenants": [
            {
                "name": n,
                "tenant_id": f"00000000-0000-0000-0000-{i:012d}",
                "client_id": "app",
                "client_secret_env": "SIM_SECRET",
            }
            for i, n in enumerate(names)
        ],
        "storage": {"url": storage_url},
        "reports": {"dir": reports_dir, "formats": ["json"], "keep_runs": 5},
        "schedule": {"cron": "0 7 * * mon", "timezone": "UTC"},
    }


def flaky_history(config: Any) -> Any:
    """History factory that fails once when ``<markers>/history-down`` exists (then removes it)."""
    from auditor.errors import StorageError
    from auditor.history import HistoryStore

    flag = Path(os.environ["ENTRA_SCALE_TEST_MARKERS"]) / "history-down"
    if flag.exists():
        flag.unlink()
        raise StorageError("Could not read the history database (connection refused).")
    return HistoryStore(config.storage.url)
