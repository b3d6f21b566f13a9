"""The catalog of data sources: one entry per item the collector fetches.

A *source* is the unit of coverage. The collector binds one fetch coroutine and one doctor probe to each
entry (:data:`auditor.collect.sources.REGISTRY`, a ``Source`` per entry), the snapshot stores each
source's raw records under its name, and rules declare the sources they ``need``. A rule whose needed
source is not ``collected`` is reported ``not_assessed`` by the engine.

This module is the declarative half of that registry (what every layer may know: names, endpoint or
cmdlet, permissions, licence, dependencies); it imports nothing from ``collect`` so the model and the
rules can use it.

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
    #: sources whose records the fetcher reads (collected first; a subset run pulls them in)
    depends_on: tuple[str, ...] = ()
    #: Exchange admin API cmdlet (``service == "exchange"``)
    cmdlet: str = ""


SOURCES: dict[str, SourceSpec] = {
    s.name: s
    for s in [
        SourceSpec(
            "users",
            "Users",
            "graph",
            "list",
            "GET /v1.0/users?$select=...&$top=999",
            ("User.Read.All",),
            notes="signInActivity is not selected here: it is a reports-bucket property (sign_in_activity)",
        ),
        SourceSpec(
            "sign_in_activity",
            "Last sign-in dates of admins",
            "graph",
            "object",
            "GET /v1.0/users?$filter=id in (...)&$select=id,signInActivity (reports bucket, admins only)",
            ("AuditLog.Read.All",),
            licence="Entra ID P1",
            depends_on=("users", "role_definitions", "role_assignments", "role_eligibility", "group_members"),
            notes="records are {user id: signInActivity} for the admins; a snapshot with records None "
            "(older collectors) carries signInActivity on every user instead",
        ),
        SourceSpec(
            "role_definitions",
            "Directory role definitions",
            "graph",
            "list",
            "GET /v1.0/roleManagement/directory/roleDefinitions",
            ("RoleManagement.Read.Directory",),
        ),
        SourceSpec(
            "role_assignments",
            "Active directory role assignments",
            "graph",
            "list",
            "GET /v1.0/roleManagement/directory/roleAssignments?$expand=principal",
            ("RoleManagement.Read.Directory",),
        ),
        SourceSpec(
            "role_eligibility",
            "PIM-eligible role assignments",
            "graph",
            "list",
            "GET /v1.0/roleManagement/directory/roleEligibilityScheduleInstances",
            ("RoleEligibilitySchedule.Read.Directory",),
            optional=True,
            licence="Entra ID P2",
        ),
        SourceSpec(
            "pim_group_eligibility",
            "PIM-for-Groups eligible members of role-holding groups",
            "graph",
            "list",
            "GET /v1.0/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"
            "?$filter=groupId eq '{id}'",
            ("PrivilegedEligibilitySchedule.Read.AzureADGroup",),
            optional=True,
            licence="Entra ID P2",
            depends_on=("role_assignments", "role_eligibility"),
            notes="for every group that holds a directory role (role-assignable groups)",
        ),
        SourceSpec(
            "group_members",
            "Members of every security group and of groups roles and CA policies name",
            "graph",
            "list",
            "GET /v1.0/groups?$filter=securityEnabled eq true, then GET /v1.0/groups/{id}/transitiveMembers",
            ("GroupMember.Read.All",),
            depends_on=("users", "role_assignments", "role_eligibility", "conditional_access"),
            notes="records are {id, displayName, members: [directoryObject...]}",
        ),
        SourceSpec(
            "per_user_mfa",
            "Per-user MFA state",
            "graph",
            "list",
            "GET /v1.0/users?$select=id,perUserMfaState (undocumented) or "
            "GET /beta/users/{id}/authentication/requirements",
            ("Policy.Read.All",),
            depends_on=("users",),
            notes="records are {id, userPrincipalName, perUserMfaState}",
        ),
        SourceSpec(
            "registration_details",
            "Registered authentication methods",
            "graph",
            "list",
            "GET /v1.0/reports/authenticationMethods/userRegistrationDetails",
            ("AuditLog.Read.All",),
            licence="Entra ID P1",
        ),
        SourceSpec(
            "authentication_strengths",
            "Authentication strength policies",
            "graph",
            "list",
            "GET /v1.0/policies/authenticationStrengthPolicies",
            ("Policy.Read.All",),
            optional=True,
            notes="CA policies carry their strength inline; this resolves one that is not",
        ),
        SourceSpec(
            "security_defaults",
            "Security defaults",
            "graph",
            "object",
            "GET /v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            ("Policy.Read.All",),
        ),
        SourceSpec(
            "conditional_access",
            "Conditional Access policies",
            "graph",
            "list",
            "GET /v1.0/identity/conditionalAccess/policies",
            ("Policy.Read.All",),
        ),
        SourceSpec(
            "named_locations",
            "Named locations",
            "graph",
            "list",
            "GET /v1.0/identity/conditionalAccess/namedLocations",
            ("Policy.Read.All",),
        ),
        SourceSpec(
            "auth_methods_policy",
            "Authentication methods policy",
            "graph",
            "object",
            "GET /v1.0/policies/authenticationMethodsPolicy (+ authenticationMethodConfigurations/{id})",
            ("Policy.Read.All",),
            optional=True,
            notes="the method configurations are read one by one when the policy does not carry them inline",
        ),
        SourceSpec(
            "mfa_service_policy",
            "Legacy MFA service settings",
            "graph",
            "object",
            "GET /beta/policies/mfaServicePolicy (undocumented)",
            ("Policy.Read.All",),
            optional=True,
            notes="undocumented endpoint; when unavailable, config legacy_mfa is used if given",
        ),
        SourceSpec(
            "sign_ins",
            "Legacy-protocol sign-ins in the window (interactive and non-interactive)",
            "graph",
            "list",
            "GET /v1.0/auditLogs/signIns?$filter=createdDateTime ge ... and clientAppUsed eq ... and "
            "GET /beta/auditLogs/signIns?$filter=... and signInEventTypes/any(t: t eq 'nonInteractiveUser')",
            ("AuditLog.Read.All",),
            optional=True,
            licence="Entra ID P1",
        ),
        SourceSpec(
            "cas_mailboxes",
            "Mailbox protocol settings (Get-CASMailbox)",
            "exchange",
            "list",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-CASMailbox",
            ("Exchange.ManageAsApp",),
            roles=("Global Reader",),
            cmdlet="Get-CASMailbox",
        ),
        SourceSpec(
            "mailboxes",
            "Mailbox types (Get-Mailbox RecipientTypeDetails)",
            "exchange",
            "list",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-Mailbox",
            ("Exchange.ManageAsApp",),
            optional=True,
            roles=("Global Reader",),
            cmdlet="Get-Mailbox",
            notes="shared mailboxes (RecipientTypeDetails SharedMailbox)",
        ),
        SourceSpec(
            "exchange_users",
            "Per-user Exchange authentication policy (Get-User)",
            "exchange",
            "list",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-User",
            ("Exchange.ManageAsApp",),
            optional=True,
            roles=("Global Reader",),
            cmdlet="Get-User",
            notes="records carry AuthenticationPolicy (null: the organization default applies)",
        ),
        SourceSpec(
            "transport_config",
            "Org transport config (Get-TransportConfig)",
            "exchange",
            "object",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-TransportConfig",
            ("Exchange.ManageAsApp",),
            roles=("Global Reader",),
            cmdlet="Get-TransportConfig",
        ),
        SourceSpec(
            "authentication_policies",
            "Exchange authentication policies",
            "exchange",
            "list",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-AuthenticationPolicy",
            ("Exchange.ManageAsApp",),
            optional=True,
            roles=("Global Reader",),
            cmdlet="Get-AuthenticationPolicy",
        ),
        SourceSpec(
            "organization_config",
            "Exchange organization config",
            "exchange",
            "object",
            "POST /adminapi/beta/{tenant}/InvokeCommand Get-OrganizationConfig",
            ("Exchange.ManageAsApp",),
            optional=True,
            roles=("Global Reader",),
            cmdlet="Get-OrganizationConfig",
        ),
    ]
}

#: Application permissions that also grant a narrower one (Graph's documented higher-privileged
#: alternatives). The doctor and the simulator both read this one table.
BROADER_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "User.Read.All": ("User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    "GroupMember.Read.All": (
        "Group.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ),
    # GET /organization (application): User.Read.All is *not* enough; User.Read is delegated-only
    "Organization.Read.All": ("Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    "RoleManagement.Read.Directory": (
        "RoleManagement.ReadWrite.Directory",
        "Directory.Read.All",
        "RoleManagement.Read.All",
    ),
    "RoleEligibilitySchedule.Read.Directory": (
        "RoleManagement.Read.Directory",
        "RoleManagement.ReadWrite.Directory",
        "RoleManagement.Read.All",
    ),
    "PrivilegedEligibilitySchedule.Read.AzureADGroup": ("PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",),
    "Policy.Read.All": (),
    "AuditLog.Read.All": (),
}


def grants(granted: set[str] | frozenset[str], permission: str) -> bool:
    """Whether ``granted`` application permissions include ``permission`` or a broader one."""
    return permission in granted or any(p in granted for p in BROADER_PERMISSIONS.get(permission, ()))


# ``clientAppUsed`` values of legacy (basic-auth capable) protocols: the sign_ins source collects these
# (filtered server-side) and the model counts them.
LEGACY_CLIENT_APPS: tuple[str, ...] = (
    "Authenticated SMTP",
    "AutoDiscover",
    "Exchange ActiveSync",
    "Exchange Online PowerShell",
    "Exchange Web Services",
    "IMAP4",
    "MAPI Over HTTP",
    "Offline Address Book",
    "Other clients",
    "Outlook Anywhere (RPC over HTTP)",
    "Outlook Service",
    "POP3",
    "Reporting Web Services",
    "SMTP",
    "Universal Outlook",
)
