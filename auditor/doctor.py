"""``doctor``: before a first run, say which sources will collect, which will fail and why.

It obtains both tokens, decodes their ``roles`` (application permissions) and ``wids`` (directory
roles), runs every source's probe from the source registry (:data:`auditor.collect.sources.REGISTRY`,
the cheapest request that exercises the same permission and licence), and lists the rules each failing
source would leave ``not_assessed`` (from the public rule ``REGISTRY``'s ``needs`` only).

Some probes keep the *shape* of what they saw (property names and JSON types, never values), e.g. the
undocumented ``mfaServicePolicy``; ``render(shapes=True)`` prints them so a user with a real tenant can
tell us how the service answers without sharing any tenant data.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditor.collect.collector import Limits, build_api
from auditor.collect.exchange import ExchangeClient
from auditor.collect.graph import GraphClient
from auditor.collect.sources import REGISTRY as SOURCE_REGISTRY
from auditor.collect.sources import ProbeContext, describe
from auditor.config import AuditorConfig, TenantConfig
from auditor.errors import AuditorError
from auditor.model.roles import BUILTIN_ROLES
from auditor.sources import grants
from auditor.transport.auth import decode_claims

_ROLE_BY_NAME = {name.lower(): tid for tid, name in BUILTIN_ROLES.items()}


@dataclass
class DoctorRow:
    source: str
    will_collect: bool
    missing: str = ""
    rules: list[str] = field(default_factory=list)
    optional: bool = False

    @property
    def status(self) -> str:
        return "will collect" if self.will_collect else "will fail"


@dataclass
class DoctorReport:
    tenant: str
    cloud: str
    authority: str
    graph_token: bool
    exchange_token: bool
    roles: list[str] = field(default_factory=list)
    exchange_roles: list[str] = field(default_factory=list)
    directory_roles: list[str] = field(default_factory=list)
    rows: list[DoctorRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: advice that does not affect coverage (optional permissions)
    notes: list[str] = field(default_factory=list)
    #: source -> the shape (property names and JSON types, never values) a probe saw
    shapes: dict[str, Any] = field(default_factory=dict)
    #: the e-mail delivery check (None: nothing to check), and whether it passed
    delivery: str | None = None
    delivery_ok: bool = True

    @property
    def ok(self) -> bool:
        return self.graph_token and all(r.will_collect for r in self.rows) and self.delivery_ok

    def not_assessed(self) -> list[str]:
        return sorted({rule for row in self.rows if not row.will_collect for rule in row.rules})

    def render(self, *, shapes: bool = True) -> str:
        lines = [
            f"Tenant {self.tenant} (cloud {self.cloud}, authority {self.authority})",
            f"  Graph token: {'ok' if self.graph_token else 'FAILED'}; "
            f"Exchange token: {'ok' if self.exchange_token else 'FAILED'}",
            f"  Application permissions: {', '.join(self.roles + self.exchange_roles) or 'none'}",
            f"  Directory roles: {', '.join(self.directory_roles) or 'none'}",
        ]
        lines += [f"  ! {e}" for e in self.errors]
        lines += [f"  i {n}" for n in self.notes]
        if self.delivery is not None:
            lines.append(f"  E-mail delivery: {'ok' if self.delivery_ok else 'FAILED'}: {self.delivery}")
        headers = ("source", "status", "missing permission / role / licence", "rules not assessed")
        table = [
            (
                r.source + (" (optional)" if r.optional else ""),
                r.status,
                r.missing or "-",
                ", ".join(r.rules) if not r.will_collect and r.rules else "-",
            )
            for r in self.rows
        ]
        widths = [
            min(60, max(len(h), *(len(row[i]) for row in table))) if table else len(h) for i, h in enumerate(headers)
        ]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
        lines.append("")
        lines.append(fmt.format(*headers))
        lines.append(fmt.format(*("-" * w for w in widths[:-1]), "-" * len(headers[-1])))
        lines += [fmt.format(*row) for row in table]
        gaps = self.not_assessed()
        lines.append("")
        lines.append(f"Rules that will be not_assessed: {', '.join(gaps) if gaps else 'none'}")
        if shapes and self.shapes:
            lines.append("")
            lines.append("Response shapes seen (property names and JSON types only, no values):")
            for name, shape in sorted(self.shapes.items()):
                lines.append(f"  {name}: {json.dumps(shape, sort_keys=True)}")
        return "\n".join(lines)


def _rule_needs() -> dict[str, set[str]]:
    """Source -> rule ids needing it, from the public rule registry (its ``needs`` only)."""
    from auditor.rules import REGISTRY

    needs: dict[str, set[str]] = {}
    for spec in REGISTRY.values():
        for source in spec.needs:
            needs.setdefault(source, set()).add(spec.id)
    return needs


def rules_left_out(failed: set[str], config: AuditorConfig) -> dict[str, list[str]]:
    """For each failed source: the rules that need it (directly or via a derived source)."""
    needs = _rule_needs()
    out: dict[str, list[str]] = {}
    for source in failed:
        rules = set(needs.get(source, set()))
        if source == "mfa_service_policy" and config.legacy_mfa is None:
            rules |= needs.get("legacy_mfa_settings", set())
        out[source] = sorted(rules)
    return out


def _missing_static(source: str, graph_roles: set[str], exo_roles: set[str], wids: set[str]) -> list[str]:
    spec = SOURCE_REGISTRY[source].spec
    granted = exo_roles if spec.service == "exchange" else graph_roles
    missing = [p for p in spec.permissions if not grants(granted, p)]
    if spec.roles and not any(_ROLE_BY_NAME.get(r.lower(), r) in wids for r in spec.roles):
        missing.append(f"directory role {' or '.join(spec.roles)}")
    return missing


async def doctor_async(tenant: TenantConfig, config: AuditorConfig, *, limits: Limits | None = None) -> DoctorReport:
    tokens, api = build_api(tenant, config, limits)
    ep = tokens.endpoints
    report = DoctorReport(
        tenant=tenant.name,
        cloud=ep.name,
        authority=ep.authority(tenant.tenant_id),
        graph_token=False,
        exchange_token=False,
    )
    async with api:
        graph = GraphClient(api, ep.graph)
        graph_claims: dict[str, Any] = {}
        exo_claims: dict[str, Any] = {}
        try:
            graph_claims = decode_claims(await tokens.get(graph.scope))
            report.graph_token = True
        except AuditorError as exc:
            report.errors.append(str(exc))
        exchange: ExchangeClient | None = None
        try:
            exo_claims = decode_claims(await tokens.get(f"{ep.exchange}/.default"))
            report.exchange_token = True
            exchange = ExchangeClient(api, ep.exchange, tenant.tenant_id, ep.exchange_host_allowed)
        except AuditorError as exc:
            if report.graph_token:
                report.errors.append(str(exc))
        graph_roles = set(graph_claims.get("roles") or [])
        exo_roles = set(exo_claims.get("roles") or [])
        wids = set(graph_claims.get("wids") or []) | set(exo_claims.get("wids") or [])
        report.roles = sorted(graph_roles)
        report.exchange_roles = sorted(exo_roles)
        report.directory_roles = sorted(BUILTIN_ROLES.get(w, w) for w in wids)

        failures: dict[str, str] = {}
        if report.graph_token:
            probe_ctx = ProbeContext(graph, exchange, config, datetime.now(UTC))

            async def run(name: str) -> None:
                try:
                    await SOURCE_REGISTRY[name].probe(probe_ctx)
                except Exception as exc:
                    failures[name] = describe(name, exc).reason

            await asyncio.gather(*(run(name) for name in SOURCE_REGISTRY))
            report.shapes = dict(probe_ctx.shapes)
            try:
                await graph.get(graph.url("v1.0", "/organization?$select=id,displayName"))
            except Exception as exc:
                report.notes.append(
                    "the tenant's display name and default domain cannot be read from /organization "
                    f"({exc}); grant the optional Organization.Read.All, or reports use the configured "
                    "name and the most common user-principal-name domain"
                )
        else:
            failures = {name: "no token could be obtained" for name in SOURCE_REGISTRY}

    left_out = rules_left_out(set(failures), config)
    for name, src in SOURCE_REGISTRY.items():
        spec = src.spec
        static = _missing_static(name, graph_roles, exo_roles, wids) if report.graph_token else []
        reason = failures.get(name, "")
        missing = "; ".join(dict.fromkeys(filter(None, [", ".join(static) if static and reason else "", reason])))
        report.rows.append(DoctorRow(name, name not in failures, missing, left_out.get(name, []), spec.optional))
    return report


def check_delivery(report: DoctorReport, config: AuditorConfig) -> None:
    """With ``email.transport: smtp``: connect as a delivery would (EHLO, STARTTLS offered, AUTH accepted),
    send nothing, and put the outcome on ``report``. ``config`` is the tenant's effective configuration."""
    email = config.email
    if email is None or email.transport != "smtp" or email.smtp is None:
        return
    from auditor.deliver.channels.smtp import check_smtp

    try:
        report.delivery = check_smtp(email.smtp)
    except AuditorError as exc:
        report.delivery, report.delivery_ok = str(exc), False


def doctor(tenant: TenantConfig, config: AuditorConfig) -> DoctorReport:
    """Check credentials, granted permissions and every source of one tenant, and what e-mail delivery
    needs (see module docstring)."""
    report = asyncio.run(doctor_async(tenant, config))
    check_delivery(report, config.for_tenant(tenant.name))
    return report
