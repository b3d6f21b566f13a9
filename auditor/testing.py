"""Test bench for rules and everything after the snapshot: a compliant baseline tenant and its deviations.

``baseline()`` returns raw, wire-shaped records per source (as the collector stores them in a snapshot) for
a small tenant where no rule fires; the builders below add one deviation at a time (a user, an admin, a
mailbox, a Conditional Access policy, a sign-in). ``snapshot_of`` wraps records into a ``Snapshot``.
Rule cases (``@rule(cases=...)``) and tests build on these; nothing here evaluates rules.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.snapshot import Snapshot, SourceData

Records = dict[str, Any]

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
GA = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
REPORTS_READER = "4a5d8f65-41da-4de4-8968-e035b65339cf"
PHISHING_RESISTANT = "00000000-0000-0000-0000-000000000004"
TENANT_ID = "7e1c0000-0000-4000-8000-000000000001"


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(
    uid: str,
    upn: str,
    *,
    name: str | None = None,
    user_type: str = "Member",
    enabled: bool = True,
    last_days: float | None = 1,
) -> dict[str, Any]:
    activity = (
        None
        if last_days is None
        else {
            "lastSignInDateTime": ago(last_days),
            "lastNonInteractiveSignInDateTime": ago(last_days),
            "lastSuccessfulSignInDateTime": ago(last_days),
        }
    )
    return {
        "id": uid,
        "userPrincipalName": upn,
        "displayName": name or upn.split("@")[0],
        "userType": user_type,
        "accountEnabled": enabled,
        "mail": upn if user_type == "Member" else None,
        "signInActivity": activity,
    }


def baseline() -> Records:
    """Records per source for a tenant where no rule fires."""
    users = [
        user("u-alice", "alice@contoso.com"),
        user("u-bob", "bob@contoso.com"),
        user("u-svc", "svc-backup@contoso.com"),
    ]
    # Two break-glass accounts as Microsoft describes them: cloud-only, no licence, no mailbox, permanent active
    # Global Administrators with a FIDO2 key (listed in BASELINE_CONFIG's classification.emergency_access).
    glass = [user(f"u-glass{i}", f"breakglass{i}@contoso.onmicrosoft.com", last_days=20) for i in (1, 2)]
    for g in glass:
        g.update(onPremisesSyncEnabled=None, assignedLicenses=[], mail=None)
    return {
        "users": users + glass,
        "sign_in_activity": None,
        "role_definitions": [
            {"id": GA, "templateId": GA, "displayName": "Global Administrator", "isBuiltIn": True},
            {"id": HELPDESK, "templateId": HELPDESK, "displayName": "Helpdesk Administrator", "isBuiltIn": True},
            {"id": REPORTS_READER, "templateId": REPORTS_READER, "displayName": "Reports Reader", "isBuiltIn": True},
        ],
        "role_assignments": [
            *(
                {"id": f"ra-{g['id']}", "principalId": g["id"], "roleDefinitionId": GA, "directoryScopeId": "/"}
                for g in glass
            ),
            {
                "id": "ra-1",
                "principalId": "u-alice",
                "roleDefinitionId": GA,
                "directoryScopeId": "/",
                "principal": {
                    "@odata.type": "#microsoft.graph.user",
                    "id": "u-alice",
                    "userPrincipalName": "alice@contoso.com",
                },
            },
        ],
        "role_eligibility": [],
        "group_members": [],
        "per_user_mfa": [
            {"id": u["id"], "userPrincipalName": u["userPrincipalName"], "perUserMfaState": "disabled"}
            for u in users + glass
        ],
        "registration_details": [
            {
                "id": u["id"],
                "userPrincipalName": u["userPrincipalName"],
                "isMfaRegistered": True,
                "methodsRegistered": ["fido2SecurityKey"]
                if u["id"] != "u-bob" and u["id"] != "u-svc"
                else ["microsoftAuthenticatorPush"],
            }
            for u in users + glass
        ],
        "security_defaults": {"id": "00000000-0000-0000-0000-000000000005", "isEnabled": False},
        "conditional_access": [
            ca_policy("ca-mfa", "MFA for everyone", grant=["mfa"]),
            ca_policy("ca-legacy", "Block legacy auth", grant=["block"], client_apps=["exchangeActiveSync", "other"]),
            ca_policy(
                "ca-admin-prmfa",
                "Phishing-resistant MFA for admins",
                grant=[],
                users={"includeUsers": [], "includeRoles": [GA, HELPDESK]},
                apps=["All"],
                strength={"id": PHISHING_RESISTANT, "displayName": "Phishing-resistant MFA"},
            ),
        ],
        "named_locations": [
            {
                "@odata.type": "#microsoft.graph.ipNamedLocation",
                "id": "loc-hq",
                "displayName": "HQ",
                "isTrusted": True,
                "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "52.1.2.0/24"}],
            },
        ],
        "auth_methods_policy": {"id": "authenticationMethodsPolicy", "policyMigrationState": "migrationComplete"},
        "mfa_service_policy": {
            "allowAppPasswords": False,
            "trustedIps": {"skipMfaForFederatedUsers": False, "ipRanges": []},
            "rememberMfaOnTrustedDevice": {"isEnabled": False, "allowedNumberOfDays": 0},
        },
        "sign_ins": [],
        "cas_mailboxes": [mailbox(u["id"], u["userPrincipalName"]) for u in users],
        "transport_config": {"SmtpClientAuthenticationDisabled": True},
        "authentication_policies": [],
        "organization_config": {"OAuth2ClientProfileEnabled": True, "DefaultAuthenticationPolicy": None},
        "mailboxes": [
            {
                "ExternalDirectoryObjectId": u["id"],
                "UserPrincipalName": u["userPrincipalName"],
                "PrimarySmtpAddress": u["userPrincipalName"],
                "RecipientTypeDetails": "UserMailbox",
            }
            for u in users
        ],
        "exchange_users": [],
    }


#: Configuration data (as in the YAML file) that belongs with ``baseline()``: its emergency access accounts.
BASELINE_CONFIG: dict[str, Any] = {
    "classification": {
        "emergency_access": ["breakglass1@contoso.onmicrosoft.com", "breakglass2@contoso.onmicrosoft.com"]
    }
}


def baseline_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``BASELINE_CONFIG`` with ``overrides`` (a case's config) merged in: sections merge, keys inside replace."""
    out = copy.deepcopy(BASELINE_CONFIG)
    for section, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(out.get(section), dict):
            out[section] = {**out[section], **copy.deepcopy(value)}
        else:
            out[section] = copy.deepcopy(value)
    return out


def ca_policy(
    pid: str,
    name: str,
    *,
    grant: list[str],
    state: str = "enabled",
    users: dict[str, Any] | None = None,
    apps: list[str] | None = None,
    client_apps: list[str] | None = None,
    strength: dict[str, Any] | None = None,
    locations: dict[str, Any] | None = None,
    operator: str = "OR",
) -> dict[str, Any]:
    scope = {
        "includeUsers": ["All"],
        "excludeUsers": [],
        "includeGroups": [],
        "excludeGroups": [],
        "includeRoles": [],
        "excludeRoles": [],
    }
    scope.update(users or {})
    return {
        "id": pid,
        "displayName": name,
        "state": state,
        "conditions": {
            "users": scope,
            "applications": {"includeApplications": apps or ["All"], "excludeApplications": []},
            "clientAppTypes": client_apps or ["all"],
            "locations": locations,
        },
        "grantControls": {
            "operator": operator,
            "builtInControls": grant,
            "authenticationStrength": strength,
            "customAuthenticationFactors": [],
            "termsOfUse": [],
        },
        "sessionControls": None,
    }


def mailbox(
    uid: str, address: str, imap: bool = False, pop: bool = False, smtp_disabled: bool | None = True
) -> dict[str, Any]:
    return {
        "Guid": f"mbx-{uid}",
        "ExternalDirectoryObjectId": uid,
        "DisplayName": address,
        "PrimarySmtpAddress": address,
        "ImapEnabled": imap,
        "PopEnabled": pop,
        "SmtpClientAuthenticationDisabled": smtp_disabled,
    }


def sign_in(uid: str, upn: str, app: str, days: float = 2, error: int = 0, ip: str = "198.51.100.7") -> dict[str, Any]:
    return {
        "id": f"si-{uid}-{app}-{days}-{error}",
        "createdDateTime": ago(days),
        "userId": uid,
        "userPrincipalName": upn,
        "clientAppUsed": app,
        "ipAddress": ip,
        "status": {"errorCode": error},
    }


def snapshot_of(
    records: Records, failed: dict[str, str] | None = None, skipped: dict[str, str] | None = None
) -> Snapshot:
    sources = {}
    for name, recs in records.items():
        sources[name] = SourceData.collected(copy.deepcopy(recs))
    for name, reason in (failed or {}).items():
        sources[name] = SourceData.failed(reason)
    for name, reason in (skipped or {}).items():
        sources[name] = SourceData.skipped(reason)
    return Snapshot(
        tenant={"name": "contoso", "tenant_id": TENANT_ID, "display_name": "Contoso"}, sources=sources, collected_at=NOW
    )


def set_mfa(records: Records, uid: str, state: str) -> None:
    for r in records["per_user_mfa"]:
        if r["id"] == uid:
            r["perUserMfaState"] = state


def add_admin(records: Records, uid: str, upn: str, role: str = GA, **kw: Any) -> None:
    """A user holding ``role`` tenant-wide, with per-user MFA disabled and a FIDO2 key registered."""
    records["users"].append(user(uid, upn, **kw))
    records["per_user_mfa"].append({"id": uid, "userPrincipalName": upn, "perUserMfaState": "disabled"})
    records["registration_details"].append(
        {"id": uid, "userPrincipalName": upn, "isMfaRegistered": True, "methodsRegistered": ["fido2SecurityKey"]}
    )
    records["role_assignments"].append(
        {"id": f"ra-{uid}", "principalId": uid, "roleDefinitionId": role, "directoryScopeId": "/"}
    )


def admin_policy_for_portals_only(records: Records) -> None:
    """Narrow the baseline's phishing-resistant policy for admins (All resources, Microsoft's template) to the
    Microsoft Admin Portals. It then no longer covers the admins for MFA on other resources, and no longer counts
    for ``admin-no-phishing-resistant-mfa``: the shape of many real tenants, and the one tests of a single MFA
    baseline's exclusions need."""
    for policy in records["conditional_access"]:
        if policy.get("id") == "ca-admin-prmfa":
            policy["conditions"]["applications"]["includeApplications"] = ["MicrosoftAdminPortals"]
