"""Graph directory routes: users, per-user MFA, roles, groups and tenant policies."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from auditor.sim.paging import list_page, projector, select_fields
from auditor.sim.permissions import SIGN_IN_ACTIVITY_PERMISSION
from auditor.sim.routing import Route, SimContext, licence_error, route, unavailable_source
from auditor.sim.wire import SimRequest, SimResponse, denied, graph_error, resource_not_found

DEFAULT_USER_PROPS = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
USER_PROPS = (
    *DEFAULT_USER_PROPS,
    "accountEnabled",
    "assignedLicenses",
    "assignedPlans",
    "createdDateTime",
    "creationType",
    "department",
    "employeeId",
    "employeeType",
    "externalUserState",
    "identities",
    "lastPasswordChangeDateTime",
    "mailNickname",
    "onPremisesSyncEnabled",
    "onPremisesImmutableId",
    "onPremisesSamAccountName",
    "otherMails",
    "passwordPolicies",
    "proxyAddresses",
    "signInActivity",
    "usageLocation",
    "userType",
    "companyName",
    "city",
    "country",
    "manager",
    "perUserMfaState",
    "isResourceAccount",
)
_USER_PROP_MAP = {p.lower(): p for p in USER_PROPS}
FILTERABLE = {
    p.lower(): p
    for p in (
        "accountEnabled",
        "userType",
        "id",
        "userPrincipalName",
        "mail",
        "onPremisesSyncEnabled",
        "department",
        "jobTitle",
        "displayName",
    )
}
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+('(?:[^']|'')*'|true|false|null)\s*$", re.IGNORECASE)
_IN_CLAUSE = re.compile(r"^\s*(\w+)\s+in\s+\(\s*('(?:[^']|'')*'(?:\s*,\s*'(?:[^']|'')*')*)\s*\)\s*$", re.IGNORECASE)
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
#: Graph's limit on the values of one ``in`` clause (directory objects)
MAX_IN_VALUES = 15
SENTINEL_DATE = "0001-01-01T00:00:00Z"
_ACTIVITY_DATES = ("lastSignInDateTime", "lastNonInteractiveSignInDateTime", "lastSuccessfulSignInDateTime")
_NON_ODATA_120 = "Cannot query data for more than 120 users at a time."


def _not_found(ident: str, route_name: str) -> SimResponse:
    return resource_not_found(ident, route_name)


def _parse_user_filter(text: str) -> list[tuple[str, Any]] | None:
    clauses: list[tuple[str, Any]] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        in_match = _IN_CLAUSE.match(part)
        if in_match and in_match.group(1).lower() in FILTERABLE:
            values = frozenset(v.replace("''", "'").lower() for v in _QUOTED.findall(in_match.group(2)))
            if len(values) > MAX_IN_VALUES:
                return None
            clauses.append((FILTERABLE[in_match.group(1).lower()], values))
            continue
        m = _CLAUSE.match(part)
        if not m or m.group(1).lower() not in FILTERABLE:
            return None
        raw = m.group(2)
        value: Any
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif raw.lower() == "null":
            value = None
        else:
            value = raw[1:-1].replace("''", "'")
        clauses.append((FILTERABLE[m.group(1).lower()], value))
    return clauses


def _matches(user: dict[str, Any], clauses: list[tuple[str, Any]]) -> bool:
    for prop, value in clauses:
        have = user.get(prop)
        if isinstance(value, frozenset):
            if not isinstance(have, str) or have.lower() not in value:
                return False
        elif isinstance(value, str) and isinstance(have, str):
            if have.lower() != value.lower():
                return False
        elif have != value:
            return False
    return True


def users_cost(req: SimRequest) -> int:
    """Identity resource units (graph-api.md §3.3): base 2, $select -1, $expand +1, $top<20 -1."""
    cost = 2
    if req.query.get("select"):
        cost -= 1
    if req.query.get("expand"):
        cost += 1
    try:
        if int(req.query.get("top", "100")) < 20:
            cost -= 1
    except ValueError:
        pass
    return max(1, cost)


def wants_sign_in_activity(req: SimRequest) -> bool:
    """Whether a /users request selects or filters on signInActivity (a reports-bucket property)."""
    fields = select_fields(req) or []
    return any(f.lower() == "signinactivity" for f in fields) or "signinactivity" in req.query.get("filter", "").lower()


def _activity_top_error(ctx: SimContext, req: SimRequest) -> SimResponse | None:
    """The page-size limits with signInActivity: 400 above 500 (the 2023 service: above 120, non-OData)."""
    try:
        top = int(req.query.get("top", "100"))
    except ValueError:
        return None
    opts = ctx.options
    if opts.sign_in_activity_2023 and top > 120:
        return SimResponse(
            400,
            {"@odata.context": f"{req.base_url}/{req.version}/$metadata#Edm.String", "value": _NON_ODATA_120},
            route="users",
        )
    if top > opts.sign_in_activity_max_top:
        return graph_error(
            400,
            "Request_UnsupportedQuery",
            f"Invalid page size specified: '{top}'. Must be between 1 and "
            f"{opts.sign_in_activity_max_top} inclusive when signInActivity is selected.",
            "users",
        )
    return None


def _with_sentinels(activity: Any) -> dict[str, Any]:
    """signInActivity as Graph serves it: a date without a value is "0001-01-01T00:00:00Z" (or "")."""
    out = dict(activity) if isinstance(activity, dict) else {}
    for key in _ACTIVITY_DATES:
        if not out.get(key):
            out[key] = "" if key == "lastSuccessfulSignInDateTime" else SENTINEL_DATE
    return out


def _activity_refused(ctx: SimContext, req: SimRequest) -> SimResponse | None:
    """The error a ``$select=signInActivity`` request gets (permission, licence, page size), or None."""
    if not SIGN_IN_ACTIVITY_PERMISSION.intersection(req.claims.get("roles", [])):
        return denied("users")
    if req.tenant.licence_missing("sign_in_activity") or not req.tenant.available("sign_in_activity"):
        return licence_error("sign_in_activity", "users")
    return _activity_top_error(ctx, req)


def list_users(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
    tenant = req.tenant
    missing = unavailable_source(req, "users", "users")
    if missing:
        return missing
    fields = select_fields(req)
    wants_activity = wants_sign_in_activity(req)
    filt = req.query.get("filter", "")
    refused = _activity_refused(ctx, req) if wants_activity else None
    if refused is not None:
        return refused
    if fields:
        unknown = [f for f in fields if f.lower() not in _USER_PROP_MAP]
        if unknown:
            return graph_error(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'.",
                "users",
            )
    if req.query.get("count", "").lower() == "true" and req.headers.get("ConsistencyLevel", "").lower() != "eventual":
        return graph_error(400, "Request_BadRequest", "$count is not currently supported.", "users")
    items: list[dict[str, Any]] = tenant.users
    if filt:
        clauses = _parse_user_filter(filt)
        if clauses is None:
            return graph_error(
                400,
                "Request_UnsupportedQuery",
                "Unsupported or invalid query filter clause specified for resource 'User'.",
                "users",
            )
        items = tenant.filters.get(("users", tuple(clauses)), lambda: [u for u in tenant.users if _matches(u, clauses)])
    mfa_allowed = (
        ctx.options.per_user_mfa_bulk
        and tenant.available("per_user_mfa")
        and bool({"Policy.Read.All"}.intersection(req.claims.get("roles", [])))
    )
    props = [_USER_PROP_MAP[f.lower()] for f in fields] if fields else list(DEFAULT_USER_PROPS)
    if not mfa_allowed and "perUserMfaState" in props:
        props.remove("perUserMfaState")  # undocumented property: silently absent when not served
    mfa = tenant.mfa_state
    sentinels = ctx.options.sentinel_dates

    def project(user: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for prop in props:
            if prop == "perUserMfaState":
                out[prop] = mfa.get(str(user.get("id", "")).lower(), "disabled")
            elif prop == "signInActivity" and sentinels:
                out[prop] = _with_sentinels(user.get(prop))
            else:
                out[prop] = user.get(prop)
        return out

    opts = ctx.options
    return list_page(
        req,
        "users",
        items,
        ctx.page_tokens,
        context="users" if not fields else f"users({','.join(props)})",
        default=opts.default_page,
        maximum=opts.users_max_page,
        project=project,
        silent_cap=opts.sign_in_activity_page_cap if wants_activity else None,
        count=req.query.get("count", "").lower() == "true",
    )


def get_user(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    tenant = req.tenant
    missing = unavailable_source(req, "users", "users")
    if missing:
        return missing
    idx = tenant.user_index.get(m.group("uid").lower())
    if idx is None:
        return _not_found(m.group("uid"), "users")
    user = tenant.users[idx]
    fields = select_fields(req)
    props = [_USER_PROP_MAP.get(f.lower(), f) for f in fields] if fields else list(DEFAULT_USER_PROPS)
    body = {"@odata.context": f"{req.base_url}/{req.version}/$metadata#users/$entity"}
    body.update({p: user.get(p) for p in props if p != "perUserMfaState"})
    return SimResponse(200, body, route="users")


def mfa_requirements(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    tenant = req.tenant
    missing = unavailable_source(req, "per_user_mfa", "per_user_mfa")
    if missing:
        return missing
    uid = m.group("uid")
    idx = tenant.user_index.get(uid.lower())
    vanished = {v.lower() for v in ctx.options.vanished_users}
    if idx is None or uid.lower() in vanished:
        return _not_found(uid, "per_user_mfa")
    user_id = str(tenant.users[idx].get("id", uid))
    state = tenant.mfa_state.get(user_id.lower(), "disabled")
    return SimResponse(
        200,
        {
            "@odata.context": f"{req.base_url}/beta/$metadata#users('{user_id}')/authentication/requirements/$entity",
            "perUserMfaState": state,
        },
        route="per_user_mfa",
    )


def _source_list(source: str, context: str, strip: tuple[str, ...] = ()) -> Any:
    def handler(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
        missing = unavailable_source(req, source, source)
        if missing:
            return missing
        records = req.tenant.records(source)
        expand = req.query.get("expand", "").lower()
        drop = tuple(s for s in strip if s.lower() not in expand)
        proj = projector(select_fields(req), always=("@odata.type",))

        def project(rec: Any) -> Any:
            if drop and isinstance(rec, dict):
                rec = {k: v for k, v in rec.items() if k not in drop}
            return proj(rec) if proj else rec

        return list_page(
            req,
            source,
            records,
            ctx.page_tokens,
            context=context,
            default=ctx.options.default_page,
            maximum=999,
            project=project,
        )

    return handler


def _source_object(source: str, context: str) -> Callable[[SimContext, SimRequest, re.Match[str]], SimResponse]:
    def handler(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
        missing = unavailable_source(req, source, source)
        if missing:
            return missing
        record = req.tenant.object(source)
        body: dict[str, Any] = {"@odata.context": f"{req.base_url}/{req.version}/$metadata#{context}"}
        if isinstance(record, dict):
            proj = projector(select_fields(req))
            body.update(proj(record) if proj else record)
        return SimResponse(200, body, route=source)

    return handler


_GROUP_ID_FILTER = re.compile(r"^\s*groupId\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


def pim_group_eligibility(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
    """PIM for Groups: the API needs ``$filter=groupId eq '...'`` (or principalId); all groups is a 400."""
    missing = unavailable_source(req, "pim_group_eligibility", "pim_group_eligibility")
    if missing:
        return missing
    m = _GROUP_ID_FILTER.match(req.query.get("filter", ""))
    if m is None:
        return graph_error(
            400, "BadRequest", "The filter on groupId or principalId is required.", "pim_group_eligibility"
        )
    gid = m.group(1).replace("''", "'").lower()
    records = [
        r
        for r in req.tenant.records("pim_group_eligibility")
        if isinstance(r, dict) and str(r.get("groupId", "")).lower() == gid
    ]
    return list_page(
        req,
        "pim_group_eligibility",
        records,
        ctx.page_tokens,
        context="identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
        default=ctx.options.default_page,
        maximum=999,
        project=projector(select_fields(req)),
        scope_extra=gid,
    )


def _methods_policy(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
    resp = _source_object("auth_methods_policy", "policies/authenticationMethodsPolicy/$entity")(ctx, req, _m)
    if resp.status == 200 and not ctx.options.method_configurations_inline and isinstance(resp.body, dict):
        resp.body.pop("authenticationMethodConfigurations", None)
    return resp


def method_configuration(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    missing = unavailable_source(req, "auth_methods_policy", "auth_methods_policy")
    if missing:
        return missing
    policy = req.tenant.object("auth_methods_policy") or {}
    mid = m.group("mid")
    for config in policy.get("authenticationMethodConfigurations") or []:
        if isinstance(config, dict) and str(config.get("id", "")).lower() == mid.lower():
            context = (
                f"{req.base_url}/{req.version}/$metadata#policies/authenticationMethodsPolicy/"
                "authenticationMethodConfigurations/$entity"
            )
            return SimResponse(200, {"@odata.context": context, **config}, route="auth_methods_policy")
    return _not_found(mid, "auth_methods_policy")


def group_members(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    missing = unavailable_source(req, "group_members", "group_members")
    if missing:
        return missing
    gid = m.group("gid")
    group = req.tenant.groups.get(gid.lower())
    if group is None:
        return _not_found(gid, "group_members")
    members = group.get("members") or []
    return list_page(
        req,
        "group_members",
        members,
        ctx.page_tokens,
        context="directoryObjects",
        default=ctx.options.default_page,
        maximum=999,
        project=projector(select_fields(req), always=("@odata.type",)),
        scope_extra=gid.lower(),
    )


ROUTES: list[Route] = [
    route("GET", r"^/users/?$", "users", list_users),
    route(
        "GET",
        r"^/users/(?P<uid>[^/]+)/authentication/requirements/?$",
        "per_user_mfa",
        mfa_requirements,
        versions=("beta",),
    ),
    route("GET", r"^/users/(?P<uid>[^/]+)/?$", "users", get_user),
    route(
        "GET",
        r"^/roleManagement/directory/roleDefinitions/?$",
        "role_definitions",
        _source_list("role_definitions", "roleManagement/directory/roleDefinitions"),
    ),
    route(
        "GET",
        r"^/roleManagement/directory/roleAssignments/?$",
        "role_assignments",
        _source_list("role_assignments", "roleManagement/directory/roleAssignments", strip=("principal",)),
    ),
    route(
        "GET",
        r"^/roleManagement/directory/roleEligibilityScheduleInstances/?$",
        "role_eligibility",
        _source_list("role_eligibility", "roleManagement/directory/roleEligibilityScheduleInstances"),
    ),
    route("GET", r"^/groups/(?P<gid>[^/]+)/transitiveMembers/?$", "group_members", group_members),
    route(
        "GET",
        r"^/policies/identitySecurityDefaultsEnforcementPolicy/?$",
        "security_defaults",
        _source_object("security_defaults", "policies/identitySecurityDefaultsEnforcementPolicy/$entity"),
    ),
    route("GET", r"^/policies/authenticationMethodsPolicy/?$", "auth_methods_policy", _methods_policy),
    route(
        "GET",
        r"^/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/(?P<mid>[^/]+)/?$",
        "auth_methods_policy",
        method_configuration,
    ),
    route(
        "GET",
        r"^/policies/authenticationStrengthPolicies/?$",
        "authentication_strengths",
        _source_list("authentication_strengths", "policies/authenticationStrengthPolicies"),
    ),
    route(
        "GET",
        r"^/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances/?$",
        "pim_group_eligibility",
        pim_group_eligibility,
    ),
    route(
        "GET",
        r"^/policies/mfaServicePolicy/?$",
        "mfa_service_policy",
        _source_object("mfa_service_policy", "policies/mfaServicePolicy/$entity"),
        versions=("beta",),
    ),
    route(
        "GET",
        r"^/identity/conditionalAccess/policies/?$",
        "conditional_access",
        _source_list("conditional_access", "identity/conditionalAccess/policies"),
        family="ca",
    ),
    route(
        "GET",
        r"^/identity/conditionalAccess/namedLocations/?$",
        "named_locations",
        _source_list("named_locations", "identity/conditionalAccess/namedLocations"),
        family="ca",
    ),
]
