"""Which application permission each simulated route needs, derived from the source catalog.

Route names are source names (``auditor/sources.py``); the "higher privileged" alternatives come from the
catalog's one table (:data:`auditor.sources.BROADER_PERMISSIONS`).
"""

from __future__ import annotations

from collections.abc import Collection

from auditor.model.roles import BUILTIN_ROLES
from auditor.sources import BROADER_PERMISSIONS, SOURCES

EXCHANGE_PERMISSION = "Exchange.ManageAsApp"
#: optional: the tenant's display name and default domain (GET /organization)
ORGANIZATION_PERMISSION = "Organization.Read.All"
GRAPH_RESOURCE = "https://graph.microsoft.com"
EXCHANGE_RESOURCE = "https://outlook.office365.com"

_BROADER = BROADER_PERMISSIONS


def _source_permission(name: str) -> str:
    return SOURCES[name].permissions[0]


def _any_of(permission: str) -> frozenset[str]:
    return frozenset((permission, *_BROADER.get(permission, ())))


#: route name -> the set of permissions of which the token needs at least one
ROUTE_PERMISSIONS: dict[str, frozenset[str]] = {
    name: _any_of(_source_permission(name))
    for name, spec in SOURCES.items()
    if spec.service == "graph" and name != "sign_in_activity"
}
for _ca_route in ("conditional_access", "named_locations"):
    ROUTE_PERMISSIONS[_ca_route] = ROUTE_PERMISSIONS[_ca_route] | {
        "Policy.Read.ConditionalAccess",
        "Policy.ReadWrite.ConditionalAccess",
    }
#: GET /groups/{id} and /groups?$filter=...: the permissions that list transitive members also read groups
ROUTE_PERMISSIONS["groups"] = ROUTE_PERMISSIONS["group_members"]
ROUTE_PERMISSIONS["organization"] = _any_of(ORGANIZATION_PERMISSION)
ROUTE_PERMISSIONS["send_mail"] = _any_of("Mail.Send")
ROUTE_PERMISSIONS["messages"] = _any_of("Mail.ReadWrite")
ROUTE_PERMISSIONS["upload_session"] = _any_of("Mail.ReadWrite")
#: signInActivity on /users additionally needs this
SIGN_IN_ACTIVITY_PERMISSION = _any_of(_source_permission("sign_in_activity"))

ALL_PERMISSIONS: frozenset[str] = frozenset(
    {p for spec in SOURCES.values() for p in spec.permissions}
    | {"Mail.Send", "Mail.ReadWrite", ORGANIZATION_PERMISSION}
)

_ROLE_IDS = {name.lower(): tid for tid, name in BUILTIN_ROLES.items()}


def role_template_ids(roles: Collection[str]) -> list[str]:
    """Directory role names (or template ids) to template ids, as carried in the ``wids`` claim."""
    out = []
    for role in roles:
        tid = _ROLE_IDS.get(role.lower(), role)
        out.append(tid)
    return sorted(set(out))


def has_permission(roles: Collection[str], route: str) -> bool:
    needed = ROUTE_PERMISSIONS.get(route)
    return needed is None or bool(needed.intersection(roles))
