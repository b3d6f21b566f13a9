"""Role holdings: who holds which directory role, active or PIM-eligible, directly or via a group.

Every holding is kept, whatever ``classification.admin_roles`` says: Conditional Access resolves
``includeRoles``/``excludeRoles`` against all roles. The ``admin`` column says whether the holding makes
its holder an admin under that setting; ``scope`` is the assignment's ``directoryScopeId`` ("/" =
tenant-wide, else an administrative unit or object).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from auditor.model.roles import BUILTIN_ROLES, PRIVILEGED_ROLES

COLUMNS = [
    "user_id",
    "upn",
    "role_id",
    "role_name",
    "assignment",
    "via_group_id",
    "via_group_name",
    "privileged",
    "scope",
    "admin",
]


def _role_index(definitions: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Role definition id → (template id, display name)."""
    index = {tid: (tid, name) for tid, name in BUILTIN_ROLES.items()}
    for d in definitions:
        template = str(d.get("templateId") or d.get("id"))
        name = d.get("displayName") or BUILTIN_ROLES.get(template, template)
        index[str(d.get("id"))] = (template, name)
        index[template] = (template, name)
    return index


def _wanted(admin_roles: str | Sequence[str]) -> set[str] | None:
    if admin_roles == "all":
        return None
    return {str(r).strip().lower() for r in admin_roles}


def build_role_holdings(
    definitions: list[dict[str, Any]],
    assignments: list[dict[str, Any]],
    eligibility: list[dict[str, Any]],
    groups: dict[str, dict[str, Any]],
    users: pd.DataFrame,
    admin_roles: str | Sequence[str],
) -> pd.DataFrame:
    roles = _role_index(definitions)
    wanted = _wanted(admin_roles)
    upn_by_id = dict(zip(users["id"].tolist(), users["upn"].tolist(), strict=True))
    rows: list[tuple[Any, ...]] = []

    def add(record: dict[str, Any], kind: str) -> None:
        principal, role_def = str(record.get("principalId")), str(record.get("roleDefinitionId"))
        scope = str(record.get("directoryScopeId") or "/")
        template, name = roles.get(role_def, (role_def, role_def))
        admin = wanted is None or template.lower() in wanted or name.lower() in wanted
        privileged = template in PRIVILEGED_ROLES
        if principal in groups:
            group = groups[principal]
            for member in group["members"]:
                rows.append(
                    (
                        member,
                        upn_by_id.get(member, ""),
                        template,
                        name,
                        kind,
                        principal,
                        group["name"],
                        privileged,
                        scope,
                        admin,
                    )
                )
        else:
            rows.append(
                (principal, upn_by_id.get(principal, ""), template, name, kind, None, None, privileged, scope, admin)
            )

    for a in assignments:
        add(a, "active")
    for e in eligibility:
        add(e, "eligible")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.drop_duplicates(
        subset=["user_id", "role_id", "assignment", "via_group_id", "scope"], ignore_index=True
    )
