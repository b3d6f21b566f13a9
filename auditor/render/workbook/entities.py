"""Entity sheets: Users, Conditional Access, and Named locations & trusted IPs (from the context's rows).

Values are shown in plain English (``auditor.render.workbook.values``): Yes/No, Enabled/Disabled, CA states
On/Off/Report-only, the SMTP AUTH setting with where it comes from, and a name next to every id a policy
refers to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.render import xlsx_stream as xs
from auditor.render.context import ReportContext
from auditor.render.entities import CaPolicyRow, IpRangeRow, UserRow
from auditor.render.workbook import values as v
from auditor.render.workbook.sheet import Col, TableSheet

USER_COLUMNS = {
    "upn": Col("UPN", 34),
    "display_name": Col("Display name", 26),
    "user_type": Col("User type", 10),
    "enabled": Col("Account", 9),
    "classification": Col("Classification", 18),
    "service_signal": Col("Service account signal", 24),
    "admin_roles": Col("Admin roles", 34),
    "role_assignment_kinds": Col("Role assignment", 20),
    "privileged_admin": Col("Privileged admin", 10),
    "per_user_mfa": Col("Per-user MFA", 12),
    "mfa_registered": Col("MFA registered", 10),
    "methods": Col("Methods", 30),
    "last_sign_in": Col("Last sign-in", 17),
    "has_mailbox": Col("Mailbox", 9),
    "imap": Col("IMAP", 7),
    "pop": Col("POP", 7),
    "smtp_auth": Col("SMTP AUTH", 10),
    "smtp_auth_source": Col("SMTP AUTH setting", 18),
    "legacy_sign_ins": Col("Legacy sign-ins", 10),
    "legacy_protocols": Col("Legacy protocols", 20),
    "open_findings": Col("Open findings", 10),
    "id": Col("User ID", 38),
}
CA_COLUMNS = {
    "name": Col("Policy", 34),
    "state": Col("State", 18),
    "requires_mfa": Col("Requires MFA", 10),
    "blocks_legacy": Col("Blocks legacy auth", 10),
    "all_users": Col("All users", 9),
    "all_apps": Col("All apps", 9),
    "include_users": Col("Include users", 36, "wrap"),
    "include_groups": Col("Include groups", 36, "wrap"),
    "include_roles": Col("Include roles", 36, "wrap"),
    "exclude_users": Col("Exclude users", 36, "wrap"),
    "exclude_groups": Col("Exclude groups", 36, "wrap"),
    "exclude_roles": Col("Exclude roles", 36, "wrap"),
    "include_locations": Col("Include locations", 30, "wrap"),
    "exclude_locations": Col("Exclude locations", 30, "wrap"),
    "client_app_types": Col("Client app types", 22),
    "grant_controls": Col("Grant controls", 18),
    "authentication_strength": Col("Authentication strength", 22),
    "id": Col("Policy ID", 38),
}
IP_COLUMNS = {
    "origin": Col("Origin", 20),
    "location_name": Col("Named location", 30),
    "cidr": Col("Range", 22),
    "is_trusted": Col("Trusted", 9),
    "version": Col("IP version", 9),
    "prefixlen": Col("Prefix length", 9),
    "location_id": Col("Location ID", 38),
}


def _in_row_order(columns: dict[str, Col], row_type: type[tuple[Any, ...]]) -> list[Col]:
    """The columns in the row type's field order; a field without a column fails at import."""
    fields: tuple[str, ...] = row_type._fields  # type: ignore[attr-defined]
    if set(columns) != set(fields):
        raise RuntimeError(f"{row_type.__name__} fields and sheet columns differ: {set(columns) ^ set(fields)}")
    return [columns[name] for name in fields]


USER_SHEET = _in_row_order(USER_COLUMNS, UserRow)
CA_SHEET = _in_row_order(CA_COLUMNS, CaPolicyRow)
IP_SHEET = _in_row_order(IP_COLUMNS, IpRangeRow)


def _smtp_setting(u: UserRow) -> Any:
    """Where the effective SMTP AUTH value comes from: "Mailbox setting" or "Inherited (org: Enabled)"."""
    source = u.smtp_auth_source
    if source == "inherited from org":
        return f"Inherited (org: {v.ENABLED.get(u.smtp_auth, 'unknown')})"
    return v.label(v.SMTP_SOURCES, source)


def user_cells(u: UserRow) -> list[Any]:
    """One Users row in column order, in words."""
    mailbox = u.has_mailbox is True
    return [
        u.upn,
        u.display_name,
        u.user_type,
        v.ENABLED.get(u.enabled),
        u.classification,
        u.service_signal,
        u.admin_roles,
        u.role_assignment_kinds,
        v.YES_NO.get(u.privileged_admin),
        v.label(v.PER_USER_MFA, u.per_user_mfa) if isinstance(u.per_user_mfa, str) else "Unknown",
        v.YES_NO.get(u.mfa_registered, "Unknown"),
        v.labels(v.METHOD_LIST, u.methods),
        u.last_sign_in,
        v.YES_NO.get(u.has_mailbox),
        v.ENABLED.get(u.imap),
        v.ENABLED.get(u.pop),
        v.ENABLED.get(u.smtp_auth, "Unknown" if mailbox else None),
        _smtp_setting(u),
        u.legacy_sign_ins,
        u.legacy_protocols,
        u.open_findings,
        u.id,
    ]


def ca_cells(p: CaPolicyRow, names: Mapping[str, str]) -> list[Any]:
    """One Conditional Access row in column order: states and controls in words, names next to ids."""
    return [
        p.name,
        v.label(v.CA_STATES, p.state),
        v.YES_NO.get(p.requires_mfa),
        v.YES_NO.get(p.blocks_legacy),
        v.YES_NO.get(p.all_users),
        v.YES_NO.get(p.all_apps),
        v.named(p.include_users, names, v.USERS),
        v.named(p.include_groups, names),
        v.named(p.include_roles, names),
        v.named(p.exclude_users, names, v.USERS),
        v.named(p.exclude_groups, names),
        v.named(p.exclude_roles, names),
        v.named(p.include_locations, names, v.LOCATIONS),
        v.named(p.exclude_locations, names, v.LOCATIONS),
        v.labels(v.CLIENT_APP_LIST, p.client_app_types),
        v.labels(v.GRANT_LIST, p.grant_controls),
        p.authentication_strength,
        p.id,
    ]


def ip_cells(r: IpRangeRow) -> list[Any]:
    version = f"IPv{r.version}" if isinstance(r.version, int) and not isinstance(r.version, bool) else r.version
    return [
        v.label(v.IP_ORIGINS, r.origin),
        r.location_name,
        r.cidr,
        v.YES_NO.get(r.is_trusted),
        version,
        r.prefixlen,
        r.location_id,
    ]


def entity_sheets(wb: xs.Workbook, ctx: ReportContext) -> None:
    users = TableSheet(wb, "Users", USER_SHEET)
    for u in ctx.users:
        users.append(user_cells(u))
    users.finish()
    policies = TableSheet(wb, "Conditional Access", CA_SHEET)
    for p in ctx.ca_policies:
        policies.append(ca_cells(p, ctx.directory_names))
    policies.finish()
    ranges = TableSheet(wb, "Named locations & trusted IPs", IP_SHEET)
    for r in ctx.ip_ranges:
        ranges.append(ip_cells(r))
    ranges.finish()
