"""Exchange Online authentication policies: which policy applies to whom, and which protocols it lets use Basic
authentication (rules.md v2 ``exchange-basic-auth-allowed``, and ``smtp-auth-mailbox-enabled``'s mitigation).

The policy that applies to a user is the one assigned to them (``Get-User`` ``AuthenticationPolicy``), else the
organisation default (``Get-OrganizationConfig`` ``DefaultAuthenticationPolicy``); a user with neither has no
policy, and Exchange then accepts Basic auth wherever the protocol itself still offers it
(https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/disable-basic-authentication-in-exchange-online).
Since Basic auth was retired for the other protocols in 2022, SMTP AUTH is the one where ``AllowBasicAuthSmtp``
still decides (https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/deprecation-of-basic-authentication-exchange-online;
MC786329: Basic SMTP AUTH off by default from the end of December 2026).

Assignments may name a policy by ``Name``, ``Identity`` or distinguished name (``CN=<name>,CN=Auth Policies,…``):
all three resolve to the policy's name.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

#: ``AllowBasicAuth<Protocol>`` flags of Get-AuthenticationPolicy, in report order.
PROTOCOLS = (
    "Smtp",
    "Imap",
    "Pop",
    "ActiveSync",
    "Autodiscover",
    "Mapi",
    "OfflineAddressBook",
    "OutlookService",
    "Powershell",
    "ReportingWebServices",
    "Rest",
    "Rpc",
    "WebServices",
)


def policy_name(ref: Any) -> str | None:
    """The policy name in an assignment (a name, or ``CN=<name>,…``); None when empty."""
    if not isinstance(ref, str) or not ref.strip():
        return None
    text = ref.strip()
    if text.upper().startswith("CN="):
        return text[3:].split(",", 1)[0]
    return text.rsplit("\\", 1)[-1]


@dataclass
class ExchangeAuth:
    """The tenant's Exchange authentication policies and their assignment."""

    policies_known: bool = False
    """``authentication_policies`` was collected."""
    policies: dict[str, dict[str, bool | None]] = field(default_factory=dict)
    """Policy name → {protocol: AllowBasicAuth<protocol>} (None when the flag is absent)."""
    org_known: bool = False
    """``organization_config`` was collected."""
    org_default: str | None = None
    oauth2_client_profile_enabled: bool | None = None
    users_known: bool = False
    """``exchange_users`` was collected (per-user assignments are known)."""
    user_policy: dict[str, str] = field(default_factory=dict)
    """Entra user id → assigned policy name (users without an assignment are absent)."""
    user_names: dict[str, str] = field(default_factory=dict)
    """Entra user id → UPN as Exchange reports it (for evidence)."""

    def policy_for(self, user_id: str) -> str | None:
        """The policy that applies: the user's own, else the org default."""
        return self.user_policy.get(user_id) or self.org_default

    def basic_allowed(self, policy: str) -> list[str]:
        """The protocols a policy lets use Basic auth (a flag that is not False allows it)."""
        flags = self.policies.get(policy) or {}
        return [p for p in PROTOCOLS if flags.get(p) is not False and p in flags]

    def smtp_basic_blocked(self, user_id: str) -> bool:
        """The applicable policy sets ``AllowBasicAuthSmtp`` false (the only state that stops Basic SMTP AUTH)."""
        policy = self.policy_for(user_id)
        return policy is not None and (self.policies.get(policy) or {}).get("Smtp") is False

    def assigned_users(self) -> dict[str, list[str]]:
        """Policy name → user ids assigned to it explicitly."""
        out: dict[str, list[str]] = defaultdict(list)
        for uid, name in self.user_policy.items():
            out[name].append(uid)
        return dict(out)


def _flags(record: dict[str, Any]) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for p in PROTOCOLS:
        key = f"AllowBasicAuth{p}"
        if key in record:
            value = record[key]
            out[p] = value if isinstance(value, bool) else None
    return out


def build_exchange_auth(
    policies: list[Any] | None, org_config: Any, exchange_users: list[Any] | None, known_user_ids: set[str]
) -> ExchangeAuth:
    """From the raw ``authentication_policies``, ``organization_config`` and ``exchange_users`` records (None when
    the source was not collected). ``known_user_ids`` are the Entra user ids: a Get-User record is joined on
    ``ExternalDirectoryObjectId``."""
    out = ExchangeAuth()
    if policies is not None:
        out.policies_known = True
        for rec in policies:
            if not isinstance(rec, dict):
                continue
            name = policy_name(rec.get("Name")) or policy_name(rec.get("Identity"))
            if name:
                out.policies[name] = _flags(rec)
    if isinstance(org_config, dict):
        out.org_known = True
        out.org_default = policy_name(org_config.get("DefaultAuthenticationPolicy"))
        flag = org_config.get("OAuth2ClientProfileEnabled")
        out.oauth2_client_profile_enabled = flag if isinstance(flag, bool) else None
    if exchange_users is not None:
        out.users_known = True
        for rec in exchange_users:
            if not isinstance(rec, dict):
                continue
            uid = str(rec.get("ExternalDirectoryObjectId") or "")
            name = policy_name(rec.get("AuthenticationPolicy"))
            if uid in known_user_ids and name:
                out.user_policy[uid] = name
                out.user_names[uid] = str(rec.get("UserPrincipalName") or uid)
    return out
