"""Graph directory object routes: a group by id, groups by name, and the tenant's organization object.

Groups come from the snapshot's ``group_members`` records (``{id, displayName, members}``; ``members`` is a
navigation property, never a group property). The organization comes from the snapshot's tenant meta:
``tenant_id``, ``display_name``, ``default_domain`` and, optionally, ``verified_domains`` (a list of
domain names or of ``{name, isDefault, isInitial}`` objects).
"""

from __future__ import annotations

import re
from typing import Any

from auditor.sim.paging import list_page, select_fields
from auditor.sim.routing import Route, SimContext, route, unavailable_source
from auditor.sim.wire import SimRequest, SimResponse, graph_error, resource_not_found

#: the group properties Graph v1.0 returns without $select (a value the snapshot lacks is served as null)
GROUP_PROPS = (
    "id",
    "deletedDateTime",
    "classification",
    "createdDateTime",
    "creationOptions",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "securityEnabled",
    "securityIdentifier",
    "theme",
    "visibility",
    "onPremisesProvisioningErrors",
    "serviceProvisioningErrors",
)
ORG_PROPS = (
    "id",
    "deletedDateTime",
    "businessPhones",
    "city",
    "country",
    "countryLetterCode",
    "createdDateTime",
    "defaultUsageLocation",
    "displayName",
    "marketingNotificationEmails",
    "onPremisesLastSyncDateTime",
    "onPremisesSyncEnabled",
    "postalCode",
    "preferredLanguage",
    "securityComplianceNotificationMails",
    "securityComplianceNotificationPhones",
    "state",
    "street",
    "technicalNotificationMails",
    "tenantType",
    "assignedPlans",
    "provisionedPlans",
    "verifiedDomains",
)
_LIST_DEFAULTS = {
    "businessPhones",
    "marketingNotificationEmails",
    "securityComplianceNotificationMails",
    "securityComplianceNotificationPhones",
    "technicalNotificationMails",
    "assignedPlans",
    "provisionedPlans",
    "groupTypes",
    "proxyAddresses",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "creationOptions",
    "onPremisesProvisioningErrors",
    "serviceProvisioningErrors",
}
_GROUP_FILTERABLE = {
    p.lower(): p
    for p in ("id", "displayName", "mail", "mailNickname", "securityEnabled", "mailEnabled", "isAssignableToRole")
}
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+('(?:[^']|'')*'|true|false)\s*$", re.IGNORECASE)


def _properties(req: SimRequest, known: tuple[str, ...], type_name: str, route_name: str) -> list[str] | SimResponse:
    """The properties to serve (``$select`` in the order asked, else all), or Graph's 400."""
    fields = select_fields(req)
    if not fields:
        return list(known)
    by_lower = {p.lower(): p for p in known}
    unknown = [f for f in fields if f.lower() not in by_lower]
    if unknown:
        return graph_error(
            400,
            "Request_BadRequest",
            f"Could not find a property named '{unknown[0]}' on type '{type_name}'.",
            route_name,
        )
    return [by_lower[f.lower()] for f in fields]


def _project(record: dict[str, Any], props: list[str]) -> dict[str, Any]:
    return {p: record.get(p, [] if p in _LIST_DEFAULTS else None) for p in props}


def _entity_set(req: SimRequest, name: str, props: list[str]) -> str:
    """``groups`` or, under ``$select``, ``groups(id,displayName)`` as in Graph's ``@odata.context``."""
    return f"{name}({','.join(props)})" if select_fields(req) else name


def _entity_context(req: SimRequest, name: str, props: list[str]) -> str:
    return f"{req.base_url}/{req.version}/$metadata#{_entity_set(req, name, props)}/$entity"


# ---------------------------------------------------------------- groups


def _group_record(group: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in group.items() if k not in ("members", "@odata.type")}


def get_group(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    missing = unavailable_source(req, "group_members", "groups")
    if missing:
        return missing
    props = _properties(req, GROUP_PROPS, "microsoft.graph.group", "groups")
    if isinstance(props, SimResponse):
        return props
    gid = m.group("gid")
    group = req.tenant.groups.get(gid.lower())
    if group is None:
        return resource_not_found(gid, "groups")
    body: dict[str, Any] = {"@odata.context": _entity_context(req, "groups", props)}
    body.update(_project(_group_record(group), props))
    return SimResponse(200, body, route="groups")


def _parse_group_filter(text: str) -> list[tuple[str, Any]] | None:
    clauses: list[tuple[str, Any]] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(part)
        if not m or m.group(1).lower() not in _GROUP_FILTERABLE:
            return None
        raw = m.group(2)
        value: Any = raw.lower() == "true" if raw.lower() in ("true", "false") else raw[1:-1].replace("''", "'")
        clauses.append((_GROUP_FILTERABLE[m.group(1).lower()], value))
    return clauses


def _group_matches(group: dict[str, Any], clauses: list[tuple[str, Any]]) -> bool:
    for prop, value in clauses:
        # snapshot records without the flag are the security groups roles and CA policies use
        have = group.get(prop, True) if prop == "securityEnabled" else group.get(prop)
        if isinstance(value, str) and isinstance(have, str):
            if have.lower() != value.lower():  # Graph compares directory strings case-insensitively
                return False
        elif have != value:
            return False
    return True


def list_groups(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
    missing = unavailable_source(req, "group_members", "groups")
    if missing:
        return missing
    props = _properties(req, GROUP_PROPS, "microsoft.graph.group", "groups")
    if isinstance(props, SimResponse):
        return props
    groups = list(req.tenant.groups.values())
    filt = req.query.get("filter", "")
    if filt:
        clauses = _parse_group_filter(filt)
        if clauses is None:
            return graph_error(
                400,
                "Request_UnsupportedQuery",
                "Unsupported or invalid query filter clause specified for resource 'Group'.",
                "groups",
            )
        groups = [g for g in groups if _group_matches(g, clauses)]
    return list_page(
        req,
        "groups",
        groups,
        ctx.page_tokens,
        context=_entity_set(req, "groups", props),
        default=ctx.options.default_page,
        maximum=999,
        project=lambda g: _project(_group_record(g), props),
    )


# ---------------------------------------------------------------- organization


def verified_domains(tenant: Any) -> list[dict[str, Any]]:
    """``verifiedDomains`` for a served tenant: its default domain plus the initial onmicrosoft.com one."""
    meta = tenant.snapshot.tenant
    default = tenant.default_domain.lower()
    initial = re.sub(r"[^a-z0-9]", "", tenant.name.lower()) or "tenant"
    initial_domain = default if default.endswith(".onmicrosoft.com") else f"{initial}.onmicrosoft.com"
    names: list[str] = [default]
    extra = meta.get("verified_domains")
    if isinstance(extra, list):
        for item in extra:
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(name, str) and name and name.lower() not in names:
                names.append(name.lower())
    if initial_domain not in names:
        names.append(initial_domain)
    return [
        {
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": name == default,
            "isInitial": name == initial_domain,
            "name": name,
            "type": "Managed",
        }
        for name in names
    ]


def organization_record(tenant: Any) -> dict[str, Any]:
    meta = tenant.snapshot.tenant
    return {
        "id": tenant.tenant_id,
        "displayName": str(meta.get("display_name") or tenant.name),
        "tenantType": "AAD",
        "verifiedDomains": verified_domains(tenant),
    }


def list_organization(ctx: SimContext, req: SimRequest, _m: re.Match[str]) -> SimResponse:
    props = _properties(req, ORG_PROPS, "microsoft.graph.organization", "organization")
    if isinstance(props, SimResponse):
        return props
    items = [organization_record(req.tenant)]
    return list_page(
        req,
        "organization",
        items,
        ctx.page_tokens,
        context=_entity_set(req, "organization", props),
        default=ctx.options.default_page,
        maximum=999,
        project=lambda o: _project(o, props),
    )


def get_organization(ctx: SimContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    props = _properties(req, ORG_PROPS, "microsoft.graph.organization", "organization")
    if isinstance(props, SimResponse):
        return props
    oid = m.group("oid")
    if oid.lower() != req.tenant.tenant_id.lower():
        return resource_not_found(oid, "organization")
    body: dict[str, Any] = {"@odata.context": _entity_context(req, "organization", props)}
    body.update(_project(organization_record(req.tenant), props))
    return SimResponse(200, body, route="organization")


ROUTES: list[Route] = [
    route("GET", r"^/groups/?$", "groups", list_groups),
    route("GET", r"^/groups/(?P<gid>[^/]+)/?$", "groups", get_group),
    route("GET", r"^/organization/?$", "organization", list_organization),
    route("GET", r"^/organization/(?P<oid>[^/]+)/?$", "organization", get_organization),
]
