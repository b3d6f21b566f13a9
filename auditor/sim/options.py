"""Configuration of the simulator: server-wide options and the tenants it serves."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.snapshot import Snapshot

#: Route names used by stats, throttling and fault injection. Data routes are named after the snapshot
#: source they serve (see ``auditor/sources.py``); the rest are plumbing.
ROUTES = (
    "users",
    "per_user_mfa",
    "role_definitions",
    "role_assignments",
    "role_eligibility",
    "group_members",
    "registration_details",
    "security_defaults",
    "conditional_access",
    "named_locations",
    "auth_methods_policy",
    "mfa_service_policy",
    "sign_ins",
    "cas_mailboxes",
    "transport_config",
    "authentication_policies",
    "organization_config",
    "pim_group_eligibility",
    "authentication_strengths",
    "mailboxes",
    "exchange_users",
    "exo_command",
    "send_mail",
    "messages",
    "upload_session",
    "upload",
    "batch",
    "exo_batch",
    "token",
    "discovery",
    "keys",
    "instance_discovery",
    "unknown",
)

#: What a fault option may hold: a collection of route names (always misbehave) or a mapping of route
#: name to how many times to misbehave before answering normally.
FaultSpec = Collection[str] | Mapping[str, int]


@dataclass
class SimOptions:
    """Server-wide behaviour. Defaults mimic Microsoft's documented limits where that is cheap."""

    latency_ms: float = 0.0
    #: identity (directory) resource units per 10 s per tenant+app; None = unlimited
    identity_budget_units: int | None = None
    #: reports (sign-ins, registration details): requests per 10 s per tenant+app; None = unlimited
    reports_per_10s: int | None = 5
    #: Conditional Access policies / named locations: requests per second per tenant (no Retry-After)
    ca_per_second: float | None = 1.0
    #: Exchange admin API: requests per 10 s per tenant+app; None = unlimited
    exo_per_10s: int | None = None
    #: probability (0..1) that a data request answers 503 with Retry-After
    random_503_rate: float = 0.0
    retry_after_503_s: int = 1
    seed: int = 0
    token_lifetime_s: int = 3599
    #: after this many authenticated requests, every token issued so far is revoked once (401
    #: InvalidAuthenticationToken); tokens issued later keep working. None = never
    force_401_after_requests: int | None = None
    #: route names that answer 403 Authorization_RequestDenied regardless of the token
    forbidden: Collection[str] = ()
    unlicensed_p1: bool = False
    unlicensed_p2: bool = False
    #: whether ``$select=perUserMfaState`` on /users returns the (undocumented) property
    per_user_mfa_bulk: bool = True
    malformed_json: FaultSpec = ()
    truncated_page: FaultSpec = ()
    users_max_page: int = 999
    default_page: int = 100
    sign_in_page: int = 1000
    #: silently cap pages with signInActivity at this size (an older service behaviour); None = no cap
    sign_in_activity_page_cap: int | None = None
    #: the largest $top allowed with signInActivity (documented: 500); a larger one answers 400
    sign_in_activity_max_top: int = 500
    #: the 2023 service: more than 120 users with signInActivity answer 400 with a non-OData body
    #: ``{"@odata.context": "...#Edm.String", "value": "Cannot query data for more than 120 users at a time."}``
    sign_in_activity_2023: bool = False
    #: GET with signInActivity: requests per minute per tenant+app (on top of the reports bucket); None = unlimited
    sign_in_activity_per_minute: int | None = 10
    #: user ids (or UPNs) deleted since the listing: their per-user MFA requirements answer 404
    vanished_users: Collection[str] = ()
    #: the Exchange admin API redirects InvokeCommand (302) to a tenant-specific host: this host name (the
    #: simulator's own port and a ``/tenant-host`` path prefix); None = no redirect
    exchange_redirect_host: str | None = None
    #: serve the authentication methods policy with its method configurations inline; when False they are
    #: only readable one by one (``.../authenticationMethodConfigurations/{id}``)
    method_configurations_inline: bool = True
    #: serve Graph's sentinel dates ("0001-01-01T00:00:00Z", "") for sign-in dates that have no value
    sentinel_dates: bool = True
    exo_default_page: int = 1000
    #: seconds an upload session stays valid
    upload_session_lifetime_s: int = 900
    #: shuffle $batch responses (Graph may answer out of order)
    shuffle_batch: bool = True
    #: hostile behaviour (link loops, stalls, trickling bodies, echoed secrets): ``auditor.sim.faults.Faults``
    faults: Any = None


@dataclass
class SimTenant:
    """One tenant: its data (a snapshot) and the one app registration that may call it."""

    snapshot: Snapshot
    client_id: str = "11111111-1111-1111-1111-111111111111"
    client_secret: str | None = "sim-secret"  # noqa: S105 - the simulator's throwaway secret
    #: PEM of the app's certificate (public part); enables client_assertion logins
    certificate_pem: str | bytes | None = None
    #: granted application permissions (Graph + ``Exchange.ManageAsApp``); None = everything
    granted: Collection[str] | None = None
    #: Entra directory roles held by the app's service principal (names or template ids)
    directory_roles: Collection[str] = field(default_factory=lambda: {"Global Reader"})
    #: per-tenant licence overrides; None = follow SimOptions and the snapshot's coverage
    licensed_p1: bool | None = None
    licensed_p2: bool | None = None


@dataclass
class SentAttachment:
    name: str
    content_type: str
    data: bytes


@dataclass
class SentMail:
    """One message the simulator accepted for delivery (decoded)."""

    tenant_id: str
    sender: str
    subject: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    body_type: str
    body: str
    attachments: list[SentAttachment]
    via: str  # "sendMail" or "draft"
    save_to_sent_items: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict)
