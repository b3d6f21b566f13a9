"""``python -m auditor.sim --state DIR``: what a simulator walk-through keeps across restarts.

DIR (created 0700, tightened to 0700 if it exists) holds ``sim-ca.pem`` + ``sim-ca-key.pem`` (the CA, reused)
and ``sim-state.json`` (0600: the two ports and the client secret). The first start picks free ports (or the
ones asked for) and a random secret and writes them; later starts reuse them, so a configuration printed the
first time keeps working.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "sim-state.json"


@dataclass
class SimState:
    port: int = 0
    exchange_port: int = 0
    secret: str = ""


def open_state_dir(path: str | os.PathLike[str]) -> Path:
    """Create (or tighten) DIR to mode 0700 and return it."""
    directory = Path(path).expanduser().resolve()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


def load_state(directory: Path) -> SimState:
    """The saved state, or an empty one (ports 0, a fresh secret) on the first start."""
    path = directory / STATE_FILE
    if path.is_file():
        data = json.loads(path.read_text())
        return SimState(int(data["port"]), int(data["exchange_port"]), str(data["secret"]))
    return SimState(secret=secrets.token_urlsafe(24))


def save_state(directory: Path, state: SimState) -> None:
    path = directory / STATE_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(state), fh)
    os.replace(tmp, path)
