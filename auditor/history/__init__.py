"""Run history and drift: every audit's run and findings in SQLite/PostgreSQL.

    from auditor.history import HistoryStore, TenantBusy
    store = HistoryStore("sqlite:///history.db")
    store.annotate(result)                 # new/persisting, first_seen, resolved vs last complete run
    store.record(result, report_dir)       # one transaction
    store.trend("contoso", 12)             # open findings per severity of the last 12 runs
    with store.tenant_lock("contoso", owner="entra-auditor audit (pid 42)"):
        ...

``format_runs`` / ``format_diff`` render ``entra-auditor history`` and ``history diff`` as text.
"""

from auditor.history.diff import DiffItem
from auditor.history.format import format_diff, format_runs
from auditor.history.locks import TenantBusy
from auditor.history.rows import RunDiff, RunRow
from auditor.history.store import HistoryStore
from auditor.history.trend import TrendPoint

__all__ = ["DiffItem", "HistoryStore", "RunDiff", "RunRow", "TenantBusy", "TrendPoint", "format_diff", "format_runs"]
