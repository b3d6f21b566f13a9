"""The bundled demo tenant: a generated snapshot that makes every rule fire, shipped with the package.

``demo_snapshot()`` loads ``demo-tenant.json.gz`` (package data, read through importlib.resources so an
installed wheel works). The file is produced by the seeded generator with the fixed arguments below;
regenerate it (needs the simulator extra, ``pip install 'entra-auditor[sim]'``) with::

    python -m auditor.sim.tenant_gen --users 200 --seed 7 --name contoso \\
        --now 2026-11-23T06:00:00Z --out auditor/demo/demo-tenant.json.gz
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import as_file, files

from auditor.config import AuditorConfig
from auditor.errors import UsageError
from auditor.snapshot import Snapshot, load

DEMO_FILE = "demo-tenant.json.gz"
DEMO_USERS = 200
DEMO_SEED = 7
DEMO_NAME = "contoso"
DEMO_NOW = datetime(2026, 11, 23, 6, 0, 0, tzinfo=UTC)
#: The demo tenant's emergency access ("break-glass") accounts, as its configuration lists them. Kept here rather
#: than read from the generator: ``audit --demo`` must work without the simulator extra.
DEMO_EMERGENCY_ACCESS: tuple[str, ...] = ("breakglass@contoso.com", "breakglass2@contoso.com")


def demo_config(config: AuditorConfig | None = None) -> AuditorConfig:
    """The configuration to audit the demo tenant with: ``config`` (default: the defaults) with the demo's
    emergency access accounts in ``classification.emergency_access`` when it lists none of its own."""
    base = config if config is not None else AuditorConfig()
    if base.classification.emergency_access:
        return base
    classification = base.classification.model_copy(update={"emergency_access": list(DEMO_EMERGENCY_ACCESS)})
    return base.model_copy(update={"classification": classification})


def demo_snapshot() -> Snapshot:
    """A fresh copy of the bundled demo tenant (callers may modify it)."""
    with as_file(files(__name__).joinpath(DEMO_FILE)) as path:
        return load(path)


def build_demo_snapshot() -> Snapshot:
    """Regenerate the demo tenant from its fixed arguments (what the bundled file must equal).

    The generator belongs to the simulator extra; ``demo_snapshot()`` (and ``audit --demo``) never needs it.
    """
    try:
        from auditor.sim.tenant_gen import generate_tenant
    except ModuleNotFoundError as exc:  # aiohttp / trustme: auditor.sim's package imports the server
        raise UsageError(
            f"Regenerating the demo tenant needs the simulator extra ({exc.name} is not installed): "
            "pip install 'entra-auditor[sim]'."
        ) from exc

    return generate_tenant(DEMO_USERS, seed=DEMO_SEED, name=DEMO_NAME, now=DEMO_NOW)


__all__ = [
    "DEMO_EMERGENCY_ACCESS",
    "DEMO_NAME",
    "DEMO_NOW",
    "DEMO_SEED",
    "DEMO_USERS",
    "build_demo_snapshot",
    "demo_config",
    "demo_snapshot",
]
