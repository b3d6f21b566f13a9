"""Seeded synthetic tenant generator: a realistic Entra ID + Exchange Online tenant as a ``Snapshot``.

``generate_tenant(users, seed=…)`` builds every source in ``auditor/sources.py`` in its wire shape (the
raw Graph / Exchange admin API JSON), deterministic for a seed and ``now``. A tenant has two parts:

* a fixed cast of *scenario* users (``SCENARIOS``): admins, service accounts, daily accounts and
  mailboxes arranged so that every rule in the catalog fires at least once and has clean counterparts;
  the same cast (same ids) for any ``users`` count and a given seed;
* proportional *bulk* users filling the tenant up to ``users`` with the rates in ``Rates``.

The bulk is drawn with vectorised numpy choices and assembled with one plain loop, so 300,000 users take a
few seconds. Randomness comes only from PCG64 raw output (whose stream numpy keeps stable), never from
``Generator`` methods, so the bundled demo tenant can be regenerated bit-for-bit.

Run ``python -m auditor.sim.tenant_gen --users 200 --seed 7 --now 2026-11-23T06:00:00Z --out FILE``.
"""

from __future__ import annotations

import argparse
import base64
import re
import resource
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from auditor.gcpause import gc_paused
from auditor.model.roles import BUILTIN_ROLES, PRIVILEGED_ROLES
from auditor.sim import tenant_scenarios as sc
from auditor.snapshot import Snapshot, SourceData, save

Licence = Literal["p2", "p1", "free"]
LEGACY_CLIENTS = ("Authenticated SMTP", "IMAP4", "POP3", "Exchange ActiveSync", "Other clients")
EXO_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
_ROLE_BY_NAME = {name: tid for tid, name in {**BUILTIN_ROLES, **sc.EXTRA_ROLES}.items()}
_DAY = 86400
_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # as TenantConfig.name


@dataclass(frozen=True)
class Rates:
    """Shares of the bulk population (fractions of the relevant base; counts are rounded, exact)."""

    guest: float = 0.02  # of bulk users
    disabled: float = 0.03  # of bulk members
    licensed: float = 0.92  # of bulk members: licensed users have a mailbox
    per_user_mfa_enabled: float = 0.015  # of bulk members
    per_user_mfa_enforced: float = 0.015  # of bulk members
    unregistered: float = 0.10  # of bulk users: isMfaRegistered false
    synced: float = 0.40  # of bulk members: onPremisesSyncEnabled true
    never_signed_in: float = 0.03  # of bulk users (probability)
    stale: float = 0.12  # of bulk users (probability): last sign-in 30..400 days ago
    imap_only: float = 0.20  # of mailboxes (probability)
    pop_only: float = 0.05
    imap_and_pop: float = 0.05
    smtp_auth_enabled: float = 0.01  # of mailboxes: SmtpClientAuthenticationDisabled false
    smtp_auth_disabled: float = 0.20  # of mailboxes: true (the rest null = follow the org)
    all_staff: float = 0.98  # of bulk members in the "All Staff" group
    active_admins: float = 0.002  # of enabled bulk members holding an active role
    eligible_admins: float = 0.001  # of enabled bulk members holding a PIM-eligible role
    legacy_users: float = 0.01  # of enabled bulk members with successful legacy sign-ins
    failed_only_users: float = 0.005  # of enabled bulk members with failed legacy attempts only


@dataclass(frozen=True)
class GenOptions:
    """Knobs for simulators, tests and benchmarks.

    ``licence`` decides which premium sources exist: ``p1`` has no PIM (role_eligibility failed),
    ``free`` also lacks signInActivity, registration details and sign-in logs. ``failed_sources``
    marks further sources failed with the given reason (records dropped), e.g. ``{"cas_mailboxes": "403"}``.
    """

    scenarios: bool = True
    licence: Licence = "p2"
    window_days: int = 30
    rates: Rates = field(default_factory=Rates)
    failed_sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScaleProfile:
    """Exact population counts and per-source record counts for ``generate_tenant(users, options)``."""

    users: int
    scenario_users: int
    bulk_users: int
    bulk_guests: int
    bulk_members: int
    bulk_disabled: int
    bulk_licensed: int
    bulk_mfa_enabled: int
    bulk_mfa_enforced: int
    bulk_unregistered: int
    bulk_all_staff: int
    bulk_active_admins: int
    bulk_eligible_admins: int
    bulk_legacy_users: int
    bulk_failed_only_users: int
    records: dict[str, int]


def _n(base: int, rate: float) -> int:
    return min(base, round(base * rate))


def _bulk_sign_in_count(j: int) -> int:
    """Successful legacy sign-ins of the j-th bulk legacy user (fixed formula keeps counts exact)."""
    return 1 + j % 8


def scale_profile(users: int, options: GenOptions | None = None) -> ScaleProfile:
    """Counts of everything ``generate_tenant`` will produce, computed without generating it."""
    opts = options or GenOptions()
    r = opts.rates
    fixed = len(sc.SCENARIOS) if opts.scenarios else 0
    if users < fixed:
        raise ValueError(
            f"users={users} is below the {fixed} scenario users; ask for more users or pass "
            "GenOptions(scenarios=False)."
        )
    bulk = users - fixed
    guests = _n(bulk, r.guest)
    members = bulk - guests
    disabled = _n(members, r.disabled)
    enabled = members - disabled
    mfa_on = _n(members, r.per_user_mfa_enabled + r.per_user_mfa_enforced)
    mfa_enforced = _n(members, r.per_user_mfa_enforced)
    mfa_enforced = min(mfa_enforced, mfa_on)
    admins = _n(enabled, r.active_admins + r.eligible_admins)
    eligible = min(admins, _n(enabled, r.eligible_admins))
    legacy = _n(enabled, r.legacy_users)
    failed_only = min(enabled - legacy, _n(enabled, r.failed_only_users))
    licensed = _n(members, r.licensed)
    fixed_people = sc.SCENARIOS if opts.scenarios else ()
    sign_ins = sum(_bulk_sign_in_count(j) for j in range(legacy)) + 2 * failed_only
    if opts.scenarios:
        sign_ins += sum(s.count for s in sc.SIGN_INS)
    records = {
        "users": users,
        "per_user_mfa": users,
        "registration_details": users,
        "role_definitions": len(BUILTIN_ROLES) + len(sc.EXTRA_ROLES),
        "role_assignments": admins
        - eligible
        + int(opts.scenarios)
        + sum(1 for p in fixed_people for _, how in p.roles if how != "eligible"),
        "role_eligibility": eligible + sum(1 for p in fixed_people for _, how in p.roles if how == "eligible"),
        "group_members": 3,
        "conditional_access": len(sc.CA_KEYS),
        "named_locations": len(sc.NAMED_LOCATIONS),
        "sign_ins": sign_ins,
        "cas_mailboxes": licensed + sum(1 for p in fixed_people if p.mailbox is not None) + int(opts.scenarios),
        "authentication_policies": len(sc.AUTHENTICATION_POLICIES),
    }
    return ScaleProfile(
        users=users,
        scenario_users=fixed,
        bulk_users=bulk,
        bulk_guests=guests,
        bulk_members=members,
        bulk_disabled=disabled,
        bulk_licensed=licensed,
        bulk_mfa_enabled=mfa_on - mfa_enforced,
        bulk_mfa_enforced=mfa_enforced,
        bulk_unregistered=_n(bulk, r.unregistered),
        bulk_all_staff=_n(members, r.all_staff),
        bulk_active_admins=admins - eligible,
        bulk_eligible_admins=eligible,
        bulk_legacy_users=legacy,
        bulk_failed_only_users=failed_only,
        records=records,
    )


class _Stream:
    """Deterministic random numbers from PCG64 raw output only (stable across numpy versions)."""

    def __init__(self, seed: int, stream: int) -> None:
        self._bits = np.random.PCG64(np.random.SeedSequence(entropy=seed, spawn_key=(stream,)))

    def uniform(self, n: int) -> np.ndarray:
        return (self._bits.random_raw(n) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)

    def ints(self, n: int, high: int) -> np.ndarray:
        return np.minimum((self.uniform(n) * high).astype(np.int64), high - 1)

    def pick(self, population: np.ndarray, k: int) -> np.ndarray:
        """``k`` distinct members of ``population`` (sorted)."""
        order = np.argsort(self.uniform(len(population)), kind="stable")
        return np.sort(population[order[:k]])

    def uuids(self, n: int) -> list[str]:
        raw = self._bits.random_raw(2 * n).astype("<u8").view(np.uint8).reshape(n, 16).copy()
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
        h = raw.tobytes().hex()
        return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
                for i in range(0, 32 * n, 32)]  # fmt: skip

    def uuid(self) -> str:
        return self.uuids(1)[0]


def _iso(now_s: int, seconds_ago: np.ndarray) -> list[str]:
    """ISO-8601 UTC strings ('...Z') for ``now - seconds_ago`` (vectorised)."""
    stamps = (np.int64(now_s) - seconds_ago.astype(np.int64)).astype("datetime64[s]")
    strings: list[str] = np.datetime_as_string(stamps, unit="s", timezone="UTC").tolist()
    return strings


def _iso1(now: datetime, days_ago: float) -> str:
    return (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64_id(role_id: str, principal_id: str) -> str:
    """Graph-style assignment id: base64url of the role and principal GUIDs."""
    raw = uuid.UUID(role_id).bytes_le + uuid.UUID(principal_id).bytes_le
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class _Out:
    """Record lists under construction; ``user`` appends one user to every per-user source."""

    def __init__(self, domain: str, sign_in_activity: bool) -> None:
        self.domain = domain
        self.activity = sign_in_activity
        self.users: list[dict[str, Any]] = []
        self.mfa: list[dict[str, Any]] = []
        self.reg: list[dict[str, Any]] = []
        self.mailboxes: list[dict[str, Any]] = []
        self.staff: list[dict[str, Any]] = []
        self.service: list[dict[str, Any]] = []
        self.tier0: list[dict[str, Any]] = []
        self.assignments: list[dict[str, Any]] = []
        self.eligibility: list[dict[str, Any]] = []
        self.pim_members: list[dict[str, Any]] = []  # PIM-for-Groups eligible members of Tier0 Admins
        self.shared: set[str] = set()  # user ids behind shared mailboxes
        self.auth_policies: dict[str, str] = {}  # user id -> Exchange authentication policy name

    def user(
        self,
        uid: str,
        upn: str,
        mail: str | None,
        name: str,
        *,
        guest: bool,
        enabled: bool,
        created: str,
        title: str | None,
        dept: str | None,
        licences: tuple[str, ...],
        synced: bool,
        service: bool,
        activity: tuple[str | None, str | None] | None,
        mfa: str,
        registered: bool,
        methods: tuple[str, ...],
        is_admin: bool,
        reg_updated: str,
        mailbox: tuple[str, bool, bool, bool | None] | None,
        staff: bool,
    ) -> None:
        rec: dict[str, Any] = {
            "id": uid,
            "userPrincipalName": upn,
            "displayName": name,
            "userType": "Guest" if guest else "Member",
            "accountEnabled": enabled,
            "createdDateTime": created,
            "assignedLicenses": [{"skuId": sku, "disabledPlans": []} for sku in licences],
            "onPremisesSyncEnabled": True if synced else None,
            "mail": mail,
            "jobTitle": title,
            "department": dept,
            "passwordPolicies": "DisablePasswordExpiration" if service else "None",
        }
        if self.activity:
            if activity is None:
                rec["signInActivity"] = None
            else:
                interactive, non_interactive = activity
                latest = max(d for d in (interactive, non_interactive) if d)
                rec["signInActivity"] = {
                    "lastSignInDateTime": interactive,
                    "lastNonInteractiveSignInDateTime": non_interactive,
                    "lastSuccessfulSignInDateTime": latest,
                }
        self.users.append(rec)
        self.mfa.append({"id": uid, "userPrincipalName": upn, "perUserMfaState": mfa})
        self.reg.append(
            {
                "id": uid,
                "userPrincipalName": upn,
                "userDisplayName": name,
                "userType": "guest" if guest else "member",
                "isAdmin": is_admin,
                "isMfaCapable": registered and enabled,
                "isMfaRegistered": registered,
                "isPasswordlessCapable": registered and bool(set(methods) & sc.PASSWORDLESS),
                "isSsprCapable": registered and enabled,
                "isSsprEnabled": not guest,
                "isSsprRegistered": registered,
                "isSystemPreferredAuthenticationMethodEnabled": True,
                "lastUpdatedDateTime": reg_updated,
                "methodsRegistered": list(methods),
                "systemPreferredAuthenticationMethods": [sc.preferred(methods)] if registered else [],
                "userPreferredMethodForSecondaryAuthentication": "push" if registered else "none",
            }
        )
        if mailbox is not None and mail:
            guid, imap, pop, smtp_disabled = mailbox
            self.mailboxes.append(sc.cas_mailbox(guid, uid, name, mail, imap, pop, smtp_disabled))
        member = {"@odata.type": "#microsoft.graph.user", "id": uid, "userPrincipalName": upn}
        if staff:
            self.staff.append(member)
        if service:
            self.service.append(member)

    def role(self, role_id: str, how: str, principal: dict[str, Any], start: str) -> None:
        """An active assignment (``principal`` is the expanded user or group) or a PIM eligibility."""
        pid = principal["id"]
        base = _b64_id(role_id, pid)
        if how == "eligible":
            self.eligibility.append(
                {
                    "id": f"{base}-1-e",
                    "principalId": pid,
                    "roleDefinitionId": role_id,
                    "directoryScopeId": "/",
                    "memberType": "Direct",
                    "startDateTime": start,
                    "endDateTime": None,
                    "roleEligibilityScheduleId": base,
                }
            )
        else:
            self.assignments.append(
                {
                    "id": f"{base}-1",
                    "principalId": pid,
                    "roleDefinitionId": role_id,
                    "directoryScopeId": "/",
                    "principal": principal,
                }
            )


def _user_principal(uid: str, upn: str, name: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.user", "id": uid, "userPrincipalName": upn, "displayName": name}


def _scenario_users(
    out: _Out, rnd: _Stream, now: datetime, ids: dict[str, str], tier0: dict[str, str], onmicrosoft: str
) -> None:
    guids = rnd.uuids(len(sc.SCENARIOS))
    for i, p in enumerate(sc.SCENARIOS):
        uid = ids[p.key]
        if p.guest:
            upn = f"{p.key.replace('@', '_')}#EXT#@{onmicrosoft}"
            mail = p.key
        else:
            upn = mail = f"{p.key}@{out.domain}"
        activity: tuple[str | None, str | None] | None = None
        if p.last is not None and not p.interactive:
            activity = (None, _iso1(now, p.last))
        elif p.last is not None:
            ni = _iso1(now, max(p.last - 0.4, 0.01)) if p.non_interactive else None
            activity = (_iso1(now, p.last), ni)
        is_admin = bool(p.roles) or p.tier0
        out.user(
            uid,
            upn,
            mail if (p.mailbox is not None or p.guest) else None,
            p.name,
            guest=p.guest,
            enabled=p.enabled,
            created=_iso1(now, p.created),
            title=p.title,
            dept=p.dept,
            licences=sc.LICENSED if p.mailbox is not None and not p.shared else (),
            synced=p.synced,
            service=p.service,
            activity=activity,
            mfa=p.mfa,
            registered=p.registered,
            methods=p.methods if p.registered else (),
            is_admin=is_admin,
            reg_updated=_iso1(now, p.created / 2),
            mailbox=(guids[i], *p.mailbox) if p.mailbox is not None else None,
            staff=p.staff,
        )
        if p.tier0:
            out.tier0.append({"@odata.type": "#microsoft.graph.user", "id": uid, "userPrincipalName": upn})
        if p.pim_group:
            out.pim_members.append({"id": uid})
        if p.shared:
            out.shared.add(uid)
        if p.auth_policy:
            out.auth_policies[uid] = p.auth_policy
        for role_name, how in p.roles:
            out.role(_ROLE_BY_NAME[role_name], how, _user_principal(uid, upn, p.name), _iso1(now, p.created / 3))
    group = {"@odata.type": "#microsoft.graph.group", **tier0}
    out.role(_ROLE_BY_NAME[sc.TIER0_ROLE], "active", group, _iso1(now, 400))


def _bulk_users(
    out: _Out,
    prof: ScaleProfile,
    opts: GenOptions,
    seed: int,
    now: datetime,
    taken: set[str],
    onmicrosoft: str,
) -> list[tuple[str, str, str]]:
    """Append the bulk population; return (id, upn, name) of enabled members for sign-in generation."""
    b = prof.bulk_users
    if b == 0:
        return []
    r = opts.rates
    rnd = _Stream(seed, 2)
    everyone = np.arange(b)
    guest = np.zeros(b, bool)
    guest[rnd.pick(everyone, prof.bulk_guests)] = True
    members = np.flatnonzero(~guest)
    disabled = np.zeros(b, bool)
    disabled[rnd.pick(members, prof.bulk_disabled)] = True
    licensed = np.zeros(b, bool)
    licensed[rnd.pick(members, prof.bulk_licensed)] = True
    mfa = np.zeros(b, np.int8)
    on = rnd.pick(members, prof.bulk_mfa_enabled + prof.bulk_mfa_enforced)
    mfa[on] = 1
    mfa[rnd.pick(on, prof.bulk_mfa_enforced)] = 2
    unregistered = np.zeros(b, bool)
    unregistered[rnd.pick(everyone, prof.bulk_unregistered)] = True
    staff = np.zeros(b, bool)
    staff[rnd.pick(members, prof.bulk_all_staff)] = True
    enabled_members = np.flatnonzero(~guest & ~disabled)
    admins = rnd.pick(enabled_members, prof.bulk_active_admins + prof.bulk_eligible_admins)
    eligible = set(rnd.pick(admins, prof.bulk_eligible_admins).tolist())
    role_of = {int(u): k for k, u in enumerate(admins.tolist())}

    first = rnd.ints(b, len(sc.FIRST_NAMES)).tolist()
    last = rnd.ints(b, len(sc.LAST_NAMES)).tolist()
    partner = rnd.ints(b, len(sc.PARTNER_DOMAINS)).tolist()
    title = rnd.ints(b, len(sc.JOB_TITLES)).tolist()
    dept = rnd.ints(b, len(sc.DEPARTMENTS)).tolist()
    methods = rnd.ints(b, len(sc.METHOD_SETS)).tolist()
    synced = (rnd.uniform(b) < r.synced).tolist()
    u = rnd.uniform(b)
    never = u < r.never_signed_in
    stale = (u >= r.never_signed_in) & (u < r.never_signed_in + r.stale)
    days = np.where(stale, 30 + rnd.uniform(b) * 370, rnd.uniform(b) * 30)
    last_s = (days * _DAY).astype(np.int64)
    ni_s = (last_s * rnd.uniform(b)).astype(np.int64)
    has_ni = rnd.uniform(b) < 0.7
    created_s = last_s + ((30 + rnd.uniform(b) * 2500) * _DAY).astype(np.int64)
    now_s = int(now.timestamp())
    last_iso = _iso(now_s, last_s)
    ni_iso = _iso(now_s, ni_s)
    created_iso = _iso(now_s, created_s)
    reg_iso = _iso(now_s, (created_s * rnd.uniform(b)).astype(np.int64))
    p = rnd.uniform(b)
    imap = (p < r.imap_only) | ((p >= r.imap_only + r.pop_only) & (p < r.imap_only + r.pop_only + r.imap_and_pop))
    pop = (p >= r.imap_only) & (p < r.imap_only + r.pop_only + r.imap_and_pop)
    q = rnd.uniform(b)
    smtp = np.where(q < r.smtp_auth_enabled, 0, np.where(q < r.smtp_auth_enabled + r.smtp_auth_disabled, 1, 2))
    ids = rnd.uuids(b)
    guids = rnd.uuids(b)
    smtp_value = (False, True, None)
    role_ids = list(BUILTIN_ROLES)
    states = ("disabled", "enabled", "enforced")
    first_names, last_names = sc.FIRST_NAMES, sc.LAST_NAMES
    pool: list[tuple[str, str, str]] = []
    imap_l, pop_l, smtp_l, never_l, has_ni_l = (
        imap.tolist(),
        pop.tolist(),
        smtp.tolist(),
        never.tolist(),
        has_ni.tolist(),
    )
    guest_l, disabled_l, licensed_l, mfa_l = (
        guest.tolist(),
        disabled.tolist(),
        licensed.tolist(),
        mfa.tolist(),
    )
    unreg_l, staff_l = unregistered.tolist(), staff.tolist()
    for i in range(b):
        fn, fl = first_names[first[i]]
        ln, ll = last_names[last[i]]
        local = f"{fl}.{ll}"
        name = f"{fn} {ln}"
        is_guest = guest_l[i]
        if is_guest:
            address = f"{local}@{sc.PARTNER_DOMAINS[partner[i]]}"
            if address in taken:
                address = f"{fl}.{ll}{i}@{sc.PARTNER_DOMAINS[partner[i]]}"
            taken.add(address)
            mail: str | None = address
            upn = f"{address.replace('@', '_')}#EXT#@{onmicrosoft}"
            name = f"{name} ({sc.PARTNER_DOMAINS[partner[i]].split('.')[0].title()})"
        else:
            upn = f"{local}@{out.domain}"
            if upn in taken:
                upn = f"{local}{i}@{out.domain}"
            taken.add(upn)
            mail = upn if licensed_l[i] else None
        uid = ids[i]
        admin_k = role_of.get(i)
        registered = not unreg_l[i]
        out.user(
            uid,
            upn,
            mail,
            name,
            guest=is_guest,
            enabled=not disabled_l[i],
            created=created_iso[i],
            title=None if is_guest else sc.JOB_TITLES[title[i]],
            dept=None if is_guest else sc.DEPARTMENTS[dept[i]],
            licences=sc.LICENSED if licensed_l[i] else (),
            synced=synced[i] and not is_guest,
            service=False,
            activity=None if never_l[i] else (last_iso[i], ni_iso[i] if has_ni_l[i] else None),
            mfa=states[mfa_l[i]],
            registered=registered,
            methods=sc.METHOD_SETS[methods[i]] if registered else (),
            is_admin=admin_k is not None,
            reg_updated=reg_iso[i],
            mailbox=(guids[i], imap_l[i], pop_l[i], smtp_value[smtp_l[i]]) if licensed_l[i] else None,
            staff=staff_l[i],
        )
        if admin_k is not None:
            how = "eligible" if i in eligible else "active"
            out.role(role_ids[admin_k % len(role_ids)], how, _user_principal(uid, upn, name), created_iso[i])
        if not is_guest and not disabled_l[i]:
            pool.append((uid, upn, name))
    return pool


def _sign_in(
    sid: str, when: str, uid: str, upn: str, name: str, client: str, ip: str, ok: bool, interactive: bool = False
) -> dict[str, Any]:
    """One ``signIn`` as ``/auditLogs/signIns`` returns it (every generated one is to Exchange Online)."""
    return {
        "id": sid,
        "createdDateTime": when,
        "userId": uid,
        "userPrincipalName": upn,
        "userDisplayName": name,
        "appId": EXO_APP_ID,
        "appDisplayName": "Office 365 Exchange Online",
        "clientAppUsed": client,
        "ipAddress": ip,
        # v1.0 lists only interactive sign-ins; the non-interactive ones need beta's signInEventTypes filter
        "isInteractive": interactive,
        "resourceDisplayName": "Office 365 Exchange Online",
        "conditionalAccessStatus": "notApplied",
        "status": {"errorCode": 0, "failureReason": "Other.", "additionalDetails": None}
        if ok
        else {
            "errorCode": 50126,
            "failureReason": "Invalid username or password.",
            "additionalDetails": "The user did not enter the right credentials.",
        },
    }


def _sign_ins(
    seed: int,
    now: datetime,
    window: int,
    people: dict[str, tuple[str, str, str]],
    pool: list[tuple[str, str, str]],
    prof: ScaleProfile,
) -> list[dict[str, Any]]:
    rnd = _Stream(seed, 3)
    plan: list[tuple[tuple[str, str, str], str, str, bool, bool | None]] = []
    for s in sc.SIGN_INS if people else ():
        who = people[s.key]
        plan.extend((who, s.client, s.ips[k % len(s.ips)], s.ok, s.interactive) for k in range(s.count))
    chosen = rnd.pick(np.arange(len(pool)), prof.bulk_legacy_users + prof.bulk_failed_only_users).tolist()
    order = rnd.ints(len(chosen), 1 << 30).tolist()  # shuffle who is legacy vs failed-only
    chosen = [c for _, c in sorted(zip(order, chosen, strict=True))]
    ips = sc.EGRESS_IPS
    for j, idx in enumerate(chosen):
        who = pool[idx]
        if j < prof.bulk_legacy_users:
            client = LEGACY_CLIENTS[j % len(LEGACY_CLIENTS)]
            plan.extend((who, client, ips[(j + k) % len(ips)], True, None) for k in range(_bulk_sign_in_count(j)))
        else:
            plan.extend((who, "Authenticated SMTP", ips[j % len(ips)], False, None) for _ in range(2))
    if not plan:
        return []
    seconds = (rnd.uniform(len(plan)) * (window * _DAY - 3600) + 60).astype(np.int64)
    when = _iso(int(now.timestamp()), seconds)
    sids = rnd.uuids(len(plan))
    records = [
        _sign_in(sids[k], when[k], who[0], who[1], who[2], client, ip, ok, k % 3 == 0 if inter is None else inter)
        for k, (who, client, ip, ok, inter) in enumerate(plan)
    ]
    records.sort(key=lambda rec: rec["createdDateTime"], reverse=True)
    return records


def _pim_groups(group_id: str, members: list[dict[str, Any]], start: str) -> list[dict[str, Any]]:
    """PIM-for-Groups eligibility schedule instances: ``members`` are eligible members of the role-holding group."""
    return [
        {
            "id": f"{group_id}_member_{m['id']}",
            "groupId": group_id,
            "principalId": m["id"],
            "accessId": "member",
            "memberType": "Direct",
            "startDateTime": start,
            "endDateTime": None,
        }
        for m in members
    ]


def generate_tenant(
    users: int,
    *,
    seed: int = 7,
    name: str = "contoso",
    now: datetime | None = None,
    options: GenOptions | None = None,
) -> Snapshot:
    """A synthetic tenant with ``users`` user objects, deterministic for (users, seed, name, now, options).

    ``now`` defaults to the current time (pass a fixed one for reproducible output). The cyclic garbage
    collector is paused while records are built: the millions of new dicts would otherwise trigger
    repeated full collections and make large tenants several times slower.
    """
    with gc_paused():
        return _generate(users, seed=seed, name=name, now=now, options=options)


def _generate(
    users: int,
    *,
    seed: int = 7,
    name: str = "contoso",
    now: datetime | None = None,
    options: GenOptions | None = None,
) -> Snapshot:
    opts = options or GenOptions()
    prof = scale_profile(users, opts)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    if not _TENANT_NAME.match(name):
        raise ValueError(f"tenant name {name!r} must be letters, digits, '.', '_' or '-' (at most 64).")
    domain, onmicrosoft = f"{name.lower()}.com", f"{name.lower()}.onmicrosoft.com"
    fixed = _Stream(seed, 1)
    tenant_id = fixed.uuid()
    ids = dict(zip([p.key for p in sc.SCENARIOS], fixed.uuids(len(sc.SCENARIOS)), strict=True))
    objects = sc.object_ids(fixed)  # groups, policies, locations: same ids whatever the size
    tier0 = {"id": objects["group:tier0"], "displayName": sc.TIER0_GROUP}
    out = _Out(domain, sign_in_activity=opts.licence != "free")
    taken: set[str] = set()
    people: dict[str, tuple[str, str, str]] = {}
    if opts.scenarios:
        _scenario_users(out, fixed, now, ids, tier0, onmicrosoft)
        for p, rec in zip(sc.SCENARIOS, out.users, strict=False):
            taken.add(rec["userPrincipalName"])
            people[p.key] = (rec["id"], rec["userPrincipalName"], rec["displayName"])
        out.mailboxes.append(sc.shared_mailbox(fixed.uuid(), domain))
    pool = _bulk_users(out, prof, opts, seed, now, taken, onmicrosoft)
    groups = [
        {"id": objects["group:staff"], "displayName": sc.STAFF_GROUP, "members": out.staff},
        {"id": objects["group:tier0"], "displayName": sc.TIER0_GROUP, "members": out.tier0},
        {"id": objects["group:service"], "displayName": sc.SERVICE_GROUP, "members": out.service},
    ]
    created = _iso1(now, 700)
    sources: dict[str, SourceData] = {
        "users": SourceData.collected(out.users),
        "sign_in_activity": SourceData.collected(None),
        "role_definitions": SourceData.collected(sc.role_definitions()),
        "role_assignments": SourceData.collected(out.assignments),
        "role_eligibility": SourceData.collected(out.eligibility),
        "group_members": SourceData.collected(groups),
        "per_user_mfa": SourceData.collected(out.mfa),
        "registration_details": SourceData.collected(out.reg),
        "security_defaults": SourceData.collected(sc.security_defaults()),
        "conditional_access": SourceData.collected(
            sc.ca_policies(objects, ids, list(PRIVILEGED_ROLES), created, _iso1(now, 40))
        ),
        "named_locations": SourceData.collected(sc.named_locations(objects, created)),
        "auth_methods_policy": SourceData.collected(sc.auth_methods_policy(_iso1(now, 90))),
        "mfa_service_policy": SourceData.collected(sc.mfa_service_policy()),
        "sign_ins": SourceData.collected(_sign_ins(seed, now, opts.window_days, people, pool, prof)),
        "cas_mailboxes": SourceData.collected(out.mailboxes),
        # The scenario's eligible members; a tenant without scenarios makes its first staff member eligible.
        "pim_group_eligibility": SourceData.collected(
            _pim_groups(tier0["id"], out.pim_members or out.staff[:1], created)
        ),
        "authentication_strengths": SourceData.collected(sc.authentication_strengths()),
        "mailboxes": SourceData.collected([sc.mailbox_type(m, frozenset(out.shared)) for m in out.mailboxes]),
        "exchange_users": SourceData.collected(
            [sc.exchange_user(m, out.auth_policies) for m in out.mailboxes if m.get("ExternalDirectoryObjectId")]
        ),
        "transport_config": SourceData.collected(sc.transport_config(domain)),
        "authentication_policies": SourceData.collected(sc.authentication_policies(objects)),
        "organization_config": SourceData.collected(sc.organization_config(name, domain)),
    }
    licence_gaps = {
        "role_eligibility": "PIM needs Entra ID P2: the tenant is not licensed (AadPremiumLicenseRequired).",
        "pim_group_eligibility": "PIM for Groups needs Entra ID P2 (AadPremiumLicenseRequired).",
        "sign_in_activity": "signInActivity needs Entra ID P1: users were collected without sign-in dates.",
        "registration_details": "Tenant is not a B2C tenant and doesn't have premium licenses.",
        "sign_ins": "Sign-in logs need Entra ID P1 (Authentication_RequestFromNonPremiumTenantOrB2CTenant).",
    }
    gaps = {"p2": (), "p1": ("role_eligibility", "pim_group_eligibility"), "free": tuple(licence_gaps)}[opts.licence]
    for source in gaps:
        sources[source] = SourceData.failed(licence_gaps[source])
    for source, reason in opts.failed_sources.items():
        if source not in sources:
            raise ValueError(f"failed_sources names unknown source {source!r}.")
        sources[source] = SourceData.failed(reason)
    tenant = {
        "name": name,
        "tenant_id": tenant_id,
        "default_domain": domain,
        "display_name": f"{name[:1].upper()}{name[1:]} Ltd",
    }
    return Snapshot(tenant=tenant, sources=sources, collected_at=now, window_days=opts.window_days)


def _parse_now(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--now {text!r} is not an ISO-8601 date-time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auditor.sim.tenant_gen", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, required=True, help="number of user objects")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--name", default="contoso", help="tenant name (domain NAME.com)")
    parser.add_argument("--now", type=_parse_now, default=None, help="reference time, e.g. 2026-11-23T06:00:00Z")
    parser.add_argument("--licence", choices=("p2", "p1", "free"), default="p2")
    parser.add_argument("--no-scenarios", action="store_true", help="bulk users only")
    parser.add_argument("--out", required=True, help="snapshot file to write (.json.gz)")
    args = parser.parse_args(argv)
    opts = GenOptions(scenarios=not args.no_scenarios, licence=args.licence)
    started = time.perf_counter()
    try:
        snapshot = generate_tenant(args.users, seed=args.seed, name=args.name, now=args.now, options=opts)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    generated = time.perf_counter() - started
    path = save(snapshot, args.out)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"wrote {path}: {args.users} users, generated in {generated:.2f} s, "
        f"total {time.perf_counter() - started:.2f} s, peak RSS {peak_mb:.0f} MB"
    )
    return 0


__all__ = ["GenOptions", "Rates", "ScaleProfile", "generate_tenant", "main", "scale_profile"]

if __name__ == "__main__":
    raise SystemExit(main())
