"""Control references: which benchmark controls and Microsoft pages each rule rests on.

Every rule id (the twenty v1 rules and the fifteen v2 rules of the catalog) maps to a tuple of
:class:`Reference`. A reference names a framework, the control's id there, a short title (our own
wording or the control's short title, never its text) and, where one exists, a public URL.

Sources, and how each id was checked (snapshots read in August 2026):

* **CIS Microsoft 365 Foundations Benchmark v7.0.0** (released 2026-05-19). The benchmark itself is
  behind a licence, so ids were confirmed through the machine-readable copy in prowler-cloud/prowler
  ``prowler/compliance/m365/cis_7.0_m365.json`` (160 requirements; id, section and description of
  each): 1.1.2, 1.2.2, 5.1.2.1, 5.2.2.1, 5.2.2.2, 5.2.2.3, 5.2.2.5, 5.2.2.14, 5.2.3.4, 5.2.3.5,
  5.3.3, 6.5.1 and 6.5.4 were each read there and their description matched the control named
  here. Titles are the short recommendation titles as quoted by Maester (``tests/cis``, whose
  newer tests carry the ``CIS M365 v7.0.0`` tag, e.g. 1.2.2), the MITRE InSpec baseline and
  Tenable's audit listings; v7.0 dropped the ``(L1)``/``(L2)`` prefixes, so none is shown.
* **CISA SCuBA** (M365 Secure Configuration Baselines): cisagov/ScubaGear
  ``PowerShell/ScubaGear/baselines/aad.md`` and ``exo.md`` list every ``MS.AAD.x.yvz`` /
  ``MS.EXO.x.yvz`` policy used here (re-read at ScubaGear's August 2026 main: each id, version suffix
  included, heads the policy statement paraphrased in its title); titles are shortened paraphrases.
* **Maester**: maester365/maester ``tests/Maester/**`` (``MT.10xx`` test names), ``tests/cisa/**``
  (``CISA.MS.AAD.x.y`` / ``CISA.MS.EXO.x.y``, Maester's automation of the SCuBA policy) and
  ``tests/cis/**`` (``CIS.M365.*``); every id used has its page under ``website/docs/tests/``
  (slug ``/tests/<id>``, hence the maester.dev URLs). Re-read at Maester's August 2026 main: each
  page exists and its ``title:`` names the check our short title paraphrases.
* **EIDSCA**: Maester ``tests/EIDSCA/Test-EIDSCA.Generated.Tests.ps1`` (``EIDSCA.AG01``,
  ``EIDSCA.AV01``) and the test pages at ``maester.dev/docs/tests/EIDSCA.*``.
* **Microsoft Learn**: every page's path and title were checked (November 2026) against the page's
  source: MicrosoftDocs/entra-docs (``docs/<path>.md``: the file exists, the title is its H1 or its
  ``title:``), the Exchange and Microsoft 365 docs (H1 of the stored page source or of the page on
  learn.microsoft.com), microsoft-graph-docs (userRegistrationDetails). Titles are the page H1 except
  "Require MFA for all users / administrators with Conditional Access" and "How to migrate to the
  Authentication methods policy" (the pages' ``title:``). That check corrected the anchor of the per-user
  MFA → Conditional Access section (it is in ``howto-mfa-getstarted``, not ``howto-mfa-userstates``) and
  twelve titles that had been written from the URL. ``policy-admin-phish-resistant-mfa`` and
  ``policy-block-legacy-authentication`` are the current names (the older ``how-to-policy-*`` /
  ``block-legacy-authentication`` pages carry the same text).
* **Microsoft 365 Message Center**: MC786329 (SMTP AUTH Basic authentication retirement; disabled
  by default for existing tenants from the end of December 2026) as archived by mc.merill.net and
  ChangePilot, pointing at the Exchange Team blog post.

A reference with ``relation="adjacent"`` supports the rule without being an exact equivalent
(the control is wider, narrower or a remediation-safety prerequisite); ``note`` says how. The six
headline rules about the four risky combinations have no benchmark equivalent: where they carry
one it is adjacent, and :data:`NO_BENCHMARK_EQUIVALENT` lists the rules whose only references are
Microsoft's own pages. This module imports nothing from the rest of ``auditor`` so that the rule
registry can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Framework = Literal[
    "CIS M365 v7.0",
    "CISA SCuBA",
    "Maester",
    "EIDSCA",
    "Microsoft Learn",
    "Microsoft 365 Message Center",
]
FRAMEWORKS: tuple[Framework, ...] = (
    "CIS M365 v7.0",
    "CISA SCuBA",
    "Maester",
    "EIDSCA",
    "Microsoft Learn",
    "Microsoft 365 Message Center",
)
Relation = Literal["equivalent", "adjacent"]


@dataclass(frozen=True, slots=True)
class Reference:
    """One control or page a rule rests on.

    ``verified`` is False only for an id that could not be confirmed against its source (``note``
    then says what was checked); none ships that way today.
    """

    framework: Framework
    id: str
    title: str
    url: str | None = None
    relation: Relation = "equivalent"
    note: str = ""
    verified: bool = True

    @property
    def key(self) -> tuple[str, str]:
        """The control's identity across rules: (framework, id)."""
        return (self.framework, self.id)


# --------------------------------------------------------------------------------------------
# The controls, defined once and shared by the rules below.

_CIS_URL = "https://www.cisecurity.org/benchmark/microsoft_365"
_AAD = "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md"
_EXO = "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/exo.md"
_MAESTER = "https://maester.dev/docs/tests/"
_LEARN = "https://learn.microsoft.com/"


def _cis(cid: str, title: str, relation: Relation = "equivalent", note: str = "") -> Reference:
    return Reference("CIS M365 v7.0", cid, title, _CIS_URL, relation, note)


def _scuba(pid: str, title: str, relation: Relation = "equivalent", note: str = "") -> Reference:
    base = _AAD if pid.startswith("MS.AAD.") else _EXO
    return Reference("CISA SCuBA", pid, title, f"{base}#{pid.lower().replace('.', '')}", relation, note)


def _mt(tid: str, title: str, relation: Relation = "equivalent", note: str = "") -> Reference:
    return Reference("Maester", tid, title, _MAESTER + tid, relation, note)


def _eidsca(tid: str, title: str, relation: Relation = "equivalent", note: str = "") -> Reference:
    return Reference("EIDSCA", tid, title, _MAESTER + tid, relation, note)


def _learn(path: str, title: str) -> Reference:
    return Reference("Microsoft Learn", _LEARN + path, title, _LEARN + path)


# CIS Microsoft 365 Foundations v7.0 (ids confirmed in prowler's cis_7.0_m365.json)
CIS_1_1_2 = _cis("1.1.2", "Ensure two emergency access accounts have been defined")
CIS_1_2_2 = _cis("1.2.2", "Ensure sign-in to shared mailboxes is blocked")
CIS_5_1_2_1 = _cis("5.1.2.1", "Ensure 'Per-user MFA' is disabled")
CIS_5_2_2_1 = _cis("5.2.2.1", "Ensure MFA is enabled for all users in administrative roles")
CIS_5_2_2_2 = _cis("5.2.2.2", "Ensure MFA is enabled for all users")
CIS_5_2_2_3 = _cis("5.2.2.3", "Enable Conditional Access policies to block legacy authentication")
CIS_5_2_2_5 = _cis("5.2.2.5", "Ensure 'Phishing-resistant MFA strength' is required for Administrators")
CIS_5_2_2_14 = _cis("5.2.2.14", "Ensure a trusted IP-range named location is defined")
CIS_5_2_3_4 = _cis("5.2.3.4", "Ensure all member users are 'MFA capable'")
CIS_5_2_3_5 = _cis("5.2.3.5", "Ensure weak authentication methods are disabled")
CIS_5_3_3 = _cis("5.3.3", "Ensure 'Access reviews' for privileged roles are configured")
CIS_6_5_1 = _cis("6.5.1", "Ensure modern authentication for Exchange Online is enabled")
CIS_6_5_4 = _cis("6.5.4", "Ensure SMTP AUTH is disabled")

# CISA SCuBA (baselines/aad.md, baselines/exo.md)
AAD_1_1 = _scuba("MS.AAD.1.1v1", "Block legacy authentication")
AAD_3_2 = _scuba("MS.AAD.3.2v2", "Enforce MFA for all users")
AAD_3_4 = _scuba("MS.AAD.3.4v1", "Set authentication methods migration to Migration Complete")
AAD_3_5 = _scuba("MS.AAD.3.5v2", "Disable SMS, voice call and email OTP methods")
AAD_3_6 = _scuba("MS.AAD.3.6v1", "Require phishing-resistant MFA for highly privileged roles")
AAD_7_3 = _scuba("MS.AAD.7.3v1", "Privileged users use cloud-only accounts")
EXO_5_1 = _scuba("MS.EXO.5.1v1", "Disable SMTP AUTH")

# Maester (tests/Maester, tests/cisa, tests/cis)
MT_1005 = _mt("MT.1005", "All CA policies exclude at least one emergency access account or group")
MT_1006 = _mt("MT.1006", "A CA policy requires MFA for admins")
MT_1007 = _mt("MT.1007", "A CA policy requires MFA for all users")
MT_1009 = _mt("MT.1009", "A CA policy blocks other legacy authentication")
MT_1010 = _mt("MT.1010", "A CA policy blocks legacy authentication for Exchange ActiveSync")
MT_1020 = _mt("MT.1020", "CA policies exclude or do not scope directory synchronization accounts")
MT_1025 = _mt("MT.1025", "No external user with a permanent role assignment on the control plane")
MT_1029 = _mt("MT.1029", "Stale accounts are not assigned to privileged roles")
MT_1033 = _mt("MT.1033", "Each user is blocked from legacy authentication")
MT_1034 = _mt("MT.1034", "Emergency access users are not blocked")
MT_1036 = _mt("MT.1036", "Every excluded object has a fallback include in another policy")
CISA_MS_AAD_1_1 = _mt("CISA.MS.AAD.1.1", "Maester check of MS.AAD.1.1: legacy authentication blocked")
CISA_MS_AAD_3_2 = _mt("CISA.MS.AAD.3.2", "Maester check of MS.AAD.3.2: MFA enforced for all users")
CISA_MS_AAD_3_4 = _mt("CISA.MS.AAD.3.4", "Maester check of MS.AAD.3.4: methods migration complete")
CISA_MS_AAD_3_5 = _mt("CISA.MS.AAD.3.5", "Maester check of MS.AAD.3.5: SMS, voice and email OTP disabled")
CISA_MS_AAD_3_6 = _mt("CISA.MS.AAD.3.6", "Maester check of MS.AAD.3.6: phishing-resistant MFA for admins")
CISA_MS_AAD_7_3 = _mt("CISA.MS.AAD.7.3", "Maester check of MS.AAD.7.3: cloud-only privileged accounts")
CISA_MS_EXO_5_1 = _mt("CISA.MS.EXO.5.1", "Maester check of MS.EXO.5.1: SMTP AUTH disabled")
CIS_M365_1_2_2 = _mt("CIS.M365.1.2.2", "Maester check of CIS 1.2.2: shared mailbox sign-in blocked")
CIS_M365_5_2_3_5 = _mt("CIS.M365.5.2.3.5", "Maester check of CIS 5.2.3.5: weak methods disabled")

# EIDSCA (Maester tests/EIDSCA)
EIDSCA_AG01 = _eidsca("EIDSCA.AG01", "Authentication methods - general settings - manage migration")
EIDSCA_AV01 = _eidsca("EIDSCA.AV01", "Authentication methods - voice call - state")

# Microsoft Learn
L_PER_USER_MFA = _learn(
    "entra/identity/authentication/howto-mfa-userstates",
    "Enable per-user Microsoft Entra multifactor authentication to secure sign-in events",
)
L_PER_USER_TO_CA = _learn(
    "entra/identity/authentication/howto-mfa-getstarted#convert-users-from-per-user-mfa-to-conditional-access-based-mfa",
    "Convert users from per-user MFA to Conditional Access based MFA",
)
L_APP_PASSWORDS = _learn(
    "entra/identity/authentication/howto-mfa-app-passwords",
    "Enforce Microsoft Entra multifactor authentication with legacy applications using app passwords",
)
L_MFA_SETTINGS = _learn(
    "entra/identity/authentication/howto-mfa-mfasettings",
    "Configure Microsoft Entra multifactor authentication settings",
)
L_MFA_PROMPTS = _learn(
    "entra/identity/authentication/concepts-azure-multi-factor-authentication-prompts-session-lifetime",
    "Reauthentication prompts and session lifetime for Microsoft Entra multifactor authentication",
)
L_NETWORK = _learn(
    "entra/identity/conditional-access/concept-assignment-network",
    "Conditional Access: Network assignment",
)
L_BLOCK_LEGACY = _learn(
    "entra/identity/conditional-access/policy-block-legacy-authentication",
    "Block legacy authentication with Conditional Access",
)
L_ALL_USERS_MFA = _learn(
    "entra/identity/conditional-access/howto-conditional-access-policy-all-users-mfa",
    "Require MFA for all users with Conditional Access",
)
L_ADMIN_MFA = _learn(
    "entra/identity/conditional-access/howto-conditional-access-policy-admin-mfa",
    "Require MFA for administrators with Conditional Access",
)
L_ADMIN_PHISH_RESISTANT = _learn(
    "entra/identity/conditional-access/policy-admin-phish-resistant-mfa",
    "Require phishing-resistant multifactor authentication for administrators",
)
L_STRENGTHS = _learn(
    "entra/identity/authentication/concept-authentication-strengths",
    "Conditional Access authentication strengths",
)
L_TARGET_RESOURCES = _learn(
    "entra/identity/conditional-access/concept-conditional-access-cloud-apps",
    "Conditional Access: Target resources",
)
L_GRANT = _learn(
    "entra/identity/conditional-access/concept-conditional-access-grant",
    "Conditional Access: Grant",
)
L_SECURITY_DEFAULTS = _learn("entra/fundamentals/security-defaults", "Security defaults in Microsoft Entra ID")
L_REGISTRATION_DETAILS = _learn(
    "graph/api/resources/userregistrationdetails",
    "userRegistrationDetails resource type",
)
L_PHONE_OPTIONS = _learn(
    "entra/identity/authentication/concept-authentication-phone-options",
    "Authentication methods in Microsoft Entra ID - phone options",
)
L_SMS_VOICE_RETIREMENT = _learn(
    "entra/identity/authentication/concept-sms-voice-retirement",
    "Passkeys by default and retirement of Microsoft-provided SMS and voice authentication",
)
L_METHODS_MIGRATION = _learn(
    "entra/identity/authentication/how-to-authentication-methods-manage",
    "How to migrate to the Authentication methods policy",
)
L_EMERGENCY_ACCESS = _learn(
    "entra/identity/role-based-access-control/security-emergency-access",
    "Manage emergency access admin accounts in Microsoft Entra ID",
)
L_ROLE_BEST_PRACTICES = _learn(
    "entra/identity/role-based-access-control/best-practices",
    "Best practices for Microsoft Entra roles",
)
L_INACTIVE_USERS = _learn(
    "entra/identity/monitoring-health/howto-manage-inactive-user-accounts",
    "How To: Manage inactive user accounts",
)
L_B2B_USER_PROPERTIES = _learn(
    "entra/external-id/user-properties",
    "Properties of a Microsoft Entra B2B collaboration user",
)
L_CONNECT_ACCOUNTS = _learn(
    "entra/identity/hybrid/connect/reference-connect-accounts-permissions",
    "Microsoft Entra Connect: Accounts and permissions",
)
L_SMTP_AUTH = _learn(
    "exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission",
    "Enable or disable authenticated client SMTP submission (SMTP AUTH) in Exchange Online",
)
L_POP_IMAP = _learn(
    "exchange/clients-and-mobile-in-exchange-online/pop3-and-imap4/enable-or-disable-pop3-or-imap4-access",
    "Enable or Disable POP3 or IMAP4 access for a user",
)
L_DISABLE_BASIC = _learn(
    "exchange/clients-and-mobile-in-exchange-online/disable-basic-authentication-in-exchange-online",
    "Disable Basic authentication in Exchange Online",
)
L_BASIC_DEPRECATION = _learn(
    "exchange/clients-and-mobile-in-exchange-online/deprecation-of-basic-authentication-exchange-online",
    "Deprecation of Basic authentication in Exchange Online",
)
L_MODERN_AUTH_EXO = _learn(
    "exchange/clients-and-mobile-in-exchange-online/enable-or-disable-modern-authentication-in-exchange-online",
    "Enable or disable modern authentication for Outlook in Exchange Online",
)
L_SHARED_MAILBOXES = _learn(
    "microsoft-365/admin/email/about-shared-mailboxes", "About shared mailboxes in Microsoft 365"
)

MC786329 = Reference(
    "Microsoft 365 Message Center",
    "MC786329",
    "Exchange Online to retire Basic auth for Client Submission (SMTP AUTH)",
    "https://techcommunity.microsoft.com/blog/exchange/exchange-online-to-retire-basic-auth-for-client-submission-smtp-auth/4114750",
)


def _adj(ref: Reference, note: str) -> Reference:
    """The same control, cited as adjacent to a rule (with why)."""
    return Reference(ref.framework, ref.id, ref.title, ref.url, "adjacent", note, ref.verified)


# --------------------------------------------------------------------------------------------
# Rule id -> references.

_REFERENCES: dict[str, tuple[Reference, ...]] = {
    # Headline rules: the risky combinations have no benchmark equivalent.
    "admin-app-passwords": (L_APP_PASSWORDS, L_PER_USER_MFA, L_MFA_SETTINGS),
    "daily-account-per-user-mfa": (
        _adj(CIS_5_1_2_1, "the benchmark disables per-user MFA for everyone; the rule targets daily accounts"),
        L_PER_USER_MFA,
        L_PER_USER_TO_CA,
    ),
    "smtp-auth-org-enabled": (CIS_6_5_4, EXO_5_1, CISA_MS_EXO_5_1, L_SMTP_AUTH),
    "smtp-auth-mailbox-enabled": (
        _adj(CIS_6_5_4, "organization-level control; the rule reports per-mailbox exposure"),
        _adj(EXO_5_1, "organization-level default; the rule reports per-mailbox exposure"),
        L_SMTP_AUTH,
        L_DISABLE_BASIC,
    ),
    "imap-pop-enabled": (L_POP_IMAP, L_BASIC_DEPRECATION),
    "trusted-ips-duplicate-named-locations": (
        _adj(CIS_5_2_2_14, "the benchmark wants trusted IP ranges as named locations; the rule flags a second list"),
        L_MFA_SETTINGS,
        L_NETWORK,
    ),
    # Related rules (v1).
    "trusted-ips-private-range": (L_MFA_SETTINGS, L_NETWORK),
    "trusted-ips-ipv4-only": (
        _adj(CIS_5_2_2_14, "the remediation: define the ranges as an IP named location"),
        L_MFA_SETTINGS,
        L_NETWORK,
    ),
    "trusted-location-too-broad": (
        _adj(CIS_5_2_2_14, "the benchmark asks for trusted IP named locations; it sets no maximum size"),
        L_NETWORK,
        L_MFA_SETTINGS,
    ),
    "mfa-no-baseline": (
        CIS_5_2_2_2,
        _adj(CIS_5_2_2_1, "the administrators' half of the baseline"),
        AAD_3_2,
        CISA_MS_AAD_3_2,
        MT_1007,
        L_ALL_USERS_MFA,
        L_SECURITY_DEFAULTS,
    ),
    "legacy-auth-not-blocked": (
        CIS_5_2_2_3,
        AAD_1_1,
        CISA_MS_AAD_1_1,
        MT_1009,
        MT_1010,
        L_BLOCK_LEGACY,
        L_SECURITY_DEFAULTS,
    ),
    "legacy-auth-block-excluded": (CIS_5_2_2_3, AAD_1_1, MT_1033, MT_1036, L_BLOCK_LEGACY),
    "ca-mfa-excluded": (
        CIS_5_2_2_1,
        CIS_5_2_2_2,
        _adj(CIS_1_1_2, "emergency access accounts are the exclusion the benchmark expects"),
        AAD_3_2,
        MT_1036,
        L_ALL_USERS_MFA,
        L_EMERGENCY_ACCESS,
    ),
    "per-user-mfa-legacy-config": (CIS_5_1_2_1, L_PER_USER_MFA, L_PER_USER_TO_CA),
    "tenant-app-passwords-allowed": (L_APP_PASSWORDS, L_MFA_SETTINGS),
    "remember-mfa-long": (L_MFA_SETTINGS, L_MFA_PROMPTS),
    "admin-no-mfa-method": (
        _adj(CIS_5_2_3_4, "the benchmark covers every member user; the rule covers admins"),
        L_REGISTRATION_DETAILS,
    ),
    "legacy-auth-sign-ins": (
        _adj(CIS_5_2_2_3, "the block that stops the observed legacy sign-ins"),
        _adj(AAD_1_1, "the block that stops the observed legacy sign-ins"),
        L_BLOCK_LEGACY,
    ),
    "guest-admin": (
        _adj(AAD_7_3, "privileged accounts from another identity provider (here a guest's home tenant)"),
        _adj(CISA_MS_AAD_7_3, "Maester's check of the adjacent SCuBA policy"),
        MT_1025,
        L_ROLE_BEST_PRACTICES,
        L_B2B_USER_PROPERTIES,
    ),
    "stale-admin": (
        _adj(CIS_5_3_3, "access reviews of privileged roles find the unused assignments"),
        MT_1029,
        L_INACTIVE_USERS,
    ),
    # v2 rules.
    "per-user-mfa-migration-gap": (
        _adj(CIS_5_1_2_1, "remediation safety: cover the user by CA before per-user MFA is switched off"),
        L_PER_USER_TO_CA,
        L_ALL_USERS_MFA,
    ),
    "ca-baseline-excludes-apps": (CIS_5_2_2_2, CIS_5_2_2_3, AAD_3_2, AAD_1_1, L_TARGET_RESOURCES),
    "mfa-baseline-device-alternative": (CIS_5_2_2_2, AAD_3_2, L_GRANT),
    "legacy-auth-block-location-exempt": (CIS_5_2_2_3, AAD_1_1, L_BLOCK_LEGACY, L_NETWORK),
    "admin-not-covered-by-mfa": (
        CIS_5_2_2_1,
        _adj(AAD_3_6, "the SCuBA policy asks for phishing-resistant MFA, a stronger requirement"),
        MT_1006,
        L_ADMIN_MFA,
    ),
    "admin-phone-only-mfa": (
        AAD_3_5,
        CISA_MS_AAD_3_5,
        CIS_5_2_3_5,
        CIS_M365_5_2_3_5,
        _adj(EIDSCA_AV01, "the tenant-wide switch for voice call"),
        L_SMS_VOICE_RETIREMENT,
        L_PHONE_OPTIONS,
    ),
    "users-phone-only-mfa": (
        AAD_3_5,
        CISA_MS_AAD_3_5,
        _adj(CIS_5_2_3_5, "the method policy; the rule counts users who depend on those methods"),
        L_SMS_VOICE_RETIREMENT,
        L_PHONE_OPTIONS,
    ),
    "admin-no-phishing-resistant-mfa": (
        # ScubaGear's MS.AAD.3.6v1 check (AADConfig.rego) and Maester's CISA.MS.AAD.3.6 both count only a policy
        # whose includeApplications has "All"; so does this rule (an Admin-Portals-only policy is named, not counted).
        AAD_3_6,
        CISA_MS_AAD_3_6,
        CIS_5_2_2_5,
        L_ADMIN_PHISH_RESISTANT,
        L_STRENGTHS,
    ),
    "auth-methods-migration-incomplete": (AAD_3_4, CISA_MS_AAD_3_4, EIDSCA_AG01, L_METHODS_MIGRATION),
    "emergency-access-weak": (CIS_1_1_2, MT_1005, MT_1034, L_EMERGENCY_ACCESS),
    "sync-account-risk": (
        _adj(CIS_5_2_3_4, "its audit notes that directory synchronization accounts show up in the MFA report"),
        _adj(MT_1020, "CA treatment of the same accounts"),
        L_CONNECT_ACCOUNTS,
    ),
    "exchange-basic-auth-allowed": (MC786329, L_DISABLE_BASIC, L_BASIC_DEPRECATION, L_SMTP_AUTH),
    "exchange-modern-auth-disabled": (CIS_6_5_1, L_MODERN_AUTH_EXO),
    "federated-mfa-bypass": (L_MFA_SETTINGS, L_NETWORK),
    "shared-mailbox-sign-in-enabled": (CIS_1_2_2, CIS_M365_1_2_2, L_SHARED_MAILBOXES),
}

REFERENCES: Mapping[str, tuple[Reference, ...]] = MappingProxyType(_REFERENCES)
"""Rule id -> its references, read-only."""

MICROSOFT_FRAMEWORKS: frozenset[str] = frozenset({"Microsoft Learn", "Microsoft 365 Message Center"})

# Rules with no equivalent CIS, SCuBA, Maester or EIDSCA control: at most adjacent ones, and
# Microsoft's own pages (documentation, message center) are what they rest on.
NO_BENCHMARK_EQUIVALENT: frozenset[str] = frozenset(
    rule_id
    for rule_id, refs in _REFERENCES.items()
    if all(ref.framework in MICROSOFT_FRAMEWORKS or ref.relation == "adjacent" for ref in refs)
)


def references_for(rule_id: str) -> tuple[Reference, ...]:
    """The references of one rule (empty for an unknown id)."""
    return REFERENCES.get(rule_id, ())


def controls(include_learn: bool = True) -> dict[tuple[str, str], tuple[str, ...]]:
    """Invert :data:`REFERENCES`: (framework, id) -> the rule ids that reference it, sorted.

    With ``include_learn=False`` the Microsoft Learn pages are left out (a Controls sheet lists
    benchmark controls; the pages are documentation).
    """
    inverse: dict[tuple[str, str], set[str]] = {}
    for rule_id, refs in REFERENCES.items():
        for ref in refs:
            if not include_learn and ref.framework == "Microsoft Learn":
                continue
            inverse.setdefault(ref.key, set()).add(rule_id)
    return {key: tuple(sorted(rules)) for key, rules in sorted(inverse.items())}


def control(framework: str, control_id: str) -> Reference | None:
    """The reference object for one control (its title and URL), or None when no rule cites it."""
    for refs in REFERENCES.values():
        for ref in refs:
            if ref.key == (framework, control_id):
                return ref
    return None
