"""TenantModel: the tables every rule and renderer reads.

Tables (pandas DataFrames; one row per entity; list-valued cells hold Python lists):

users            id, upn, display_name, user_type ('Member'|'Guest'), enabled (bool), is_guest (bool),
                 guest_kind ('internalGuest'|'b2bCollaborationGuest'|'b2bCollaborationMember'|None),
                 per_user_mfa ('disabled'|'enabled'|'enforced'|None when unknown),
                 is_admin (bool), admin_roles (list[str] role names), privileged_admin (bool),
                 role_assignment_kinds (list[str] e.g. ['active', 'eligible', 'via group Tier0']),
                 is_service_account (bool), service_signal (str|None: which signal matched),
                 is_daily (bool), mfa_registered (bool|None), mfa_capable (bool|None: isMfaCapable),
                 methods (list[str]),
                 last_sign_in (datetime64[UTC]|NaT: last successful sign-in),
                 last_sign_in_attempt (datetime64[UTC]|NaT: includes failed attempts), has_mailbox (bool)
role_holdings    user_id, upn, role_id (template id), role_name, assignment ('active'|'eligible'),
                 via_group_id (str|None), via_group_name (str|None), privileged (bool),
                 scope (directoryScopeId, "/" = tenant-wide), admin (bool: counts under admin_roles)
mailboxes        mailbox_id, user_id (str|None, joined on ExternalDirectoryObjectId, else SMTP/UPN),
                 display_name, smtp_address, imap (bool), pop (bool),
                 smtp_auth_setting (True=disabled/False=enabled/None=inherit; the raw
                 SmtpClientAuthenticationDisabled), smtp_auth_enabled (bool|None when org unknown),
                 smtp_auth_source ('mailbox'|'inherited from org'), is_admin (bool),
                 privileged_admin (bool: holds one of the privileged roles that escalate severities)
ca_policies      id, name, state, requires_mfa (bool), blocks_legacy (bool), all_users (bool),
                 all_apps (bool), include_users/include_groups/include_roles,
                 exclude_users/exclude_groups/exclude_roles (list[str]), include_locations,
                 exclude_locations (list[str]), client_app_types (list[str]), grant_controls (list[str]),
                 authentication_strength (str|None), grants_mfa (bool: the grant alone requires MFA),
                 narrowed_by (list[str]: conditions limiting when it applies), all_client_apps (bool),
                 include_guest_kinds/exclude_guest_kinds (list[str] of users' guest_kind)
ip_ranges        origin ('named_location'|'legacy_trusted_ips'), location_id, location_name,
                 is_trusted (bool), cidr (str, normalised), version (4|6), prefixlen (int)
legacy_sign_ins  user_id, upn, count (successful legacy sign-ins), last (datetime64[UTC]),
                 protocols (list[str]), ip_addresses (list[str], at most 5), failed (int)
legacy_sign_in_events  user_id, upn, app, ip, when, ok: every legacy sign-in in the snapshot window

ca_semantics     one row per CA policy with the v2 semantics (auditor.model.ca_semantics): id, name, state,
                 in_force, microsoft_managed, target ('all'|'office365'|'apps'|'user_action'|'auth_context'|'none'),
                 excluded_apps, excluded_high_value (names), app_filter, mfa ('mfa'|'device_alternative'|None),
                 mfa_via, blocks, client_types, legacy_types, modern, narrowed_by, location_scope
                 ('everywhere'|'except'|'only'), include/exclude_locations, the user-scope columns of ca_policies,
                 mfa_all_resources, mfa_baseline, legacy_block, legacy_block_effective, pins_to_locations,
                 not_counted_because (list[str])
coverage         one row per user, same order as users (auditor.model.coverage): user_id, mfa_included,
                 mfa_covered, mfa_covered_on_activation, mfa_covered_by (list[str]), mfa_excluded_by
                 (list of {policy, how, applies}), mfa_exclusion ('always'|'on activation'|None), pinned,
                 pinned_by, legacy_blocked_types, legacy_excluded_by (list of {policy, how, client_types,
                 applies}), legacy_gap_types, legacy_exclusion
users (v2)       is_emergency_access, emergency_signal, is_sync_account, sync_roles, counts_as_admin
                 (auditor.model.special_accounts); role_holdings include PIM-for-Groups eligible members
                 (source group_eligibility, auditor.model.group_eligibility)

users (v2)       on_prem_synced, licensed (bool|None), last_interactive, phishing_resistant_required_by (list[str])
                 (auditor.model.auth_methods)
shared_mailboxes mailbox_id, user_id, display_name, address, enabled (auditor.model.shared_mailboxes)

Scalars: exchange_auth (auditor.model.exchange_auth.ExchangeAuth), auth_methods_migration_state,
phishing_resistant_policies (names), portals_only_phishing_resistant (names of in-force policies requiring it for
the Microsoft Admin Portals only: not counted), emergency_entries (classification.emergency_access as configured),
baselines (auditor.model.baselines.Baselines), emergency_unresolved and
service_groups_unresolved (list[str]: configured entries that match nothing),
security_defaults_enabled (bool|None), smtp_auth_org_enabled (bool|None),
legacy_mfa (LegacyMfaSettings: allow_app_passwords, trusted_ips, remember_mfa_enabled,
remember_mfa_days, origin), available (set of source names usable by rules), window_days, tenant meta.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from auditor.errors import SnapshotError
from auditor.gcpause import gc_paused
from auditor.model.auth_methods import (
    add_method_columns,
    phishing_resistant_policies,
    phishing_resistant_required_by,
    portals_only_phishing_resistant,
)
from auditor.model.baselines import Baselines, build_baselines
from auditor.model.ca_semantics import build_ca_semantics
from auditor.model.classify import classify_users, unresolved_service_groups
from auditor.model.conditional_access import build_ca_policies
from auditor.model.coverage import build_coverage
from auditor.model.exchange_auth import ExchangeAuth, build_exchange_auth
from auditor.model.group_eligibility import SOURCE as GROUP_ELIGIBILITY
from auditor.model.group_eligibility import group_eligible_holdings
from auditor.model.ip_table import build_ip_ranges
from auditor.model.legacy_mfa import LegacyMfaSettings, resolve_legacy_mfa
from auditor.model.mailboxes import build_mailboxes
from auditor.model.records import tidy_records
from auditor.model.role_holdings import build_role_holdings
from auditor.model.settings import ClassificationSettings, LegacyMfaFallback
from auditor.model.shared_mailboxes import build_shared_mailboxes
from auditor.model.sign_ins import legacy_events, summarise
from auditor.model.special_accounts import classify_special_accounts, unresolved_emergency_entries
from auditor.model.users import build_users
from auditor.snapshot import Snapshot


@dataclass
class TenantModel:
    tenant: dict[str, Any]
    collected_at: datetime
    window_days: int
    users: pd.DataFrame
    role_holdings: pd.DataFrame
    mailboxes: pd.DataFrame
    ca_policies: pd.DataFrame
    ip_ranges: pd.DataFrame
    legacy_sign_ins: pd.DataFrame
    legacy_sign_in_events: pd.DataFrame
    legacy_mfa: LegacyMfaSettings
    security_defaults_enabled: bool | None
    smtp_auth_org_enabled: bool | None
    groups: dict[str, dict[str, Any]]
    available: set[str]
    source_reasons: dict[str, str] = field(default_factory=dict)
    ca_semantics: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    baselines: Baselines = field(default_factory=Baselines)
    emergency_unresolved: list[str] = field(default_factory=list)
    service_groups_unresolved: list[str] = field(default_factory=list)
    exchange_auth: ExchangeAuth = field(default_factory=ExchangeAuth)
    shared_mailboxes: pd.DataFrame = field(default_factory=pd.DataFrame)
    auth_methods_migration_state: str | None = None
    phishing_resistant_policies: list[str] = field(default_factory=list)
    portals_only_phishing_resistant: list[str] = field(default_factory=list)
    emergency_entries: list[str] = field(default_factory=list)

    @property
    def tenant_name(self) -> str:
        return str(self.tenant.get("name") or self.tenant.get("tenant_id") or "tenant")

    @property
    def tenant_id(self) -> str:
        return str(self.tenant.get("tenant_id") or "")


def _source_reasons(snapshot: Snapshot) -> dict[str, str]:
    reasons = {}
    for name, src in snapshot.sources.items():
        if src.status != "collected":
            reasons[name] = f"{src.status}: {src.reason or 'no reason given'}"
    return reasons


def build_model(
    snapshot: Snapshot, classification: ClassificationSettings, legacy_mfa: LegacyMfaFallback | None = None
) -> TenantModel:
    """Normalise a snapshot into the model tables. No I/O; drops malformed and duplicate records from the
    snapshot in place first (``model.records``), and raises ``SnapshotError`` for a record it cannot read.

    ``classification`` and ``legacy_mfa`` are the model's slice of the configuration (its
    ``classification`` and ``legacy_mfa`` sections fit as they are)."""
    with gc_paused():
        tidy_records(snapshot)  # duplicates and non-object records are dropped and counted in coverage
        try:
            return _build(snapshot, classification, legacy_mfa)
        except (TypeError, AttributeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            # a field of an unexpected type deep in a record: one sentence, not a traceback
            raise SnapshotError(
                f"The snapshot's records cannot be modelled: a record has a field of an unexpected type "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})."
            ) from exc


def _build(
    snapshot: Snapshot, classification: ClassificationSettings, legacy_mfa: LegacyMfaFallback | None
) -> TenantModel:
    available = {name for name, src in snapshot.sources.items() if src.usable}
    reasons = _source_reasons(snapshot)

    legacy = resolve_legacy_mfa(snapshot.records("mfa_service_policy"), legacy_mfa)
    if legacy.available:
        available.add("legacy_mfa_settings")
    else:
        reasons["legacy_mfa_settings"] = (
            "the MFA service settings endpoint was not collected "
            f"({reasons.get('mfa_service_policy', 'skipped: not collected')}) and config has no legacy_mfa section"
        )

    groups = {
        str(g.get("id")): {
            "name": g.get("displayName") or str(g.get("id")),
            "members": [m.get("id") for m in (g.get("members") or []) if isinstance(m, dict)],
        }
        for g in snapshot.records("group_members", []) or []
        if isinstance(g, dict)
    }

    users = build_users(
        snapshot.records("users", []) or [],
        snapshot.records("per_user_mfa") if snapshot.collected("per_user_mfa") else None,
        snapshot.records("registration_details") if snapshot.collected("registration_details") else None,
        snapshot.records("sign_in_activity") if snapshot.collected("sign_in_activity") else None,
    )
    role_holdings = build_role_holdings(
        snapshot.records("role_definitions", []) or [],
        snapshot.records("role_assignments", []) or [],
        snapshot.records("role_eligibility", []) or [],
        groups,
        users,
        classification.admin_roles,
    )
    if snapshot.collected(GROUP_ELIGIBILITY):
        pim_groups = group_eligible_holdings(
            snapshot.records("role_definitions", []) or [],
            snapshot.records("role_assignments", []) or [],
            snapshot.records("role_eligibility", []) or [],
            snapshot.records(GROUP_ELIGIBILITY, []) or [],
            groups,
            users,
            classification.admin_roles,
        )
        if not pim_groups.empty:
            role_holdings = pd.concat([role_holdings, pim_groups], ignore_index=True)
    transport = snapshot.records("transport_config")
    smtp_org_enabled = None
    if isinstance(transport, dict) and isinstance(transport.get("SmtpClientAuthenticationDisabled"), bool):
        smtp_org_enabled = not transport["SmtpClientAuthenticationDisabled"]
    mailboxes = build_mailboxes(snapshot.records("cas_mailboxes", []) or [], users, smtp_org_enabled)
    users = classify_users(users, role_holdings, mailboxes, groups, classification)
    users = classify_special_accounts(users, role_holdings, groups, classification.emergency_access)
    if not mailboxes.empty:
        mailboxes["is_admin"] = mailboxes["user_id"].isin(set(users.loc[users["is_admin"], "id"]))
        mailboxes["privileged_admin"] = mailboxes["user_id"].isin(set(users.loc[users["privileged_admin"], "id"]))

    events = legacy_events(snapshot.records("sign_ins", []) or [], users)
    sd = snapshot.records("security_defaults")
    sd_enabled = sd.get("isEnabled") if isinstance(sd, dict) and isinstance(sd.get("isEnabled"), bool) else None
    ca_records = snapshot.records("conditional_access", []) or []
    strengths = snapshot.records("authentication_strengths") if snapshot.collected("authentication_strengths") else None
    known_strengths = {
        str(s.get("id")): str(s.get("requirementsSatisfied"))
        for s in strengths or []
        if isinstance(s, dict) and s.get("requirementsSatisfied") is not None
    }
    ca_semantics = build_ca_semantics(ca_records, known_strengths)
    pr_policies = phishing_resistant_policies(ca_records, strengths, ca_semantics)
    users = add_method_columns(
        users,
        snapshot.records("users", []) or [],
        snapshot.records("sign_in_activity") if snapshot.collected("sign_in_activity") else None,
        phishing_resistant_required_by(pr_policies, users, groups, role_holdings),
    )
    methods_policy = snapshot.records("auth_methods_policy")
    migration = methods_policy.get("policyMigrationState") if isinstance(methods_policy, dict) else None

    def collected(name: str) -> Any:
        return snapshot.records(name) if snapshot.collected(name) else None

    location_names = {
        str(r.get("id")): str(r.get("displayName") or r.get("id"))
        for r in snapshot.records("named_locations", []) or []
        if isinstance(r, dict)
    }

    return TenantModel(
        tenant=dict(snapshot.tenant),
        collected_at=snapshot.collected_at,
        window_days=snapshot.window_days,
        users=users,
        role_holdings=role_holdings,
        mailboxes=mailboxes,
        ca_policies=build_ca_policies(ca_records, strengths),
        ip_ranges=build_ip_ranges(snapshot.records("named_locations", []) or [], legacy),
        legacy_sign_ins=summarise(events),
        legacy_sign_in_events=events,
        legacy_mfa=legacy,
        security_defaults_enabled=sd_enabled,
        smtp_auth_org_enabled=smtp_org_enabled,
        groups=groups,
        available=available,
        source_reasons=reasons,
        ca_semantics=ca_semantics,
        coverage=build_coverage(users, ca_semantics, groups, role_holdings),
        baselines=build_baselines(ca_semantics, location_names, sd_enabled),
        emergency_unresolved=unresolved_emergency_entries(users, groups, classification.emergency_access),
        service_groups_unresolved=unresolved_service_groups(groups, classification),
        exchange_auth=build_exchange_auth(
            collected("authentication_policies"),
            collected("organization_config"),
            collected("exchange_users"),
            set(users["id"].tolist()),
        ),
        shared_mailboxes=build_shared_mailboxes(collected("mailboxes") or [], users),
        auth_methods_migration_state=migration if isinstance(migration, str) else None,
        phishing_resistant_policies=[str(p["name"]) for p in pr_policies],
        portals_only_phishing_resistant=portals_only_phishing_resistant(ca_records, strengths),
        emergency_entries=list(classification.emergency_access),
    )
