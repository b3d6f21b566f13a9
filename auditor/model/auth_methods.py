"""Authentication-method strength per user, and the Conditional Access policies that demand phishing-resistant MFA
(rules.md v2 ``admin-phone-only-mfa``, ``users-phone-only-mfa``, ``admin-no-phishing-resistant-mfa``,
``emergency-access-weak``).

``methodsRegistered`` (userRegistrationDetails, https://learn.microsoft.com/graph/api/resources/userregistrationdetails)
is a free string list. Phone methods are ``mobilePhone``, ``alternateMobilePhone`` and ``officePhone``
(SMS/voice, https://learn.microsoft.com/entra/identity/authentication/concept-authentication-phone-options).
Phishing-resistant methods are passkeys (FIDO2, device-bound or synced), Windows Hello for Business, the macOS
platform credential and certificate-based authentication
(https://learn.microsoft.com/entra/identity/authentication/concept-authentication-strengths — the built-in
"Phishing-resistant MFA" strength ``00000000-0000-0000-0000-000000000004``). Methods that are not a second factor
(e-mail, security questions, Temporary Access Pass) are ignored when deciding "phone only".

A policy **requires phishing-resistant MFA** for a user when it is in force, targets All resources (Microsoft's
template https://learn.microsoft.com/entra/identity/conditional-access/policy-admin-phish-resistant-mfa targets All
resources; ScubaGear's MS.AAD.3.6v1 check in AADConfig.rego and Maester's CISA.MS.AAD.3.6 count only a policy whose
``includeApplications`` has ``All``; CIS 5.2.2.5 likewise), its only grant (or an AND of grants) is an
authentication strength that is the built-in phishing-resistant one or whose ``allowedCombinations`` are all
phishing-resistant, and it applies to the user (active roles; eligible roles on activation). A policy for the
Microsoft Admin Portals alone does not count: the admin can still reach Exchange Online, SharePoint and Microsoft
Graph with a weaker method. Such policies are named in the rule's evidence (``portals_only_policies``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from auditor.model.exclusions import policy_masks

PHONE_METHODS = frozenset({"mobilePhone", "alternateMobilePhone", "officePhone"})
NOT_A_SECOND_FACTOR = frozenset({"email", "securityQuestion", "temporaryAccessPass"})
PHISHING_RESISTANT_METHODS = frozenset(
    {
        "fido2SecurityKey",
        "windowsHelloForBusiness",
        "passKeyDeviceBound",
        "passKeyDeviceBoundAuthenticator",
        "passKeyDeviceBoundWindowsHello",
        "passKeySynced",
        "macOsSecureEnclaveKey",
        "x509Certificate",
        "x509CertificateMultiFactor",
    }
)
PHISHING_RESISTANT_STRENGTH = "00000000-0000-0000-0000-000000000004"
#: authenticationStrengthPolicy.allowedCombinations values that are phishing-resistant.
PHISHING_RESISTANT_COMBINATIONS = frozenset({"fido2", "windowsHelloForBusiness", "x509CertificateMultiFactor"})
ADMIN_PORTALS = "MicrosoftAdminPortals"


def phone_only(methods: list[str]) -> bool:
    """The registered second factors are SMS/voice only (and there is at least one)."""
    factors = {m for m in methods if m not in NOT_A_SECOND_FACTOR}
    return bool(factors) and factors <= PHONE_METHODS


def phishing_resistant(methods: list[str]) -> list[str]:
    """The phishing-resistant methods among ``methods``."""
    return [m for m in methods if m in PHISHING_RESISTANT_METHODS]


def _strength_is_phishing_resistant(strength: Any, known: dict[str, list[str]]) -> bool:
    if not isinstance(strength, dict):
        return False
    sid = str(strength.get("id") or "")
    if sid == PHISHING_RESISTANT_STRENGTH:
        return True
    combos = strength.get("allowedCombinations") or known.get(sid) or []
    return bool(combos) and all(str(c) in PHISHING_RESISTANT_COMBINATIONS for c in combos)


def requires_phishing_resistant(
    raw: dict[str, Any], known: dict[str, list[str]] | None = None, *, target: str = "All"
) -> bool:
    """An in-force policy including ``target`` (All resources; or ``ADMIN_PORTALS`` to find the policies that
    would count but for their scope) whose grant demands a phishing-resistant strength (alone, or AND'ed with
    other controls)."""
    if raw.get("state") != "enabled":
        return False
    apps = ((raw.get("conditions") or {}).get("applications") or {}).get("includeApplications") or []
    if not isinstance(apps, list) or target not in apps or (target != "All" and "All" in apps):
        return False
    grant = raw.get("grantControls") or {}
    if not _strength_is_phishing_resistant(grant.get("authenticationStrength"), known or {}):
        return False
    others = [c for c in grant.get("builtInControls") or [] if c]
    return not others or str(grant.get("operator") or "OR").upper() == "AND"


def portals_only_phishing_resistant(ca_records: list[Any], strengths: list[Any] | None) -> list[str]:
    """Names of the in-force policies that require phishing-resistant MFA for the Microsoft Admin Portals only
    (not counted: see the module docstring)."""
    known = _known_strengths(strengths)
    return sorted(
        str(r.get("displayName") or r.get("id"))
        for r in ca_records
        if isinstance(r, dict) and requires_phishing_resistant(r, known, target=ADMIN_PORTALS)
    )


def _known_strengths(strengths: list[Any] | None) -> dict[str, list[str]]:
    return {
        str(s.get("id")): list(s.get("allowedCombinations") or [])
        for s in strengths or []
        if isinstance(s, dict) and s.get("allowedCombinations")
    }


def phishing_resistant_policies(
    ca_records: list[Any], strengths: list[Any] | None, ca_semantics: pd.DataFrame
) -> list[Any]:
    """The ``ca_semantics`` rows of the policies that require phishing-resistant MFA."""
    known = _known_strengths(strengths)
    ids = {str(r.get("id")) for r in ca_records if isinstance(r, dict) and requires_phishing_resistant(r, known)}
    if not ids or ca_semantics.empty:
        return []
    return [p for _, p in ca_semantics[ca_semantics["id"].isin(ids)].iterrows()]


def phishing_resistant_required_by(
    policies: list[Any], users: pd.DataFrame, groups: dict[str, dict[str, Any]], holdings: pd.DataFrame
) -> list[list[str]]:
    """Per user (users order): the names of the policies that require phishing-resistant MFA of them, now or —
    for eligible role holders — on activation."""
    n = len(users)
    out: list[list[str]] = [[] for _ in range(n)]
    for p in policies:
        scope = policy_masks(p, users, groups, holdings)
        for i in np.flatnonzero(scope.applies | scope.applies_on_activation).tolist():
            out[i].append(str(p["name"]))
    return out


def account_facts(raw_users: list[Any], activity: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """User id → {synced: onPremisesSyncEnabled is true, licensed: assignedLicenses not empty (None when the
    property was not returned), interactive: signInActivity.lastSignInDateTime (the last *interactive* attempt,
    failed ones included)} (https://learn.microsoft.com/graph/api/resources/user,
    https://learn.microsoft.com/graph/api/resources/signinactivity). ``activity`` is the sign_in_activity source
    (user id → signInActivity, as ``build_users`` reads it); when collected it replaces the users' own."""
    out: dict[str, dict[str, Any]] = {}
    for r in raw_users:
        if not isinstance(r, dict):
            continue
        lic = r.get("assignedLicenses")
        out[str(r.get("id"))] = {
            "synced": r.get("onPremisesSyncEnabled") is True,
            "licensed": bool(lic) if isinstance(lic, list) else None,
            "interactive": (r.get("signInActivity") or {}).get("lastSignInDateTime"),
        }
    if isinstance(activity, dict):  # the collector's shape: user id → signInActivity (role holders only)
        for uid, facts in out.items():
            found = activity.get(uid)
            facts["interactive"] = found.get("lastSignInDateTime") if isinstance(found, dict) else None
    return out


def _fact_columns(
    ids: list[str], raw_users: list[Any], activity: dict[str, Any] | None
) -> tuple[list[bool], list[bool | None], list[Any]]:
    """``account_facts`` as columns in ``ids`` order (synced, licensed, interactive)."""
    if len(raw_users) == len(ids) and len(set(ids)) == len(ids):
        # the common case: the users table has one row per raw record, in order; read each record once
        raw_ids = [str(r.get("id")) if isinstance(r, dict) else None for r in raw_users]
        if raw_ids == ids:
            synced = [r.get("onPremisesSyncEnabled") is True for r in raw_users]
            licences = [r.get("assignedLicenses") for r in raw_users]
            licensed = [bool(lic) if isinstance(lic, list) else None for lic in licences]
            if isinstance(activity, dict):
                found = [activity.get(i) for i in ids]
                interactive = [f.get("lastSignInDateTime") if isinstance(f, dict) else None for f in found]
            else:
                interactive = [(r.get("signInActivity") or {}).get("lastSignInDateTime") for r in raw_users]
            return synced, licensed, interactive
    facts = account_facts(raw_users, activity)
    return (
        [facts.get(i, {}).get("synced", False) for i in ids],
        [facts.get(i, {}).get("licensed") for i in ids],
        [facts.get(i, {}).get("interactive") for i in ids],
    )


def add_method_columns(
    users: pd.DataFrame, raw_users: list[Any], activity: dict[str, Any] | None, pr_required_by: list[list[str]]
) -> pd.DataFrame:
    """Add ``on_prem_synced``, ``licensed``, ``last_interactive`` (datetime64[UTC]|NaT) and
    ``phishing_resistant_required_by`` to the users table."""
    users = users.copy(deep=False)
    synced, licensed, interactive = _fact_columns(users["id"].tolist(), raw_users, activity)
    users["on_prem_synced"] = pd.Series(synced, index=users.index)
    users["licensed"] = pd.Series(licensed, index=users.index, dtype=object)
    parsed = pd.to_datetime(
        pd.Series(interactive, dtype="object"), utc=True, errors="coerce", format="ISO8601", cache=False
    )
    # .array keeps the datetime64 values (to_numpy() makes a Timestamp object per user); a column without any date
    # keeps the dtype it always had (pandas infers a naive one from NaT objects)
    values = parsed.array if parsed.notna().any() else parsed.to_numpy()
    users["last_interactive"] = pd.Series(values, index=users.index)
    users["phishing_resistant_required_by"] = pd.Series(pr_required_by, index=users.index, dtype=object)
    return users
