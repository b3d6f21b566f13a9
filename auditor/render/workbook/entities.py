"""Entity sheets: Users, Conditional Access, and Named locations & trusted IPs (from the context's rows)."""

from __future__ import annotations

from typing import Any

from auditor.render import xlsx_stream as xs
from auditor.render.context import ReportContext
from auditor.render.entities import CaPolicyRow, IpRangeRow, UserRow
from auditor.render.workbook.sheet import Col, table_sheet

USER_COLUMNS = {
    "upn": Col("UPN", 34),
    "display_name": Col("Display name", 26),
    "user_type": Col("User type", 10),
    "enabled": Col("Enabled", 9),
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
    "smtp_auth_source": Col("SMTP AUTH source", 18),
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
    "include_users": Col("Include users", 24),
    "include_groups": Col("Include groups", 24),
    "include_roles": Col("Include roles", 24),
    "exclude_users": Col("Exclude users", 24),
    "exclude_groups": Col("Exclude groups", 24),
    "exclude_roles": Col("Exclude roles", 24),
    "include_locations": Col("Include locations", 22),
    "exclude_locations": Col("Exclude locations", 22),
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


def entity_sheets(wb: xs.Workbook, ctx: ReportContext) -> None:
    table_sheet(wb, "Users", USER_SHEET, ctx.users)
    table_sheet(wb, "Conditional Access", CA_SHEET, ctx.ca_policies)
    table_sheet(wb, "Named locations & trusted IPs", IP_SHEET, ctx.ip_ranges)
