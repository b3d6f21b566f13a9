"""The cross-tenant roll-up of the foreground scheduler.

Tenants that share a schedule (the same trigger: the global ``schedule`` or identical overrides) fire
together, which is the scheduler's "multi-tenant run". When every tenant of such a group has settled once
since the group's last roll-up — audited (any status) or failed — one roll-up is written from history
(the run each tenant recorded, or its problem) and the MSP summary is sent, as after a multi-tenant
``audit``. A tenant alone on its schedule gets no roll-up. A tenant skipped because another process held
its lock has not settled. The batches live in memory: a scheduler restart starts them afresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    run_id: str | None
    problem: str


class RollupBatches:
    """Collects settled tenants per schedule group; ``settle`` returns a whole group once it is complete."""

    def __init__(self, group_of: dict[str, str]) -> None:
        self._members: dict[str, set[str]] = {}
        for tenant, group in group_of.items():
            self._members.setdefault(group, set()).add(tenant)
        self._group_of = dict(group_of)
        self._batches: dict[str, dict[str, Settled]] = {}
        self._lock = threading.Lock()

    def settle(self, tenant: str, run_id: str | None, problem: str = "") -> dict[str, Settled] | None:
        """Note the tenant's outcome; the group's outcomes when this completes it (the batch starts again)."""
        group = self._group_of.get(tenant)
        if group is None or len(self._members[group]) < 2:
            return None
        with self._lock:
            batch = self._batches.setdefault(group, {})
            batch[tenant] = Settled(run_id, problem)
            if set(batch) != self._members[group]:
                return None
            self._batches[group] = {}
            return batch


def groups_by_trigger(tenants: Iterable[str], signature: Callable[[str], Any]) -> dict[str, str]:
    """Tenant → group key: tenants whose triggers have the same signature share a group."""
    return {tenant: repr(signature(tenant)) for tenant in tenants}


def write_group_rollup(config: Any, history: Any, settled: dict[str, Settled]) -> dict[str, Any]:
    """The roll-up of one settled group, rows from history (never raises; see ``pipeline.write_rollup_rows``)."""
    from auditor.pipeline import write_rollup_rows
    from auditor.render.rollup import row_from_history

    rows = [row_from_history(t, history, settled[t].run_id, settled[t].problem) for t in sorted(settled)]
    files: dict[str, Any] = write_rollup_rows(config, rows)
    log.info("cross-tenant roll-up written", extra={"event": "rollup_written", "tenants": sorted(settled)})
    return files
