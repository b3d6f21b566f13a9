"""``doctor``: before a first run, say which sources will collect, which will fail and why.

It obtains both tokens, decodes their ``roles`` (application permissions) and ``wids`` (directory
roles), probes every source with the cheapest request that exercises the same permission and
licence, and lists the rules each failing source would leave ``not_assessed``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from auditor.collect.collector import Limits, build_api
from auditor.collect.exchange import ExchangeClient
from auditor.collect.graph import GraphClient
from auditor.collect.sources import describe, sign_ins_filter
from auditor.config import AuditorConfig, TenantConfig
from auditor.errors import AuditorError, SourceError
from auditor.model.roles import BUILTIN_ROLES
from auditor.sources import SOURCES
from auditor.transport.auth import decode_claims

#: permissions that also grant a narrower one (Graph's documented higher-privileged alternatives)
BROADER: dict[str, tuple[str, ...]] = {
    "User.Read.All": ("User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    "GroupMember.Read.All": (
        "Group.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ),
    "RoleManagement.Read.Directory": (
        "RoleManagement.ReadWrite.Directory",
        "Directory.Read.All",
        "RoleManagement.Read.All",
    ),
    "RoleEligibilitySchedule.Read.Directory": (
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "RoleManagement.ReadWrite.Directory",
    ),
}
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

    @property
    def ok(self) -> bool:
        return self.graph_token and all(r.will_collect for r in self.rows)

    def not_assessed(self) -> list[str]:
        return sorted({rule for row in self.rows if not row.will_collect for rule in row.rules})

    def render(self) -> str:
        lines = [
            f"Tenant {self.tenant} (cloud {self.cloud}, authority {self.authority})",
            f"  Graph token: {'ok' if self.graph_token else 'FAILED'}; "
            f"Exchange token: {'ok' if self.exchange_token else 'FAILED'}",
            f"  Application permissions: {', '.join(self.roles + self.exchange_roles) or 'none'}",
            f"  Directory roles: {', '.join(self.directory_roles) or 'none'}",
        ]
        lines += [f"  ! {e}" for e in self.errors]
        lines += [f"  i {n}" for n in self.notes]
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
            min(60, max(len(h), *(len(row[i]) for row in table))) if table else len(h)
            for i, h in enumerate(headers)
        ]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
        lines.append("")
        lines.append(fmt.format(*headers))
        lines.append(fmt.format(*("-" * w for w in widths[:-1]), "-" * len(headers[-1])))
        lines += [fmt.format(*row) for row in table]
        gaps = self.not_assessed()
        lines.append("")
        lines.append(f"Rules that will be not_assessed: {', '.join(gaps) if gaps else 'none'}")
        return "\n".join(lines)


def _rule_needs() -> dict[str, set[str]]:
    """Source -> rule ids needing it, from the rule registry (whatever is registered so far)."""
    try:
        from auditor.rules import REGISTRY
    except ImportError:  # the rule modules may not all exist yet
        from auditor.rules.registry import REGISTRY
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


def _has(granted: set[str], permission: str) -> bool:
    return permission in granted or any(p in granted for p in BROADER.get(permission, ()))


def _missing_static(source: str, graph_roles: set[str], exo_roles: set[str], wids: set[str]) -> list[str]:
    spec = SOURCES[source]
    granted = exo_roles if spec.service == "exchange" else graph_roles
    missing = [p for p in spec.permissions if not _has(granted, p)]
    if spec.roles and not any(_ROLE_BY_NAME.get(r.lower(), r) in wids for r in spec.roles):
        missing.append(f"directory role {' or '.join(spec.roles)}")
    return missing


async def _probe(
    source: str,
    graph: GraphClient,
    exchange: ExchangeClient | None,
    config: AuditorConfig,
    first_user: list[str],
) -> None:
    """Raise when the source would fail; return quietly when it would collect."""
    v1 = lambda path: graph.url("v1.0", path)  # noqa: E731
    if source == "users":
        body = await graph.get(v1("/users?$select=id&$top=1"))
        first_user.extend(u["id"] for u in (body or {}).get("value", [])[:1] if isinstance(u, dict))
    elif source == "sign_in_activity":
        await graph.get(v1("/users?$select=id,signInActivity&$top=1"))
    elif source == "per_user_mfa":
        body = await graph.get(v1("/users?$select=id,perUserMfaState&$top=1"))
        value = (body or {}).get("value") or []
        if value and "perUserMfaState" not in value[0]:
            await graph.get(graph.url("beta", f"/users/{value[0]['id']}/authentication/requirements"))
    elif source == "group_members":
        await graph.get(v1("/roleManagement/directory/roleAssignments?$top=1&$expand=principal"))
    elif source in ("role_definitions", "role_assignments", "role_eligibility"):
        path = {
            "role_definitions": "roleDefinitions",
            "role_assignments": "roleAssignments",
            "role_eligibility": "roleEligibilityScheduleInstances",
        }[source]
        await graph.get(v1(f"/roleManagement/directory/{path}?$top=1"))
    elif source == "registration_details":
        await graph.get(v1("/reports/authenticationMethods/userRegistrationDetails?$top=1"))
    elif source == "security_defaults":
        await graph.get(v1("/policies/identitySecurityDefaultsEnforcementPolicy"))
    elif source == "conditional_access":
        await graph.get(v1("/identity/conditionalAccess/policies?$top=1"))
    elif source == "named_locations":
        await graph.get(v1("/identity/conditionalAccess/namedLocations?$top=1"))
    elif source == "auth_methods_policy":
        await graph.get(v1("/policies/authenticationMethodsPolicy"))
    elif source == "mfa_service_policy":
        await graph.get(graph.url("beta", "/policies/mfaServicePolicy"))
    elif source == "sign_ins":
        from datetime import UTC, datetime
        from urllib.parse import quote

        flt = sign_ins_filter(datetime.now(UTC), config.collect.sign_in_window_days)
        await graph.get(v1(f"/auditLogs/signIns?$filter={quote(flt, safe='()/:')}&$top=1"))
    elif SOURCES[source].service == "exchange":
        if exchange is None:
            raise SourceError(source, "no Exchange Online token")
        cmdlet = {
            "cas_mailboxes": "Get-CASMailbox",
            "transport_config": "Get-TransportConfig",
            "authentication_policies": "Get-AuthenticationPolicy",
            "organization_config": "Get-OrganizationConfig",
        }[source]
        params = {"ResultSize": 1} if source == "cas_mailboxes" else {}
        resp = await exchange.api.request(
            "POST",
            exchange.url,
            scope=exchange.scope,
            service="exchange",
            json_body={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}},
            headers=exchange.headers,
        )
        del resp


async def doctor_async(
    tenant: TenantConfig, config: AuditorConfig, *, limits: Limits | None = None
) -> DoctorReport:
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
            exchange = ExchangeClient(api, ep.exchange, tenant.tenant_id)
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
        first_user: list[str] = []
        if report.graph_token:

            async def run(name: str) -> None:
                try:
                    await _probe(name, graph, exchange, config, first_user)
                except Exception as exc:
                    failures[name] = describe(name, exc).reason

            await asyncio.gather(*(run(name) for name in SOURCES))
            try:
                await graph.get(graph.url("v1.0", "/organization?$select=id,displayName"))
            except Exception as exc:
                report.notes.append(
                    "the tenant's display name and default domain cannot be read from /organization "
                    f"({exc}); grant the optional Organization.Read.All, or reports use the configured "
                    "name and the most common user-principal-name domain"
                )
        else:
            failures = {name: "no token could be obtained" for name in SOURCES}

    left_out = rules_left_out(set(failures), config)
    for name, spec in SOURCES.items():
        static = _missing_static(name, graph_roles, exo_roles, wids) if report.graph_token else []
        reason = failures.get(name, "")
        missing = "; ".join(
            dict.fromkeys(filter(None, [", ".join(static) if static and reason else "", reason]))
        )
        report.rows.append(
            DoctorRow(name, name not in failures, missing, left_out.get(name, []), spec.optional)
        )
    return report


def doctor(tenant: TenantConfig, config: AuditorConfig) -> DoctorReport:
    """Check credentials, granted permissions and every source of one tenant (see module docstring)."""
    return asyncio.run(doctor_async(tenant, config))
