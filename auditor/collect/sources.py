"""The source registry: one :class:`Source` per entry of :data:`auditor.sources.SOURCES`.

A ``Source`` joins the declarative spec (endpoint or cmdlet, permissions, licence, ``depends_on``) with
the fetch coroutine and the doctor probe, declared together here with :func:`source`. The collector, the
doctor and the registry-walking tests all read :data:`REGISTRY`; nothing keeps a second list.

A fetcher returns the source's raw records exactly as the API sent them (only the per-response
``@odata.context`` annotation is dropped from singleton objects) or raises :class:`SourceError`; the
collector turns that into coverage. Fetchers that depend on another source await it through the context.

**The snapshot is the boundary.** Nothing here reads the classification settings: a snapshot must serve
any later offline run, whatever its configuration. Groups are therefore chosen config-free
(:func:`fetch_group_members`): every *security-enabled* group of the tenant is expanded (service-account
groups, role-assignable groups and the groups CA policies target are all security groups), plus any
other group a role assignment, PIM eligibility or CA policy names. Listing the groups is one cheap
identity call per 999 groups and each expansion one call (usually one page), so a re-run with other
``classification.service_accounts.groups`` finds their members in the snapshot; a configured group the
snapshot does not hold is reported as unresolved by the model (a coverage note), never silently empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from auditor.collect.exchange import ExchangeClient
from auditor.collect.graph import GraphClient, gather_limited, sub_error
from auditor.config import AuditorConfig, TenantConfig
from auditor.errors import AuthError, LicenceMissing, PermissionDenied, SourceError
from auditor.snapshot import SourceData
from auditor.sources import LEGACY_CLIENT_APPS, SOURCES, SourceSpec
from auditor.transport.http import ApiError, MalformedResponse

USER_FIELDS = (
    "id,userPrincipalName,displayName,userType,accountEnabled,createdDateTime,assignedLicenses,"
    "onPremisesSyncEnabled,mail,jobTitle,department,passwordPolicies"
)
#: Graph limits the values of an ``in`` filter; 15 stays inside every documented limit
IN_CHUNK = 15
#: page size with signInActivity selected: at most 500 (graph-api.md §0)
ACTIVITY_PAGE = 500
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
        server = f"{exc.code}: {exc.message}".strip(": ") if (exc.code or exc.message) else f"HTTP {exc.status}"
        text = f"{exc.code} {exc.message}".lower()
        if spec.licence and exc.status in (400, 403) and any(h in text for h in _LICENCE_HINTS):
            return LicenceMissing(source, f"the tenant lacks the {spec.licence} licence this source needs ({server})")
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


def objects(data: SourceData | list[Any] | None) -> list[dict[str, Any]]:
    """The records of a source (or a page list) that are JSON objects, for fetchers reading another source.

    A ``null`` or otherwise malformed entry the API sent stays in that source's snapshot records (the model
    skips and counts it); here it is passed over, so it never fails a source that depends on it."""
    records = data.records if isinstance(data, SourceData) else data
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def _strip_context(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k != "@odata.context"}
    return obj


def _q(value: str) -> str:
    return quote(value, safe=",()/:'$=")


def _seg(value: str) -> str:
    """A tenant-supplied id as one URL path segment (it cannot add segments or a query)."""
    return quote(value, safe="")


# ---------------------------------------------------------------- the registry

Fetcher = Callable[[CollectContext], Awaitable[Any]]


@dataclass
class ProbeContext:
    """What a doctor probe may use: the clients, the configuration and the time."""

    graph: GraphClient
    exchange: ExchangeClient | None
    config: AuditorConfig
    now: datetime
    #: property-name shapes some probes keep for the doctor's report (never values)
    shapes: dict[str, Any] = field(default_factory=dict)


Prober = Callable[[ProbeContext], Awaitable[None]]


@dataclass(frozen=True)
class Source:
    """One data item: its declarative spec plus how to fetch it and how the doctor probes it."""

    spec: SourceSpec
    fetch: Fetcher
    probe: Prober

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def permissions(self) -> tuple[str, ...]:
        return self.spec.permissions

    @property
    def licence(self) -> str:
        return self.spec.licence

    @property
    def depends_on(self) -> tuple[str, ...]:
        return self.spec.depends_on


REGISTRY: dict[str, Source] = {}


def source(name: str, probe: Prober) -> Callable[[Fetcher], Fetcher]:
    """Register ``fetch`` (the decorated coroutine) and ``probe`` for the catalog entry ``name``."""

    def register(fetch: Fetcher) -> Fetcher:
        if name not in SOURCES:
            raise KeyError(f"{name} is not in auditor.sources.SOURCES")
        if name in REGISTRY:
            raise ValueError(f"source {name} registered twice")
        REGISTRY[name] = Source(SOURCES[name], fetch, probe)
        return fetch

    return register


def graph_probe(version: str, path: str) -> Prober:
    """A probe that GETs one cheap page exercising the same permission and licence."""

    async def probe(p: ProbeContext) -> None:
        await p.graph.get(p.graph.url(version, path))

    return probe


def exchange_probe(cmdlet: str, **parameters: Any) -> Prober:
    async def probe(p: ProbeContext) -> None:
        if p.exchange is None:
            raise SourceError(cmdlet, "no Exchange Online token")
        await p.exchange.invoke(cmdlet, parameters)

    return probe


# ---------------------------------------------------------------- Graph sources


@source("users", graph_probe("v1.0", "/users?$select=id&$top=1"))
async def fetch_users(ctx: CollectContext) -> Any:
    """Every user, without signInActivity (a reports-bucket property, see :func:`fetch_sign_in_activity`)."""
    g = ctx.graph
    return await g.get_all(g.url("v1.0", f"/users?$select={USER_FIELDS}&$top=999"), on_page=ctx.pager("users"))


async def role_holder_ids(ctx: CollectContext) -> list[str]:
    """Users who hold a directory role: active or eligible, directly or through a group's members."""
    assignments, eligibility, groups = await asyncio.gather(
        ctx.source("role_assignments"), ctx.source("role_eligibility"), ctx.source("group_members")
    )
    if assignments.status != "collected":
        raise SourceError("sign_in_activity", "role assignments could not be collected, so admins are unknown")
    principals = {str(r.get("principalId")) for r in objects(assignments) if r.get("principalId")}
    principals |= {str(r.get("principalId")) for r in objects(eligibility) if r.get("principalId")}
    out = set(principals)
    for group in objects(groups):
        if str(group.get("id")) in principals:
            out |= {str(m.get("id")) for m in group.get("members") or [] if isinstance(m, dict)}
    return sorted(out)


def _activity_denied(exc: ApiError) -> SourceError:
    if exc.status == 400 and "users at a time" in exc.message:
        # 2023 service: a non-OData body {"value": "Cannot query data for more than 120 users at a time."}
        return SourceError("sign_in_activity", f"Graph refused the page size for signInActivity ({exc.message})")
    return describe("sign_in_activity", exc)


probe_activity = graph_probe("v1.0", "/users?$select=id,signInActivity&$top=1")


@source("sign_in_activity", probe_activity)
async def fetch_sign_in_activity(ctx: CollectContext) -> Any:
    """``{user id: signInActivity}`` for the role holders only, paced in the reports bucket.

    ``signInActivity`` costs a reports-bucket request per page (5 / 10 s and 10 / minute), so it is read
    with ``$filter=id in (...)`` for the few users rules need it for instead of on every ``/users`` page.
    A failure here fails only this source, never ``users``.
    """
    users = await ctx.source("users")
    if users.status != "collected":
        raise SourceError("sign_in_activity", "users could not be collected, so neither could their sign-in dates")
    known = {str(u.get("id")) for u in objects(users)}
    ids = [i for i in await role_holder_ids(ctx) if i in known]
    g = ctx.graph
    out: dict[str, Any] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        flt = "id in (" + ",".join("'" + i.replace("'", "''") + "'" for i in chunk) + ")"
        url = g.url("v1.0", f"/users?$filter={_q(flt)}&$select=id,signInActivity&$top={ACTIVITY_PAGE}")
        try:
            records = await g.get_all(url)
        except ApiError as exc:
            raise _activity_denied(exc) from exc
        for rec in records:
            if isinstance(rec, dict) and rec.get("id"):
                out[str(rec["id"])] = rec.get("signInActivity")
    ctx.report("sign_in_activity", "running", len(out))
    return out


@source("role_definitions", graph_probe("v1.0", "/roleManagement/directory/roleDefinitions?$top=1"))
async def fetch_role_definitions(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/roleManagement/directory/roleDefinitions"))


@source("role_assignments", graph_probe("v1.0", "/roleManagement/directory/roleAssignments?$top=1"))
async def fetch_role_assignments(ctx: CollectContext) -> Any:
    # No $select here: Graph's $select would drop the expanded ``principal`` the model needs.
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/roleManagement/directory/roleAssignments?$expand=principal"))


@source("role_eligibility", graph_probe("v1.0", "/roleManagement/directory/roleEligibilityScheduleInstances?$top=1"))
async def fetch_role_eligibility(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/roleManagement/directory/roleEligibilityScheduleInstances"))


def role_groups(assignments: SourceData, eligibility: SourceData) -> list[str]:
    """Groups that hold a directory role (active, or eligible when the principal is a group)."""
    out: set[str] = set()
    for rec in objects(assignments):
        principal = rec.get("principal") or {}
        if "group" in str(principal.get("@odata.type", "")).lower() and rec.get("principalId"):
            out.add(str(rec["principalId"]))
    for rec in objects(eligibility):
        principal = rec.get("principal") or {}
        if "group" in str(principal.get("@odata.type", "")).lower() and rec.get("principalId"):
            out.add(str(rec["principalId"]))
    return sorted(out)


PIM_GROUPS = "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"


@source(
    "pim_group_eligibility",
    graph_probe(
        "v1.0",
        f"{PIM_GROUPS}?$filter=" + quote("groupId eq '00000000-0000-0000-0000-000000000000'", safe="'") + "&$top=1",
    ),
)
async def fetch_pim_group_eligibility(ctx: CollectContext) -> Any:
    """Eligible members and owners (PIM for Groups) of every group that holds a directory role."""
    assignments, eligibility = await asyncio.gather(ctx.source("role_assignments"), ctx.source("role_eligibility"))
    if assignments.status != "collected":
        raise SourceError("pim_group_eligibility", "role assignments could not be collected")
    g = ctx.graph

    async def one(gid: str) -> list[Any]:
        flt = "groupId eq '" + gid.replace("'", "''") + "'"
        return await g.get_all(g.url("v1.0", f"{PIM_GROUPS}?$filter={_q(flt)}"))

    limit = max(1, ctx.config.collect.max_concurrency)
    pages = await gather_limited([one(gid) for gid in role_groups(assignments, eligibility)], limit)
    return [rec for page in pages for rec in page]


@source("authentication_strengths", graph_probe("v1.0", "/policies/authenticationStrengthPolicies?$top=1"))
async def fetch_authentication_strengths(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/policies/authenticationStrengthPolicies"))


async def _referenced_groups(ctx: CollectContext) -> tuple[dict[str, str | None], set[str]]:
    """Groups roles and CA policies name: ({id: known name}, ids that may be other principals)."""
    definite: dict[str, str | None] = {}
    maybe: set[str] = set()
    assignments, eligibility, policies, users = await asyncio.gather(
        ctx.source("role_assignments"),
        ctx.source("role_eligibility"),
        ctx.source("conditional_access"),
        ctx.source("users"),
    )
    for rec in objects(assignments):
        principal = rec.get("principal") or {}
        if "group" in str(principal.get("@odata.type", "")).lower():
            gid = str(rec.get("principalId") or principal.get("id"))
            definite[gid] = principal.get("displayName") or definite.get(gid)
    user_ids = {u.get("id") for u in objects(users)} if users.status == "collected" else None
    for rec in objects(eligibility):
        pid = rec.get("principalId")
        if pid and (user_ids is None or pid not in user_ids):
            maybe.add(str(pid))
    for policy in objects(policies):
        cond = (policy.get("conditions") or {}).get("users") or {}
        for key in ("includeGroups", "excludeGroups"):
            for gid in cond.get(key) or []:
                if gid and gid not in ("All", "None"):
                    definite.setdefault(str(gid), None)
    return definite, maybe - set(definite)


@source("group_members", graph_probe("v1.0", "/groups?$select=id&$top=1"))
async def fetch_group_members(ctx: CollectContext) -> Any:
    """Transitive members of every security group plus every group roles and CA policies name.

    Config-free (see the module docstring). A referenced id that is not a group (an eligible service
    principal) or a group deleted since it was listed (404) is left out.
    """
    g = ctx.graph
    groups, maybe = await _referenced_groups(ctx)
    try:
        listing = await g.get_all(
            g.url("v1.0", "/groups?$filter=" + _q("securityEnabled eq true") + "&$select=id,displayName&$top=999"),
            on_page=ctx.pager("group_members"),
        )
    except ApiError as exc:
        # the groups roles and CA policies name are still expanded; a configured service-account group
        # the snapshot then lacks is reported unresolved by the model, never silently empty
        listing = []
        ctx.notes["security_groups_unlisted"] = describe("group_members", exc).reason
        log.info("security groups not listed: %s", ctx.notes["security_groups_unlisted"])
    for item in listing:
        if isinstance(item, dict) and item.get("id"):
            groups[str(item["id"])] = item.get("displayName") or groups.get(str(item["id"]))
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


async def probe_per_user_mfa(p: ProbeContext) -> None:
    g = p.graph
    body = await g.get(g.url("v1.0", "/users?$select=id,perUserMfaState&$top=1"))
    value = (body or {}).get("value") or []
    if value and "perUserMfaState" not in value[0]:
        await g.get(g.url("beta", f"/users/{_seg(str(value[0]['id']))}/authentication/requirements"))


@source("per_user_mfa", probe_per_user_mfa)
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
        records = [{"id": u.get("id"), "userPrincipalName": u.get("userPrincipalName")} for u in objects(users)]
    listed = objects(records)  # a null entry in a page is the model's to count, not a reason to go per user
    if listed and all("perUserMfaState" in r for r in listed):
        ctx.notes["per_user_mfa_path"] = "bulk"
        return records
    ctx.notes["per_user_mfa_path"] = "per-user"
    unique: dict[str, dict[str, Any]] = {}
    for user in listed:  # once per user (a page may repeat one), and only users with an id to ask about
        if isinstance(user.get("id"), str) and user["id"]:
            unique.setdefault(user["id"], user)
    return await _per_user_mfa_fallback(ctx, list(unique.values()))


async def _per_user_mfa_fallback(ctx: CollectContext, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documented route: beta ``/users/{id}/authentication/requirements`` in $batches of 20.

    A 404 sub-response (the user was deleted since the listing, or has not replicated yet) skips that
    user; the count of skipped users is kept in the run notes. Any other failure fails the source.
    """
    requests = [
        {"id": str(i), "method": "GET", "url": f"/users/{_seg(str(u['id']))}/authentication/requirements"}
        for i, u in enumerate(users)
    ]
    answers = await ctx.graph.batch("beta", requests)
    out: list[dict[str, Any]] = []
    skipped = 0
    for i, user in enumerate(users):
        sub = answers[str(i)]
        if sub.status == 404:
            skipped += 1
            continue
        if sub.status != 200 or not isinstance(sub.body, dict):
            raise sub_error(sub, f"/beta/users/{user['id']}/authentication/requirements")
        out.append(
            {
                "id": user["id"],
                "userPrincipalName": user.get("userPrincipalName"),
                "perUserMfaState": sub.body.get("perUserMfaState"),
            }
        )
    if skipped:
        ctx.notes["per_user_mfa_skipped"] = skipped
        log.info("per-user MFA: %d user(s) no longer found (HTTP 404) were skipped", skipped)
    ctx.report("per_user_mfa", "running", len(out))
    return out


@source("registration_details", graph_probe("v1.0", "/reports/authenticationMethods/userRegistrationDetails?$top=1"))
async def fetch_registration_details(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(
        g.url("v1.0", "/reports/authenticationMethods/userRegistrationDetails?$top=999"),
        on_page=ctx.pager("registration_details"),
    )


@source("security_defaults", graph_probe("v1.0", "/policies/identitySecurityDefaultsEnforcementPolicy"))
async def fetch_security_defaults(ctx: CollectContext) -> Any:
    g = ctx.graph
    return _strip_context(await g.get(g.url("v1.0", "/policies/identitySecurityDefaultsEnforcementPolicy")))


@source("conditional_access", graph_probe("v1.0", "/identity/conditionalAccess/policies?$top=1"))
async def fetch_conditional_access(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/identity/conditionalAccess/policies"))


@source("named_locations", graph_probe("v1.0", "/identity/conditionalAccess/namedLocations?$top=1"))
async def fetch_named_locations(ctx: CollectContext) -> Any:
    g = ctx.graph
    return await g.get_all(g.url("v1.0", "/identity/conditionalAccess/namedLocations"))


#: method configuration ids of the authentication methods policy (read one by one when not inline)
METHOD_CONFIGURATIONS = (
    "Fido2",
    "MicrosoftAuthenticator",
    "Sms",
    "Voice",
    "Email",
    "SoftwareOath",
    "TemporaryAccessPass",
    "X509Certificate",
    "HardwareOath",
)


@source("auth_methods_policy", graph_probe("v1.0", "/policies/authenticationMethodsPolicy"))
async def fetch_auth_methods_policy(ctx: CollectContext) -> Any:
    """The policy with its ``authenticationMethodConfigurations`` (fetched per method in $batch if absent).

    A method the tenant does not have (404) is left out; the list is then what the tenant answered."""
    g = ctx.graph
    policy = _strip_context(await g.get(g.url("v1.0", "/policies/authenticationMethodsPolicy")))
    if not isinstance(policy, dict) or isinstance(policy.get("authenticationMethodConfigurations"), list):
        return policy
    base = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations"
    requests = [{"id": m, "method": "GET", "url": f"{base}/{m}"} for m in METHOD_CONFIGURATIONS]
    answers = await g.batch("v1.0", requests)
    configs = []
    for method in METHOD_CONFIGURATIONS:
        sub = answers[method]
        if sub.status == 200 and isinstance(sub.body, dict):
            configs.append(_strip_context(sub.body))
        elif sub.status != 404:
            raise sub_error(sub, f"/v1.0{base}/{method}")
    return {**policy, "authenticationMethodConfigurations": configs}


async def probe_mfa_service_policy(p: ProbeContext) -> None:
    """Probe, and keep the *shape* (property names, never values) for the doctor's report."""
    body = await p.graph.get(p.graph.url("beta", "/policies/mfaServicePolicy"))
    p.shapes["mfa_service_policy"] = shape_of(_strip_context(body))


@source("mfa_service_policy", probe_mfa_service_policy)
async def fetch_mfa_service_policy(ctx: CollectContext) -> Any:
    g = ctx.graph
    body = await g.get(g.url("beta", "/policies/mfaServicePolicy"))
    if not isinstance(body, dict):
        raise MalformedResponse("/beta/policies/mfaServicePolicy", "not a JSON object")
    return _strip_context(body)


def shape_of(value: Any, depth: int = 0) -> Any:
    """The property names of a JSON value, recursively, with every value replaced by its JSON type."""
    if isinstance(value, dict) and depth < 6:
        return {str(k): shape_of(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        kinds = {json_type(v) for v in value}
        first = next((v for v in value if isinstance(v, dict)), None)
        return [shape_of(first, depth + 1)] if first is not None else [f"{'|'.join(sorted(kinds)) or 'empty'}"]
    return json_type(value)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


NON_INTERACTIVE = "signInEventTypes/any(t: t eq 'nonInteractiveUser')"


def sign_ins_filter(now: datetime, days: int) -> str:
    since = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    apps = " or ".join(f"clientAppUsed eq '{a}'" for a in LEGACY_CLIENT_APPS)
    return f"createdDateTime ge {since} and ({apps})"


def _sign_ins_url(g: GraphClient, version: str, flt: str, top: int) -> str:
    return g.url(version, f"/auditLogs/signIns?$filter={quote(flt, safe='()/:')}&$top={top}")


async def probe_sign_ins(p: ProbeContext) -> None:
    flt = sign_ins_filter(p.now, p.config.collect.sign_in_window_days)
    await p.graph.get(_sign_ins_url(p.graph, "v1.0", flt, 1))
    await p.graph.get(_sign_ins_url(p.graph, "beta", f"{flt} and {NON_INTERACTIVE}", 1))


@source("sign_ins", probe_sign_ins)
async def fetch_sign_ins(ctx: CollectContext) -> Any:
    """Legacy-client sign-ins in the window: interactive (v1.0) and non-interactive (beta only).

    v1.0 returns interactive sign-ins only; app passwords and legacy clients also show up among the
    non-interactive ones, which only beta's ``signInEventTypes`` filter returns. Both are collected; a
    record seen in both lists is kept once.
    """
    g = ctx.graph
    flt = sign_ins_filter(ctx.now, ctx.config.collect.sign_in_window_days)
    interactive, non_interactive = await asyncio.gather(
        g.get_all(_sign_ins_url(g, "v1.0", flt, 1000), on_page=ctx.pager("sign_ins")),
        g.get_all(_sign_ins_url(g, "beta", f"{flt} and {NON_INTERACTIVE}", 1000)),
    )
    seen: set[str] = set()
    out: list[Any] = []
    for rec in [*interactive, *non_interactive]:
        key = str(rec.get("id")) if isinstance(rec, dict) and rec.get("id") else None
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        out.append(rec)
    return out


# ---------------------------------------------------------------- Exchange sources


def _exchange(ctx: CollectContext, source: str) -> ExchangeClient:
    if ctx.exchange is None:
        raise SourceError(source, ctx.exchange_error or "the Exchange admin API is not configured")
    return ctx.exchange


async def _exo_list(ctx: CollectContext, name: str, parameters: dict[str, Any] | None = None) -> Any:
    return await _exchange(ctx, name).invoke(SOURCES[name].cmdlet, parameters)


async def _exo_object(ctx: CollectContext, name: str) -> Any:
    cmdlet = SOURCES[name].cmdlet
    values = await _exchange(ctx, name).invoke(cmdlet)
    if not values:
        raise SourceError(name, f"{cmdlet} returned no object")
    return values[0]


@source("cas_mailboxes", exchange_probe("Get-CASMailbox", ResultSize=1))
async def fetch_cas_mailboxes(ctx: CollectContext) -> Any:
    return await _exo_list(ctx, "cas_mailboxes", {"ResultSize": "Unlimited"})


@source("mailboxes", exchange_probe("Get-Mailbox", ResultSize=1))
async def fetch_mailboxes(ctx: CollectContext) -> Any:
    return await _exo_list(ctx, "mailboxes", {"ResultSize": "Unlimited"})


@source("exchange_users", exchange_probe("Get-User", ResultSize=1))
async def fetch_exchange_users(ctx: CollectContext) -> Any:
    return await _exo_list(ctx, "exchange_users", {"ResultSize": "Unlimited"})


@source("transport_config", exchange_probe("Get-TransportConfig"))
async def fetch_transport_config(ctx: CollectContext) -> Any:
    return await _exo_object(ctx, "transport_config")


@source("authentication_policies", exchange_probe("Get-AuthenticationPolicy"))
async def fetch_authentication_policies(ctx: CollectContext) -> Any:
    return await _exo_list(ctx, "authentication_policies")


@source("organization_config", exchange_probe("Get-OrganizationConfig"))
async def fetch_organization_config(ctx: CollectContext) -> Any:
    return await _exo_object(ctx, "organization_config")
