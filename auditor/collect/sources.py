"""One fetcher per data source of :data:`auditor.sources.SOURCES`.

A fetcher returns the source's raw records exactly as the API sent them (only the per-response
``@odata.context`` annotation is dropped from singleton objects) or raises :class:`SourceError`; the
collector turns that into coverage. Fetchers that depend on another source (group members on role
assignments and CA policies, the sign-in-activity marker on users) await it through the context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from auditor.collect.exchange import ExchangeClient
from auditor.collect.graph import GraphClient, gather_limited, sub_error
from auditor.collect.http import ApiError, MalformedResponse
from auditor.config import AuditorConfig, TenantConfig
from auditor.errors import AuthError, PermissionDenied, SourceError
from auditor.snapshot import SourceData
from auditor.sources import LEGACY_CLIENT_APPS, SOURCES

USER_FIELDS = (
    "id,userPrincipalName,displayName,userType,accountEnabled,createdDateTime,assignedLicenses,"
    "onPremisesSyncEnabled,mail,jobTitle,department,passwordPolicies"
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LICENCE_HINTS = ("licen", "premium", "b2c", "p1", "p2", "sku")

log = logging.getLogger(__name__)

Progress = Callable[[str, str, int], None]


@dataclass
class CollectContext:
    """Everything a fetcher may use. ``results`` holds the tasks of sources others depend on."""

    tenant: TenantConfig
    config: AuditorConfig
    graph: GraphClient
    exchange: ExchangeClient | None
    exchange_error: str | None
    now: datetime
    progress: Progress | None = None
    tasks: dict[str, asyncio.Task[SourceData]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def report(self, source: str, status: str, count: int) -> None:
        if self.progress is not None:
            # a broken progress display must not stop a run
            with contextlib.suppress(Exception):
                self.progress(source, status, count)

    def pager(self, source: str) -> Callable[[int], None]:
        """A page callback that reports ``running`` at most about once a second."""
        last = [0.0]

        def on_page(count: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 1.0:
                last[0] = now
                self.report(source, "running", count)

        return on_page

    async def source(self, name: str) -> SourceData:
        return await self.tasks[name]


# ---------------------------------------------------------------- error mapping


def describe(source: str, exc: BaseException) -> SourceError:
    """Turn an API failure into a coverage reason that names the missing permission/role/licence."""
    spec = SOURCES[source]
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, MalformedResponse):
        return SourceError(source, f"malformed response from the API ({exc.detail}); the source was not used")
    if isinstance(exc, AuthError):
        return SourceError(source, str(exc))
    if isinstance(exc, ApiError):
        server = (
            f"{exc.code}: {exc.message}".strip(": ") if (exc.code or exc.message) else f"HTTP {exc.status}"
        )
        text = f"{exc.code} {exc.message}".lower()
        if spec.licence and exc.status in (400, 403) and any(h in text for h in _LICENCE_HINTS):
            return PermissionDenied(
                source, f"the tenant lacks the {spec.licence} licence this source needs ({server})"
            )
        if exc.status in (401, 403):
            need = " and ".join(spec.permissions)
            role = f" plus the {' or '.join(spec.roles)} directory role" if spec.roles else ""
            lic = f" (and an {spec.licence} licence)" if spec.licence else ""
            return PermissionDenied(
                source, f"access denied (HTTP {exc.status}); the app needs {need}{role}{lic} ({server})"
            )
        if exc.status == 404 or (exc.status == 400 and "segment" in text):
            return SourceError(source, f"the endpoint is not available in this tenant or cloud ({server})")
        if exc.status in (429, 503):
            return SourceError(source, f"still throttled after all retries ({server})")
        if exc.status == 0:
            return SourceError(source, f"network failure: {exc.message}")
        return SourceError(source, f"the API answered HTTP {exc.status} ({server})")
    return SourceError(source, f"unexpected error {type(exc).__name__}: {exc}")


def _strip_context(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k != "@odata.context"}
    return obj


def _q(value: str) -> str:
    return quote(value, safe=",()/:'$=")


def _seg(value: str) -> str:
    """A tenant-supplied id as one URL path segment (it cannot add segments or a query)."""
    return quote(value, safe="")


# ---------------------------------------------------------------- Graph sources


async def fetch_users(ctx: CollectContext) -> Any:
    g = ctx.graph
    base = f"/users?$select={USER_FIELDS}"
    try:
        records = await g.get_all(
            g.url("v1.0", f"{base},signInActivity&$top=999"), on_page=ctx.pager("users")
        )
        ctx.notes["sign_in_activity"] = None
        return records
    except ApiError as exc:
        if exc.status not in (400, 403):
            raise
        ctx.notes["sign_in_activity"] = describe("sign_in_activity", exc).reason
    return await g.get_all(g.url("v1.0", f"{base}&$top=999"), on_page=ctx.pager("users"))


async def fetch_sign_in_activity(ctx: CollectContext) -> Any:
    users = await ctx.source("users")
    if users.status != "collected":
        raise SourceError(
            "sign_in_activity", "users could not be collected, so neither could their sign-in dates"
        )
    reason = ctx.notes.get("sign_in_activity")
    if reason:
        raise PermissionDenied("sign_in_activity", reason)
    return None


async def fetch_role_definitions(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/roleManagement/directory/roleDefinitions"))


async def fetch_role_assignments(ctx: CollectContext) -> Any:
    # No $select here: Graph's $select would drop the expanded ``principal`` the model needs.
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/roleManagement/directory/roleAssignments?$expand=principal"))


async def fetch_role_eligibility(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/roleManagement/directory/roleEligibilityScheduleInstances"))


async def _referenced_groups(ctx: CollectContext) -> tuple[dict[str, str | None], set[str], list[str]]:
    """Groups to expand: ({id: known name}, ids that may be other principals, names to resolve)."""
    definite: dict[str, str | None] = {}
    maybe: set[str] = set()
    names: list[str] = []
    assignments, eligibility, policies, users = await asyncio.gather(
        ctx.source("role_assignments"),
        ctx.source("role_eligibility"),
        ctx.source("conditional_access"),
        ctx.source("users"),
    )
    for rec in assignments.records or []:
        principal = rec.get("principal") or {}
        if "group" in str(principal.get("@odata.type", "")).lower():
            gid = str(rec.get("principalId") or principal.get("id"))
            definite[gid] = principal.get("displayName") or definite.get(gid)
    user_ids = {u.get("id") for u in (users.records or [])} if users.status == "collected" else None
    for rec in eligibility.records or []:
        pid = rec.get("principalId")
        if pid and (user_ids is None or pid not in user_ids):
            maybe.add(str(pid))
    for policy in policies.records or []:
        cond = ((policy or {}).get("conditions") or {}).get("users") or {}
        for key in ("includeGroups", "excludeGroups"):
            for gid in cond.get(key) or []:
                if gid and gid not in ("All", "None"):
                    definite.setdefault(str(gid), None)
    for entry in ctx.config.classification.service_accounts.groups:
        if _GUID.match(entry):
            definite.setdefault(entry, None)
        else:
            names.append(entry)
    for entry in ctx.config.classification.emergency_access:  # UPNs, user ids or groups
        if _GUID.match(entry):
            maybe.add(entry)
        elif "@" not in entry:
            names.append(entry)
    return definite, maybe - set(definite), names


async def fetch_group_members(ctx: CollectContext) -> Any:
    """Transitive members of every group referenced by roles, CA policies and the configuration.

    A referenced group that no longer exists (404) has no members and is left out.
    """
    g = ctx.graph
    groups, maybe, names = await _referenced_groups(ctx)
    for name in names:
        flt = "displayName eq '" + name.replace("'", "''") + "'"
        found = await g.get_all(g.url("v1.0", f"/groups?$filter={_q(flt)}&$select=id,displayName"))
        for item in found:
            if isinstance(item, dict) and item.get("id"):
                groups[str(item["id"])] = item.get("displayName")
    for gid in sorted(maybe):
        groups.setdefault(gid, None)

    async def one(gid: str) -> dict[str, Any] | None:
        url = g.url("v1.0", f"/groups/{_seg(gid)}/transitiveMembers?$select=id,userPrincipalName&$top=999")
        try:
            members = await g.get_all(url)
        except ApiError as exc:
            if exc.status == 404:
                return None  # not a group (an eligible service principal) or a deleted group
            raise
        return {"id": gid, "displayName": groups.get(gid), "members": members}

    limit = max(1, ctx.config.collect.max_concurrency)
    results = [r for r in await gather_limited([one(gid) for gid in groups], limit) if r is not None]
    unnamed = [r for r in results if not r["displayName"]]
    if unnamed:
        looked_up = await _group_names(ctx, [r["id"] for r in unnamed])
        for rec in unnamed:
            rec["displayName"] = looked_up.get(rec["id"])
    return results


async def _group_names(ctx: CollectContext, ids: list[str]) -> dict[str, str | None]:
    """Display names of groups by id: ``GET /groups/{id}?$select=id,displayName`` in $batches of 20.

    The name is cosmetic (reports say "via group X"), so a group whose name cannot be read keeps a
    ``None`` name (reports fall back to its id) and the reason is kept in the run notes.
    """
    requests = [
        {"id": str(i), "method": "GET", "url": f"/groups/{_seg(gid)}?$select=id,displayName"}
        for i, gid in enumerate(ids)
    ]
    answers = await ctx.graph.batch("v1.0", requests)
    names: dict[str, str | None] = {}
    problems: list[str] = []
    for i, gid in enumerate(ids):
        sub = answers[str(i)]
        body = sub.body if isinstance(sub.body, dict) else {}
        name = body.get("displayName") if sub.status == 200 else None
        names[gid] = name if isinstance(name, str) and name else None
        if sub.status != 200:
            err = sub_error(sub, f"/v1.0/groups/{gid}")
            problems.append(f"{gid}: HTTP {sub.status} {err.code}".rstrip())
    if problems:
        ctx.notes["group_names_unavailable"] = problems
        log.info("group names not readable for %d group(s): %s", len(problems), "; ".join(problems[:5]))
    return names


async def fetch_per_user_mfa(ctx: CollectContext) -> Any:
    g = ctx.graph
    try:
        records = await g.get_all(
            g.url("v1.0", "/users?$select=id,userPrincipalName,perUserMfaState&$top=999"),
            on_page=ctx.pager("per_user_mfa"),
        )
    except ApiError as exc:
        if exc.status not in (400, 403):
            raise
        users = await ctx.source("users")
        if users.status != "collected":
            raise
        records = [
            {"id": u.get("id"), "userPrincipalName": u.get("userPrincipalName")} for u in users.records
        ]
    if records and all(isinstance(r, dict) and "perUserMfaState" in r for r in records):
        ctx.notes["per_user_mfa_path"] = "bulk"
        return records
    ctx.notes["per_user_mfa_path"] = "per-user"
    return await _per_user_mfa_fallback(ctx, records)


async def _per_user_mfa_fallback(ctx: CollectContext, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documented route: beta ``/users/{id}/authentication/requirements`` in $batches of 20."""
    requests = [
        {"id": str(i), "method": "GET", "url": f"/users/{u['id']}/authentication/requirements"}
        for i, u in enumerate(users)
    ]
    answers = await ctx.graph.batch("beta", requests)
    out: list[dict[str, Any]] = []
    for i, user in enumerate(users):
        sub = answers[str(i)]
        if sub.status != 200 or not isinstance(sub.body, dict):
            raise sub_error(sub, f"/beta/users/{user['id']}/authentication/requirements")
        out.append(
            {
                "id": user["id"],
                "userPrincipalName": user.get("userPrincipalName"),
                "perUserMfaState": sub.body.get("perUserMfaState"),
            }
        )
    ctx.report("per_user_mfa", "running", len(out))
    return out


async def fetch_registration_details(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(
        g.url("v1.0", "/reports/authenticationMethods/userRegistrationDetails?$top=999"),
        on_page=ctx.pager("registration_details"),
    )


async def fetch_security_defaults(ctx: CollectContext) -> Any:
    g = ctx.graph
    return _strip_context(await g.get(g.url("v1.0", "/policies/identitySecurityDefaultsEnforcementPolicy")))


async def fetch_conditional_access(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/identity/conditionalAccess/policies"))


async def fetch_named_locations(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/identity/conditionalAccess/namedLocations"))


async def fetch_auth_methods_policy(ctx: CollectContext) -> Any:
    g = ctx.graph
    return _strip_context(await g.get(g.url("v1.0", "/policies/authenticationMethodsPolicy")))


async def fetch_mfa_service_policy(ctx: CollectContext) -> Any:
    g = ctx.graph
    body = await g.get(g.url("beta", "/policies/mfaServicePolicy"))
    if not isinstance(body, dict):
        raise MalformedResponse("/beta/policies/mfaServicePolicy", "not a JSON object")
    return _strip_context(body)


def sign_ins_filter(now: datetime, days: int) -> str:
    since = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    apps = " or ".join(f"clientAppUsed eq '{a}'" for a in LEGACY_CLIENT_APPS)
    return f"createdDateTime ge {since} and ({apps})"


async def fetch_sign_ins(ctx: CollectContext) -> Any:
    g = ctx.graph
    flt = sign_ins_filter(ctx.now, ctx.config.collect.sign_in_window_days)
    return await g.get_all(
        g.url("v1.0", f"/auditLogs/signIns?$filter={quote(flt, safe='()/:')}&$top=1000"),
        on_page=ctx.pager("sign_ins"),
    )


# ---------------------------------------------------------------- Exchange sources


def _exchange(ctx: CollectContext, source: str) -> ExchangeClient:
    if ctx.exchange is None:
        raise SourceError(source, ctx.exchange_error or "the Exchange admin API is not configured")
    return ctx.exchange


async def fetch_cas_mailboxes(ctx: CollectContext) -> Any:
    return await _exchange(ctx, "cas_mailboxes").invoke("Get-CASMailbox", {"ResultSize": "Unlimited"})


async def _exo_object(ctx: CollectContext, source: str, cmdlet: str) -> Any:
    values = await _exchange(ctx, source).invoke(cmdlet)
    if not values:
        raise SourceError(source, f"{cmdlet} returned no object")
    return values[0]


async def fetch_transport_config(ctx: CollectContext) -> Any:
    return await _exo_object(ctx, "transport_config", "Get-TransportConfig")


async def fetch_authentication_policies(ctx: CollectContext) -> Any:
    return await _exchange(ctx, "authentication_policies").invoke("Get-AuthenticationPolicy")


async def fetch_organization_config(ctx: CollectContext) -> Any:
    return await _exo_object(ctx, "organization_config", "Get-OrganizationConfig")


Fetcher = Callable[[CollectContext], Awaitable[Any]]

FETCHERS: dict[str, Fetcher] = {
    "users": fetch_users,
    "sign_in_activity": fetch_sign_in_activity,
    "role_definitions": fetch_role_definitions,
    "role_assignments": fetch_role_assignments,
    "role_eligibility": fetch_role_eligibility,
    "group_members": fetch_group_members,
    "per_user_mfa": fetch_per_user_mfa,
    "registration_details": fetch_registration_details,
    "security_defaults": fetch_security_defaults,
    "conditional_access": fetch_conditional_access,
    "named_locations": fetch_named_locations,
    "auth_methods_policy": fetch_auth_methods_policy,
    "mfa_service_policy": fetch_mfa_service_policy,
    "sign_ins": fetch_sign_ins,
    "cas_mailboxes": fetch_cas_mailboxes,
    "transport_config": fetch_transport_config,
    "authentication_policies": fetch_authentication_policies,
    "organization_config": fetch_organization_config,
}
