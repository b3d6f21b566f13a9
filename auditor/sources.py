"""The catalog of data sources: one entry per item the collector fetches.

A *source* is the unit of coverage. The collector implements one fetcher per entry, the snapshot stores
each source's raw records under its name, and rules declare the sources they ``need``. A rule whose
needed source is not ``collected`` is reported ``not_assessed`` by the engine.

Records are kept exactly as the API sent them (Graph JSON / Exchange admin API JSON). ``shape`` says
whether the source is a list of records or a single object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Shape = Literal["list", "object"]
Service = Literal["graph", "exchange", "config"]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    title: str
    service: Service
    shape: Shape
    endpoint: str
    permissions: tuple[str, ...]
    optional: bool = False
    notes: str = ""
    licence: str = ""
    roles: tuple[str, ...] = field(default_factory=tuple)


SOURCES: dict[str, SourceSpec] = {
    s.name: s
    for s in [
        SourceSpec(
            "users", "Users (with sign-in activity)", "graph", "list",
            "GET /v1.0/users?$select=...,signInActivity&$top=999", ("User.Read.All", "AuditLog.Read.All"),
            notes="signInActivity needs AuditLog.Read.All and Entra ID P1; without it users are collected "
            "without last sign-in dates and stale-admin is not assessed",
        ),
        SourceSpec(
            "sign_in_activity", "Last sign-in dates on users", "graph", "object",
            "users.signInActivity", ("AuditLog.Read.All",), licence="Entra ID P1",
            notes="marker source: collected when users carry signInActivity",
        ),
        SourceSpec(
            "role_definitions", "Directory role definitions", "graph", "list",
            "GET /v1.0/roleManagement/directory/roleDefinitions", ("RoleManagement.Read.Directory",),
        ),
        SourceSpec(
            "role_assignments", "Active directory role assignments", "graph", "list",
            "GET /v1.0/roleManagement/directory/roleAssignments?$expand=principal",
            ("RoleManagement.Read.Directory",),
        ),
        SourceSpec(
            "role_eligibility", "PIM-eligible role assignments", "graph", "list",
            "GET /v1.0/roleManagement/directory/roleEligibilityScheduleInstances",
            ("RoleEligibilitySchedule.Read.Directory",), optional=True, licence="Entra ID P2",
        ),
        SourceSpec(
            "group_members", "Members of role-assignable and CA-referenced groups", "graph", "list",
            "GET /v1.0/groups/{id}/transitiveMembers", ("GroupMember.Read.All",),
            notes="records are {id, displayName, members: [directoryObject...]}",
        ),
        SourceSpec(
            "per_user_mfa", "Per-user MFA state", "graph", "list",
            "GET /v1.0/users?$select=id,perUserMfaState (undocumented) or "
            "GET /beta/users/{id}/authentication/requirements",
            ("Policy.Read.All",),
            notes="records are {id, userPrincipalName, perUserMfaState}",
        ),
        SourceSpec(
            "registration_details", "Registered authentication methods", "graph", "list",
            "GET /v1.0/reports/authenticationMethods/userRegistrationDetails", ("AuditLog.Read.All",),
            licence="Entra ID P1",
        ),
        SourceSpec(
            "security_defaults", "Security defaults", "graph", "object",
            "GET /v1.0/policies/identitySecurityDefaultsEnforcementPolicy", ("Policy.Read.All",),
        ),
        SourceSpec(
            "conditional_access", "Conditional Access policies", "graph", "list",
            "GET /v1.0/identity/conditionalAccess/policies", ("Policy.Read.All",),
        ),
        SourceSpec(
            "named_locations", "Named locations", "graph", "list",
            "GET /v1.0/identity/conditionalAccess/namedLocations", ("Policy.Read.All",),
        ),
        SourceSpec(
            "auth_methods_policy", "Authentication methods policy", "graph", "object",
            "GET /v1.0/policies/authenticationMethodsPolicy", ("Policy.Read.All",), optional=True,
        ),
        SourceSpec(
            "mfa_service_policy", "Legacy MFA service settings", "graph", "object",
            "GET /beta/policies/mfaServicePolicy (undocumented)", ("Policy.Read.All",), optional=True,
            notes="undocumented endpoint; when unavailable, config legacy_mfa is used if given",
        ),
        SourceSpec(
            "sign_ins", "Legacy-protocol sign-ins in the window", "graph", "list",
            "GET /v1.0/auditLogs/signIns?$filter=createdDateTime ge ... and clientAppUsed eq ...",
            ("AuditLog.Read.All",), optional=True, licence="Entra ID P1",
        ),
        SourceSpec(
            "cas_mailboxes", "Mailbox protocol settings (Get-CASMailbox)", "exchange", "list",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-CASMailbox", ("Exchange.ManageAsApp",),
            roles=("Global Reader",),
        ),
        SourceSpec(
            "transport_config", "Org transport config (Get-TransportConfig)", "exchange", "object",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-TransportConfig", ("Exchange.ManageAsApp",),
            roles=("Global Reader",),
        ),
        SourceSpec(
            "authentication_policies", "Exchange authentication policies", "exchange", "list",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-AuthenticationPolicy", ("Exchange.ManageAsApp",),
            optional=True, roles=("Global Reader",),
        ),
        SourceSpec(
            "organization_config", "Exchange organization config", "exchange", "object",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-OrganizationConfig", ("Exchange.ManageAsApp",),
            optional=True, roles=("Global Reader",),
        ),
    ]
}


# ``clientAppUsed`` values of legacy (basic-auth capable) protocols: the sign_ins source collects these
# (filtered server-side) and the model counts them.
LEGACY_CLIENT_APPS: tuple[str, ...] = (
    "Authenticated SMTP", "AutoDiscover", "Exchange ActiveSync", "Exchange Online PowerShell",
    "Exchange Web Services", "IMAP4", "MAPI Over HTTP", "Offline Address Book", "Other clients",
    "Outlook Anywhere (RPC over HTTP)", "POP3", "Reporting Web Services",
)


def source_names() -> list[str]:
    return list(SOURCES)
