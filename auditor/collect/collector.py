"""Collect one tenant (or several, concurrently) into a :class:`~auditor.snapshot.Snapshot`.

Every source of the catalog runs as its own task; a failing source becomes ``failed`` coverage with
its reason and the others go on. Only a failure that leaves nothing to collect (no Graph token at
all) raises :class:`~auditor.errors.CollectError` for the tenant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditor.collect.exchange import ExchangeClient
from auditor.collect.graph import GraphClient
from auditor.collect.sources import REGISTRY, CollectContext, Progress, describe, objects
from auditor.config import AuditorConfig, TenantConfig
from auditor.errors import AuditorError, AuthError, CollectError, LicenceMissing
from auditor.snapshot import Snapshot, SourceData
from auditor.sources import SOURCES
from auditor.transport.auth import TokenProvider, install_redaction
from auditor.transport.clouds import endpoints_for
from auditor.transport.http import ApiClient, ApiError, Stats
from auditor.transport.tls import ssl_context

log = logging.getLogger("auditor.collect")


@dataclass
class Limits:
    """Service limits the client paces itself to (Microsoft's documented numbers by default)."""

    identity_budget_units: float = 8000
    reports_per_10s: int = 5
    ca_per_second: int = 1
    #: GET with signInActivity: 10 per minute (on top of the reports bucket)
    activity_per_minute: int = 10
    backoff_base: float = 0.5


@dataclass
class CollectRun:
    """What a collection produced besides the snapshot (for tests, doctor and the benchmark)."""

    snapshot: Snapshot
    stats: Stats
    token_requests: int
    notes: dict[str, Any] = field(default_factory=dict)


def build_api(
    tenant: TenantConfig, config: AuditorConfig, limits: Limits | None = None, stats: Stats | None = None
) -> tuple[TokenProvider, ApiClient]:
    limits = limits or Limits()
    install_redaction()
    context = ssl_context(tenant.ca_bundle)
    tokens = TokenProvider(
        tenant, endpoints=endpoints_for(tenant), context=context, timeout=config.collect.timeout_seconds
    )
    api = ApiClient(
        tokens,
        max_concurrency=config.collect.max_concurrency,
        max_retries=config.collect.max_retries,
        timeout=config.collect.timeout_seconds,
        identity_budget_units=limits.identity_budget_units,
        reports_per_10s=limits.reports_per_10s,
        ca_per_second=limits.ca_per_second,
        activity_per_minute=limits.activity_per_minute,
        context=context,
        stats=stats,
        backoff_base=limits.backoff_base,
    )
    return tokens, api


async def collect_tenant_async(
    tenant: TenantConfig,
    config: AuditorConfig,
    *,
    progress: Progress | None = None,
    sources: Iterable[str] | None = None,
    limits: Limits | None = None,
    now: datetime | None = None,
    skip: Mapping[str, str] | None = None,
) -> CollectRun:
    """Collect every catalog source (or only ``sources`` and what they depend on).

    ``skip``: sources not to collect, each with the reason recorded as its ``skipped`` coverage (e.g.
    "only disabled rules need it"); a source another collected source depends on is collected anyway.
    """
    tokens, api = build_api(tenant, config, limits)
    endpoints = tokens.endpoints
    async with api:
        graph = GraphClient(api, endpoints.graph)
        try:
            await tokens.get(graph.scope)
        except AuthError:
            raise
        except AuditorError as exc:
            raise AuthError(f"Tenant {tenant.name}: {exc}") from exc
        exchange: ExchangeClient | None = None
        exchange_error: str | None = None
        try:
            await tokens.get(f"{endpoints.exchange}/.default")
            exchange = ExchangeClient(api, endpoints.exchange, tenant.tenant_id, endpoints.exchange_host_allowed)
        except AuthError as exc:
            exchange_error = f"no Exchange Online token ({exc}); the app needs Exchange.ManageAsApp"
        ctx = CollectContext(
            tenant=tenant,
            config=config,
            graph=graph,
            exchange=exchange,
            exchange_error=exchange_error,
            now=now or datetime.now(UTC),
            progress=progress,
        )
        skip = skip or {}
        wanted = _with_dependencies((set(sources) if sources is not None else set(REGISTRY)) - set(skip))
        for name in SOURCES:
            if name in wanted:
                ctx.tasks[name] = asyncio.create_task(_run_source(ctx, name), name=f"collect-{name}")
        results = dict(zip(ctx.tasks, await asyncio.gather(*ctx.tasks.values()), strict=True))
        for name, reason in skip.items():
            if name in SOURCES and name not in results and (sources is None or name in sources):
                results[name] = SourceData.skipped(reason)
                ctx.report(name, "skipped", 0)
        _note_partial_groups(results.get("group_members"), ctx.notes)
        meta = await _tenant_meta(tenant, graph, results.get("users"), ctx.notes)
        snapshot = Snapshot(
            tenant=meta,
            sources=results,
            collected_at=ctx.now,
            window_days=config.collect.sign_in_window_days,
        )
        return CollectRun(snapshot=snapshot, stats=api.stats, token_requests=tokens.requests, notes=ctx.notes)


def _note_partial_groups(groups: SourceData | None, notes: dict[str, Any]) -> None:
    """``group_members`` without the security-group listing holds only the groups roles and CA policies name:
    it is ``partial`` (not ``collected``), so the run is partial and every rule reading group membership says
    what it was assessed without; a missing service-account group is never read as an empty one."""
    unlisted = notes.get("security_groups_unlisted")
    if groups is not None and groups.status == "collected" and unlisted:
        groups.status = "partial"
        groups.reason = (
            f"security groups could not be listed ({unlisted}); only the groups that roles "
            "and Conditional Access policies name were expanded"
        )


def _with_dependencies(names: set[str]) -> set[str]:
    """``names`` plus everything they depend on, transitively (from each source's ``depends_on``)."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo.extend(REGISTRY[name].depends_on)
    return out


async def _run_source(ctx: CollectContext, name: str) -> SourceData:
    ctx.report(name, "started", 0)
    deadline = ctx.config.collect.source_deadline_seconds
    try:
        records = await asyncio.wait_for(REGISTRY[name].fetch(ctx), deadline)
    except asyncio.CancelledError:
        raise
    except TimeoutError:
        reason = f"not complete within the source deadline of {deadline:g} s (collect.source_deadline_seconds)"
        log.info("source %s failed: %s", name, reason)
        ctx.report(name, "failed", 0)
        return SourceData.failed(reason)
    except Exception as exc:
        err = describe(name, exc)
        if isinstance(err, LicenceMissing):  # the source does not exist for this tenant: not a failure
            log.info("source %s skipped: %s", name, err.reason)
            ctx.report(name, "skipped", 0)
            return SourceData.skipped(err.reason)
        if not isinstance(exc, (ApiError, AuditorError)) and type(exc).__name__ != "MalformedResponse":
            log.warning("source %s failed unexpectedly", name, exc_info=True)
        log.info("source %s failed: %s", name, err.reason)
        ctx.report(name, "failed", 0)
        return SourceData.failed(err.reason)
    data = SourceData.collected(records)
    ctx.report(name, "collected", data.items)
    return data


async def _tenant_meta(
    tenant: TenantConfig, graph: GraphClient, users: SourceData | None, notes: dict[str, Any]
) -> dict[str, Any]:
    """Tenant display data: ``GET /organization`` (needs Organization.Read.All), else the UPN domains."""
    meta: dict[str, Any] = {
        "name": tenant.name,
        "tenant_id": tenant.tenant_id,
        "default_domain": None,
        "display_name": None,
    }
    try:
        org = await graph.get(graph.url("v1.0", "/organization?$select=id,displayName,verifiedDomains"))
        value = (org or {}).get("value") or []
        if value:
            meta["display_name"] = value[0].get("displayName")
            for dom in value[0].get("verifiedDomains") or []:
                if dom.get("isDefault"):
                    meta["default_domain"] = dom.get("name")
    except Exception as exc:  # tenant display data is best effort
        notes["organization"] = f"tenant name and default domain not read from /organization: {exc}"
        log.info("%s", notes["organization"])
    if not meta["default_domain"] and users is not None and users.status == "collected":
        counts: dict[str, int] = {}
        for user in objects(users):
            upn = str(user.get("userPrincipalName") or "")
            if "@" in upn and "#EXT#" not in upn:
                domain = upn.rsplit("@", 1)[1].lower()
                counts[domain] = counts.get(domain, 0) + 1
        if counts:
            meta["default_domain"] = max(counts, key=lambda d: counts[d])
    meta["display_name"] = meta["display_name"] or tenant.name
    return meta


def collect_tenant(
    tenant: TenantConfig,
    config: AuditorConfig,
    *,
    progress: Progress | None = None,
    skip: Mapping[str, str] | None = None,
) -> Snapshot:
    """Collect one tenant: every source (but ``skip``), with coverage saying what was not collected and why."""
    return asyncio.run(collect_tenant_async(tenant, config, progress=progress, skip=skip)).snapshot


async def collect_tenants_async(
    config: AuditorConfig,
    names: Iterable[str] | None = None,
    *,
    progress: Callable[[str, str, str, int], None] | None = None,
    limits: Limits | None = None,
) -> dict[str, Snapshot | Exception]:
    tenants = [config.tenant(n) for n in names] if names is not None else list(config.tenants)
    sem = asyncio.Semaphore(config.collect.tenant_concurrency)

    async def one(tenant: TenantConfig) -> Snapshot | Exception:
        per_tenant = None
        if progress is not None:

            def per_tenant(source: str, status: str, count: int, _t: str = tenant.name) -> None:
                progress(_t, source, status, count)

        async with sem:
            try:
                run = await collect_tenant_async(tenant, config, progress=per_tenant, limits=limits)
                return run.snapshot
            except AuditorError as exc:
                return exc
            except Exception as exc:
                log.warning("tenant %s failed unexpectedly", tenant.name, exc_info=True)
                return CollectError(
                    f"Tenant {tenant.name}: collection failed unexpectedly ({type(exc).__name__}: {exc})."
                )

    results = await asyncio.gather(*(one(t) for t in tenants))
    return {t.name: r for t, r in zip(tenants, results, strict=True)}


def collect_tenants(
    config: AuditorConfig,
    names: Iterable[str] | None = None,
    *,
    progress: Callable[[str, str, str, int], None] | None = None,
) -> dict[str, Snapshot | Exception]:
    """Collect several tenants concurrently; a failing tenant maps to its exception, the rest go on."""
    return asyncio.run(collect_tenants_async(config, names, progress=progress))
