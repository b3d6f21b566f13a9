"""Offline runs (``audit --demo`` / ``audit --snapshot``): kept apart from production history.

By default an offline run records nothing and writes its reports to ``--out`` or to ``offline-reports/``
in the working directory — never into a configured tenant's reports folder (the demo tenant is named
``contoso``: recorded, it would reset ``first_seen`` and let ``keep_runs`` prune a real tenant's runs).

With ``record=True`` the snapshot is recorded under its own tenant only: the configured tenant of that
name must have the snapshot's tenant id, the run is recorded at the snapshot's collection time, and a
snapshot older than the tenant's latest recorded run is refused (history stays in collection order).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.config import AuditorConfig
from auditor.errors import ConfigError, UsageError
from auditor.snapshot import Snapshot

if TYPE_CHECKING:
    from auditor.history import HistoryStore
    from auditor.pipeline import RunOutcome

#: where an offline run's reports go without ``--out`` (relative to the working directory)
OFFLINE_DIR = Path("offline-reports")


def offline_audit(
    config: AuditorConfig,
    tenant_name: str | None,
    *,
    snapshot: Snapshot | None,
    demo: bool,
    out_dir: Path | None,
    history: HistoryStore | None,
    record: bool,
    run: Callable[..., RunOutcome],
    **kwargs: Any,
) -> RunOutcome:
    """Evaluate a snapshot (or the demo tenant) with ``run`` (``pipeline.run_audit``)."""
    if snapshot is None:
        if not demo:
            raise UsageError("An offline run needs --snapshot FILE or --demo.")
        from auditor.demo import demo_snapshot

        snapshot = demo_snapshot()
    if not record:
        base = out_dir if out_dir is not None else OFFLINE_DIR
        return run(config, tenant_name, snapshot=snapshot, out_dir=base, history=None, **kwargs)
    if history is None:
        raise UsageError("--record needs the history database (drop --no-history).")
    name = tenant_name or snapshot.tenant_name
    check_same_tenant(config, name, snapshot)
    with history.tenant_lock(name, f"audit --record pid {os.getpid()}"):
        latest = history.list_runs(tenant=name, limit=1)
        if latest and _aware(snapshot.collected_at) < _aware(latest[0].started):
            raise UsageError(
                f"The snapshot was collected at {snapshot.collected_at.isoformat()}, older than tenant {name}'s "
                f"latest recorded run ({latest[0].started.isoformat()}); history stays in collection order, "
                "so it is not recorded (run it without --record to see its reports)."
            )
        return run(
            config, name, snapshot=snapshot, out_dir=out_dir, history=history, now=snapshot.collected_at, **kwargs
        )


def check_same_tenant(config: AuditorConfig, name: str, snapshot: Snapshot) -> None:
    """Refuse to record a snapshot under a configured tenant whose tenant id is not the snapshot's."""
    try:
        tenant = config.tenant(name)
    except ConfigError as exc:  # no such tenant
        raise UsageError(f"--record: {exc} A snapshot is recorded only under its own configured tenant.") from exc
    theirs = snapshot.tenant_id.strip().lower()
    if not theirs or theirs != tenant.tenant_id.strip().lower():
        raise UsageError(
            f"--record: the snapshot's tenant id {snapshot.tenant_id or '(none)'!r} is not tenant {name}'s "
            f"tenant id {tenant.tenant_id!r}; a snapshot is recorded only under its own tenant."
        )


def _aware(value: Any) -> Any:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
