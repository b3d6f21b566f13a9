"""PIM for Groups: eligible members of role-assignable groups hold the group's roles once they activate.

Source ``group_eligibility`` (optional, P2): the records of
``GET /identityGovernance/privilegedAccess/group/eligibilityScheduleInstances``
(https://learn.microsoft.com/graph/api/privilegedaccessgroup-list-eligibilityscheduleinstances), each a
privilegedAccessGroupEligibilityScheduleInstance with ``groupId``, ``principalId``, ``accessId``
(``member``/``owner``) and ``memberType``. Only ``member`` eligibility makes its holder an eligible holder of the
group's directory roles; an eligible *owner* manages membership but holds nothing until they add themselves.
ScubaGear counts these members as privileged users (rules.md v2, "admin"). A principal that is itself a group
(nested eligibility) is expanded through ``group_members`` when that group was collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pandas as pd

from auditor.model.role_holdings import COLUMNS, build_role_holdings

SOURCE = "pim_group_eligibility"


def eligible_members(records: list[Any], groups: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Role-assignable group id → its PIM-for-Groups eligible members (user ids)."""
    out: dict[str, list[str]] = {}
    for r in records:
        if not isinstance(r, dict) or str(r.get("accessId") or "member").lower() != "member":
            continue
        gid, pid = r.get("groupId"), r.get("principalId")
        if not gid or not pid:
            continue
        members = out.setdefault(str(gid), [])
        nested = groups.get(str(pid))
        members.extend(nested["members"] if nested else [str(pid)])
    return {g: sorted(set(m)) for g, m in out.items()}


def group_eligible_holdings(
    definitions: list[dict[str, Any]],
    assignments: list[dict[str, Any]],
    eligibility: list[dict[str, Any]],
    records: list[Any],
    groups: dict[str, dict[str, Any]],
    users: pd.DataFrame,
    admin_roles: str | Sequence[str],
) -> pd.DataFrame:
    """Role holdings (``role_holdings`` columns) of PIM-for-Groups eligible members: ``assignment`` is
    ``eligible`` whatever the group's own assignment (they must activate the membership first), and
    ``via_group_name`` reads "<group> (PIM for Groups)"."""
    members = eligible_members(records, groups)
    if not members:
        return pd.DataFrame(columns=COLUMNS)
    pseudo = {
        g: {
            "name": f"{(groups.get(g) or {}).get('name') or _principal_name(assignments, g) or g} (PIM for Groups)",
            "members": m,
        }
        for g, m in members.items()
    }
    mine_a = [a for a in assignments if str(a.get("principalId")) in pseudo]
    mine_e = [e for e in eligibility if str(e.get("principalId")) in pseudo]
    frame = build_role_holdings(definitions, mine_a, mine_e, pseudo, users, admin_roles)
    frame["assignment"] = "eligible"
    return frame.drop_duplicates(
        subset=["user_id", "role_id", "assignment", "via_group_id", "scope"], ignore_index=True
    )


def _principal_name(assignments: list[dict[str, Any]], group_id: str) -> str | None:
    for a in assignments:
        if str(a.get("principalId")) == group_id and isinstance(a.get("principal"), dict):
            return cast("str | None", a["principal"].get("displayName"))
    return None
