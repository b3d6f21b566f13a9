"""CONTRIBUTING's data-source recipe is true: a catalog entry plus one ``@source`` fetcher is collected,
stored in the snapshot and probed by ``doctor``, with no other list to update."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from simkit import sim_config

from auditor.collect.collector import Limits, collect_tenant_async
from auditor.collect.sources import REGISTRY, CollectContext, graph_probe, source
from auditor.sim import SimOptions
from auditor.sim.tenant_gen import generate_tenant
from auditor.sources import SOURCES, SourceSpec

NAME = "recipe_organization"
SPEC = SourceSpec(
    NAME,
    "Organization (a throwaway source of the recipe test)",
    "graph",
    "list",
    "GET /v1.0/organization",
    ("Organization.Read.All",),
    optional=True,
)


async def _fetch(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/organization?$select=id,displayName"))


@pytest.fixture
def recipe_source(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Registered the way a new source is: its ``SourceSpec`` in the catalog, its fetcher with ``@source``."""
    monkeypatch.setitem(SOURCES, NAME, SPEC)
    source(NAME, graph_probe("v1.0", "/organization?$select=id"))(_fetch)
    try:
        yield NAME
    finally:
        REGISTRY.pop(NAME, None)


def test_a_registered_source_is_collected_and_probed(recipe_source: str, running_sim, sim_secret) -> None:
    from auditor.doctor import doctor

    served = generate_tenant(60, seed=31)
    limits = Limits(backoff_base=0.05, reports_per_10s=1000, ca_per_second=1000, activity_per_minute=1000)
    with running_sim(served, options=SimOptions(reports_per_10s=None, ca_per_second=None)) as sim:
        config = sim_config(sim, served)
        run = asyncio.run(
            collect_tenant_async(
                config.tenants[0], config, now=served.collected_at, sources={recipe_source}, limits=limits
            )
        )
        report = doctor(config.tenants[0], config)
    data = run.snapshot.sources[recipe_source]
    assert data.status == "collected", data.reason
    records = run.snapshot.records(recipe_source)
    assert [r["id"] for r in records] == [served.tenant_id]
    assert set(run.snapshot.sources) == {recipe_source}  # no dependency was declared, none was collected
    (row,) = [r for r in report.rows if r.source == recipe_source]
    assert row.will_collect and row.optional and not row.missing


def test_a_source_outside_the_catalog_is_refused() -> None:
    with pytest.raises(KeyError, match=r"not in auditor\.sources\.SOURCES"):
        source("no_such_source", graph_probe("v1.0", "/organization"))(_fetch)
    assert "no_such_source" not in REGISTRY
