"""Collection of a live tenant: Graph + Exchange clients (over ``auditor.transport``), the source registry.

Public entry points::

    collect_tenant(tenant, config, *, progress=None) -> Snapshot
    collect_tenants(config, names=None, *, progress=None) -> dict[name, Snapshot | Exception]

``progress(source, status, count)`` is called with status ``started``, ``running`` (count = records so
far), ``collected`` (count = items) or ``failed``; ``collect_tenants`` prefixes the tenant name.
"""

from __future__ import annotations

from auditor.collect.collector import collect_tenant, collect_tenant_async, collect_tenants

__all__ = ["collect_tenant", "collect_tenant_async", "collect_tenants"]
