"""``python -m auditor.sim --state DIR`` survives a restart: same ports, CA and secret (issue 12, item 19)."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from simprocess import Served, count_users, serving


def _serve_once(state: Path, while_serving: Callable[[Served], None] | None = None) -> Served:
    """Start the simulator on ``state``, run ``while_serving``, stop it."""
    with serving("--users", "40", "--state", str(state)) as served:
        if while_serving is not None:
            while_serving(served)
    assert served.exit_code == 0
    return served


def test_restart_with_the_same_state_dir_serves_the_same_endpoints(tmp_path):
    state = tmp_path / "sim-state"
    first = _serve_once(state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("sim-ca.pem", "sim-ca-key.pem", "sim-state.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    ca_before = (state / "sim-ca.pem").read_bytes()

    seen: list[int] = []
    second = _serve_once(state, lambda _served: seen.append(count_users(first.tenant, first.secret)))
    assert second.secret == first.secret
    assert second.parsed == first.parsed  # same ports, endpoints and CA bundle path
    assert (state / "sim-ca.pem").read_bytes() == ca_before  # the CA survived (not removed on stop)
    assert seen == [40]  # the configuration and secret printed the first time work against the restart
