"""Entity projections: the model tables the reports show, as plain rows (no pandas past this module).

``build_report_context`` calls these once per run. Each row is a ``NamedTuple`` (as small as a tuple),
so a 300,000-user tenant costs one tuple per user and no copy of the tables. Values are plain Python
(lists stay lists, timestamps become ``datetime``); renderers format them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from operator import itemgetter
from typing import Any, NamedTuple


class UserRow(NamedTuple):
    """One user as the Users sheet shows it: directory facts, classification, MFA, mailbox, legacy sign-ins."""

    upn: Any
    display_name: Any
    user_type: Any
    enabled: Any
    classification: str
    service_signal: Any
    admin_roles: Any
    role_assignment_kinds: Any
    privileged_admin: Any
    per_user_mfa: Any
    mfa_registered: Any
    methods: Any
    last_sign_in: Any
    has_mailbox: Any
    imap: Any
    pop: Any
    smtp_auth: Any
    smtp_auth_source: Any
    legacy_sign_ins: Any
    legacy_protocols: Any
    open_findings: int
    id: Any


class CaPolicyRow(NamedTuple):
    """One Conditional Access policy, with the conditions and controls the audit looks at."""

    name: Any
    state: Any
    requires_mfa: Any
    blocks_legacy: Any
    all_users: Any
    all_apps: Any
    include_users: Any
    include_groups: Any
    include_roles: Any
    exclude_users: Any
    exclude_groups: Any
    exclude_roles: Any
    include_locations: Any
    exclude_locations: Any
    client_app_types: Any
    grant_controls: Any
    authentication_strength: Any
    id: Any


class IpRangeRow(NamedTuple):
    """One IP range: from an IP named location or from the legacy MFA trusted IPs."""

    origin: Any
    location_name: Any
    cidr: Any
    is_trusted: Any
    version: Any
    prefixlen: Any
    location_id: Any

    @property
    def legacy(self) -> bool:
        return bool(self.origin == "legacy_trusted_ips")


def _rows_of(table: Any) -> int:
    return 0 if table is None else len(table)


def _col(table: Any, name: str) -> Iterator[Any]:
    """One column as plain Python values: timestamps become ``datetime`` (missing ones ``None``), and a
    column the table lacks reads as ``None``."""
    if name not in table.columns:
        return iter([None] * len(table))
    column = table[name]
    if getattr(column.dtype, "kind", "") == "M":
        return iter([v if v == v else None for v in column.dt.to_pydatetime().tolist()])  # NaT != NaT
    return iter(column.tolist())


_NO_MAILBOX = (None, None, None, None)
_NO_LEGACY = (None, None)
_CLASSES = (
    ("is_admin", "admin"),
    ("is_service_account", "service account"),
    ("is_guest", "guest"),
    ("is_daily", "daily"),
    ("is_emergency_access", "emergency access"),
    ("is_sync_account", "directory sync"),
)


def user_rows(model: Any, open_by_entity: Mapping[str, int]) -> list[UserRow]:
    """The Users sheet: one row per user, joined with its mailbox and its legacy sign-ins."""
    users = getattr(model, "users", None)
    if not _rows_of(users):
        return []
    mailboxes: dict[Any, tuple[Any, Any, Any, Any]] = {}
    mtable = getattr(model, "mailboxes", None)
    if _rows_of(mtable):
        mailbox_columns = ("user_id", "imap", "pop", "smtp_auth_enabled", "smtp_auth_source")
        for uid, imap, pop, smtp, source in zip(*(_col(mtable, n) for n in mailbox_columns), strict=True):
            if uid:
                mailboxes[uid] = (imap, pop, smtp, source)
    legacy: dict[Any, tuple[Any, Any]] = {}
    ltable = getattr(model, "legacy_sign_ins", None)
    if _rows_of(ltable):
        for uid, count, protos in zip(*(_col(ltable, n) for n in ("user_id", "count", "protocols")), strict=True):
            legacy[uid] = (count, protos)
    ids = list(_col(users, "id"))
    mbx = [mailboxes.get(uid, _NO_MAILBOX) for uid in ids]
    leg = [legacy.get(uid, _NO_LEGACY) for uid in ids]
    names = ("upn", "display_name", "user_type", "enabled")
    names2 = (
        "service_signal",
        "admin_roles",
        "role_assignment_kinds",
        "privileged_admin",
        "per_user_mfa",
        "mfa_registered",
        "methods",
        "last_sign_in",
        "has_mailbox",
    )
    # Column by column, then one map: a Python loop per user was the cost at 300,000 users.
    return list(
        map(
            UserRow,
            *(_col(users, n) for n in names),
            _classifications(users),
            *(_col(users, n) for n in names2),
            *(map(itemgetter(i), mbx) for i in range(4)),
            *(map(itemgetter(i), leg) for i in range(2)),
            (open_by_entity.get(uid, 0) for uid in ids),
            ids,
        )
    )


def _classifications(users: Any) -> list[str]:
    """ "admin, daily" and the like; six three-valued flags make at most 729 distinct texts, each joined once."""
    labels = [label for _flag, label in _CLASSES]
    cache: dict[tuple[Any, ...], str] = {}

    def text(flags: tuple[Any, ...]) -> str:
        found = cache.get(flags)
        if found is None:
            found = cache[flags] = ", ".join(label for label, on in zip(labels, flags, strict=True) if on is True)
        return found

    return [text(flags) for flags in zip(*(_col(users, flag) for flag, _label in _CLASSES), strict=True)]


def _table_rows(table: Any, row_type: Any) -> list[Any]:
    if not _rows_of(table):
        return []
    return [row_type(*values) for values in zip(*(_col(table, n) for n in row_type._fields), strict=True)]


def ca_rows(model: Any) -> list[CaPolicyRow]:
    """The Conditional Access sheet: one row per policy."""
    return _table_rows(getattr(model, "ca_policies", None), CaPolicyRow)


def ip_rows(model: Any) -> list[IpRangeRow]:
    """Named-location ranges and legacy trusted IPs, as the workbook sheet and the HTML side-by-side show them."""
    return _table_rows(getattr(model, "ip_ranges", None), IpRangeRow)


def directory_names(model: Any) -> dict[str, str]:
    """Names for the directory objects Conditional Access policies refer to by id: groups, roles (template
    ids), named locations, and the users a policy includes or excludes one by one (id -> UPN)."""
    from auditor.model.roles import BUILTIN_ROLES

    names: dict[str, str] = dict(BUILTIN_ROLES)
    holdings: Any = getattr(model, "role_holdings", None)
    if _rows_of(holdings) and {"role_id", "role_name"} <= set(holdings.columns):
        for rid, name in zip(_col(holdings, "role_id"), _col(holdings, "role_name"), strict=True):
            if rid and name:
                names[str(rid)] = str(name)
    for gid, group in (getattr(model, "groups", None) or {}).items():
        if isinstance(group, dict) and group.get("name"):
            names[str(gid)] = str(group["name"])
    ranges = getattr(model, "ip_ranges", None)
    if _rows_of(ranges):
        for lid, name in zip(_col(ranges, "location_id"), _col(ranges, "location_name"), strict=True):
            if lid and name:
                names[str(lid)] = str(name)
    policies: Any = getattr(model, "ca_policies", None)
    users: Any = getattr(model, "users", None)
    if _rows_of(policies) and _rows_of(users):
        wanted = {
            str(u) for col in ("include_users", "exclude_users") for ids in _col(policies, col) for u in ids or ()
        }
        if wanted:
            rows = users[users["id"].astype(str).isin(wanted)]
            names.update(zip(rows["id"].astype(str), rows["upn"].astype(str), strict=True))
    return names
