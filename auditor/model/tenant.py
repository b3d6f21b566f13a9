"""TenantModel: the tables every rule and renderer reads.

Tables (pandas DataFrames; one row per entity; list-valued cells hold Python lists):

users            id, upn, display_name, user_type ('Member'|'Guest'), enabled (bool), is_guest (bool),
                 per_user_mfa ('disabled'|'enabled'|'enforced'|None when unknown),
                 is_admin (bool), admin_roles (list[str] role names), privileged_admin (bool),
                 role_assignment_kinds (list[str] e.g. ['active', 'eligible', 'via group Tier0']),
                 is_service_account (bool), service_signal (str|None: which signal matched),
                 is_daily (bool), mfa_registered (bool|None), methods (list[str]),
                 last_sign_in (datetime64[UTC]|NaT), has_mailbox (bool)
role_holdings    user_id, upn, role_id (template id), role_name, assignment ('active'|'eligible'),
                 via_group_id (str|None), via_group_name (str|None), privileged (bool)
mailboxes        mailbox_id, user_id (str|None, joined on ExternalDirectoryObjectId, else SMTP/UPN),
                 display_name, smtp_address, imap (bool), pop (bool),
                 smtp_auth_setting (True=disabled/False=enabled/None=inherit; the raw
                 SmtpClientAuthenticationDisabled), smtp_auth_enabled (bool|None when org unknown),
                 smtp_auth_source ('mailbox'|'inherited from org'), is_admin (bool)
ca_policies      id, name, state, requires_mfa (bool), blocks_legacy (bool), all_users (bool),
                 all_apps (bool), include_users/include_groups/include_roles,
                 exclude_users/exclude_groups/exclude_roles (list[str]), include_locations,
                 exclude_locations (list[str]), client_app_types (list[str]), grant_controls (list[str]),
                 authentication_strength (str|None)
ip_ranges        origin ('named_location'|'legacy_trusted_ips'), location_id, location_name,
                 is_trusted (bool), cidr (str, normalised), version (4|6), prefixlen (int)
legacy_sign_ins  user_id, upn, count (successful legacy sign-ins), last (datetime64[UTC]),
                 protocols (list[str]), ip_addresses (list[str], at most 5), failed (int)

Scalars: security_defaults_enabled (bool|None), smtp_auth_org_enabled (bool|None),
legacy_mfa (LegacyMfaSettings: allow_app_passwords, trusted_ips, remember_mfa_enabled,
remember_mfa_days, origin), available (set of source names usable by rules), window_days, tenant meta.
"""
