"""Per-tenant data and indexes, built once when the simulator starts (no per-request scans)."""

from __future__ import annotations

import uuid
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from auditor.sim.options import SimOptions, SimTenant
from auditor.sim.permissions import ALL_PERMISSIONS, EXCHANGE_PERMISSION, role_template_ids
from auditor.sim.tokens import AppCertificate
from auditor.sources import SOURCES

#: sources that need a premium licence in a real tenant (from the catalog)
P1_SOURCES = tuple(n for n, s in SOURCES.items() if s.licence == "Entra ID P1")
P2_SOURCES = tuple(n for n, s in SOURCES.items() if s.licence == "Entra ID P2")

_LICENCE_WORDS = ("licen", "premium", "p1", "p2")


def parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class LruCache:
    """A tiny bounded cache for filtered index lists (keyed by the normalised filter)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = build()
        self._data[key] = value
        if len(self._data) > self.size:
            self._data.popitem(last=False)
        return value


class TenantState:
    """One simulated tenant: its app registration and its data, indexed for paging."""

    def __init__(self, spec: SimTenant, options: SimOptions) -> None:
        snap = spec.snapshot
        self.snapshot = snap
        self.name = snap.tenant_name
        self.tenant_id = snap.tenant_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim:{self.name}"))
        self.default_domain = str(snap.tenant.get("default_domain") or f"{self.name}.onmicrosoft.com")
        self.client_id = spec.client_id
        self.client_secret = spec.client_secret
        self.certificate = AppCertificate(spec.certificate_pem) if spec.certificate_pem else None
        self.granted = frozenset(ALL_PERMISSIONS if spec.granted is None else spec.granted)
        self.graph_roles = sorted(self.granted - {EXCHANGE_PERMISSION})
        self.exchange_roles = sorted(self.granted & {EXCHANGE_PERMISSION})
        self.wids = role_template_ids(spec.directory_roles)
        p1 = (not options.unlicensed_p1) if spec.licensed_p1 is None else spec.licensed_p1
        p2 = (not options.unlicensed_p2) if spec.licensed_p2 is None else spec.licensed_p2
        self.licensed_p1 = p1
        self.licensed_p2 = p1 and p2
        self.filters = LruCache()

        self.users: list[dict[str, Any]] = self._list("users")
        self.user_index: dict[str, int] = {}
        for i, user in enumerate(self.users):
            for key in (user.get("id"), user.get("userPrincipalName")):
                if isinstance(key, str):
                    self.user_index[key.lower()] = i
        self.mfa_state: dict[str, str] = {}
        for rec in self._list("per_user_mfa"):
            if isinstance(rec, dict) and rec.get("id"):
                self.mfa_state[str(rec["id"]).lower()] = rec.get("perUserMfaState") or "disabled"
        self.groups: dict[str, dict[str, Any]] = {
            str(g.get("id")).lower(): g for g in self._list("group_members") if isinstance(g, dict)
        }
        self.mailboxes: list[dict[str, Any]] = self._list("cas_mailboxes")
        self.mailbox_index: dict[str, int] = {}
        for i, mbx in enumerate(self.mailboxes):
            for key in ("Guid", "ExternalDirectoryObjectId", "PrimarySmtpAddress", "DisplayName", "Identity"):
                value = mbx.get(key)
                if isinstance(value, str) and value:
                    self.mailbox_index.setdefault(value.lower(), i)
        # sign-ins newest first, with a parallel ascending key list for bisecting the window
        sign_ins = [s for s in self._list("sign_ins") if isinstance(s, dict)]
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        stamped = [((parse_ts(s.get("createdDateTime")) or epoch).timestamp(), i, s) for i, s in enumerate(sign_ins)]
        stamped.sort(key=lambda t: (-t[0], t[1]))
        self.sign_ins = [s for _, _, s in stamped]
        self._neg_times = [-t for t, _, _ in stamped]
        self.sign_ins_by_app: dict[tuple[str, bool], list[int]] = {}
        self.sign_ins_by_kind: dict[bool, list[int]] = {True: [], False: []}
        for pos, rec in enumerate(self.sign_ins):
            kind = interactive(rec)
            self.sign_ins_by_app.setdefault((str(rec.get("clientAppUsed") or "").lower(), kind), []).append(pos)
            self.sign_ins_by_kind[kind].append(pos)

    # -- sources -----------------------------------------------------------------------------------
    def _list(self, name: str) -> list[Any]:
        records = self.snapshot.records(name, [])
        return records if isinstance(records, list) else []

    def available(self, name: str) -> bool:
        return self.snapshot.collected(name)

    def reason(self, name: str) -> str:
        src = self.snapshot.sources.get(name)
        return (src.reason or "") if src else "not collected"

    def licence_missing(self, name: str) -> bool:
        """Whether the tenant lacks the licence a source needs (options, overrides or coverage say so)."""
        if name in P1_SOURCES and not self.licensed_p1:
            return True
        if name in P2_SOURCES and not self.licensed_p2:
            return True
        if not self.available(name) and (name in P1_SOURCES or name in P2_SOURCES):
            src = self.snapshot.sources.get(name)
            return src is not None and any(w in (self.reason(name).lower()) for w in _LICENCE_WORDS)
        return False

    def object(self, name: str) -> Any:
        return self.snapshot.records(name)

    def records(self, name: str) -> list[Any]:
        return self._list(name)

    # -- sign-ins ----------------------------------------------------------------------------------
    def sign_in_positions(
        self, since: datetime | None, apps: tuple[str, ...] | None, is_interactive: bool = True
    ) -> list[int]:
        """Positions (newest first) of interactive (or non-interactive) sign-ins at/after ``since`` and, if
        given, using one of ``apps``."""

        def build() -> list[int]:
            # times are descending; negate to bisect ascending
            limit = len(self.sign_ins)
            if since is not None:
                # t >= since  <=>  -t <= -since; the negated times ascend
                limit = bisect_right(self._neg_times, -since.timestamp())
            if apps is None:
                positions = self.sign_ins_by_kind[is_interactive]
                return positions[: bisect_left(positions, limit)]
            merged: list[int] = []
            for app in apps:
                positions = self.sign_ins_by_app.get((app.lower(), is_interactive), [])
                merged.extend(positions[: bisect_left(positions, limit)])
            merged.sort()
            return merged

        positions: list[int] = self.filters.get(("sign_ins", since, apps, is_interactive), build)
        return positions


def interactive(record: dict[str, Any]) -> bool:
    """Whether a sign-in is interactive: ``signInEventTypes`` when present (beta), else ``isInteractive``."""
    kinds = record.get("signInEventTypes")
    if isinstance(kinds, list) and kinds:
        return "interactiveUser" in kinds
    return record.get("isInteractive") is not False
