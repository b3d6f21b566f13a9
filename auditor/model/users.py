"""The users table: Graph users joined with per-user MFA state and registration details."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

_MFA_STATES = {"disabled", "enabled", "enforced"}
#: Graph's "no value" for sign-in dates (besides null): an empty string and the .NET minimum date
_SENTINELS = ("", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00")


def _date(value: Any) -> Any:
    """A sign-in date, or None for Graph's sentinels ("" and 0001-01-01T00:00:00Z mean "none")."""
    if not isinstance(value, str) or value.strip() in _SENTINELS or value.startswith("0001-01-01"):
        return None
    return value


def _utc(values: list[Any]) -> pd.Series:
    # cache=False: sign-in times are mostly distinct, and pandas' cache of unique values then costs more than it saves
    return pd.to_datetime(
        pd.Series([_date(v) for v in values], dtype="object"),
        utc=True,
        errors="coerce",
        format="ISO8601",
        cache=False,
    )


def _by_id(records: list[dict[str, Any]], ids: list[str], unique: bool) -> Sequence[dict[str, Any] | None]:
    """The record of each user id (the last one with that id), in ``ids`` order."""
    if unique and len(records) == len(ids) and [str(r.get("id")) for r in records] == ids:
        return records  # the common case: the same users in the same order
    by_id = {str(r.get("id")): r for r in records}
    return [by_id.get(i) for i in ids]


def _per_user_mfa(records: list[dict[str, Any]], ids: list[str], unique: bool) -> pd.Series:
    """Each user's per-user MFA state: 'disabled', 'enabled', 'enforced', else missing."""

    def state(r: dict[str, Any]) -> str | None:
        return str(r.get("perUserMfaState")).lower() if r.get("perUserMfaState") else None

    if ids and _by_id(records, ids, unique) is records:  # one record per user, in order: no lookup needed
        found = pd.Series([state(r) for r in records])  # the dtype pandas infers, as ``map`` gives below
    else:
        found = pd.Series(ids, dtype="object").map({str(r.get("id")): state(r) for r in records})
    return found.where(lambda s: s.isin(_MFA_STATES), None)


def build_users(
    records: list[dict[str, Any]],
    per_user_mfa: list[dict[str, Any]] | None,
    registration: list[dict[str, Any]] | None,
    sign_in_activity: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per user. ``per_user_mfa``/``mfa_registered`` are None where the source is missing.

    ``sign_in_activity`` maps user id to ``signInActivity`` (the collector reads it for role holders only);
    without it, the property is read from the user records (snapshots of earlier collectors).
    """
    ids = [str(r.get("id")) for r in records]
    upns = [r.get("userPrincipalName") or "" for r in records]
    if isinstance(sign_in_activity, dict):
        activity = [sign_in_activity.get(i) or {} for i in ids]
    else:
        activity = [r.get("signInActivity") or {} for r in records]
    frame = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="object"),
            "upn": pd.Series(upns, dtype="object"),
            "display_name": pd.Series([r.get("displayName") or "" for r in records], dtype="object"),
            "user_type": pd.Series([r.get("userType") or "Member" for r in records], dtype="object"),
            "enabled": pd.Series([r.get("accountEnabled") is not False for r in records], dtype=bool),
            "mail": pd.Series([(r.get("mail") or "").lower() for r in records], dtype="object"),
        }
    )
    frame["is_guest"] = frame["user_type"].str.lower().eq("guest")
    # External (B2B) accounts carry '#EXT#' in their UPN, whatever their userType.
    external = pd.Series(["#ext#" in u.lower() for u in upns], dtype=bool)
    frame["guest_kind"] = pd.Series(
        [
            (
                ("b2bCollaborationGuest" if ext else "internalGuest")
                if guest
                else ("b2bCollaborationMember" if ext else None)
            )
            for guest, ext in zip(frame["is_guest"].tolist(), external.tolist(), strict=True)
        ],
        dtype="object",
    )
    interactive = _utc([a.get("lastSignInDateTime") for a in activity])
    non_interactive = _utc([a.get("lastNonInteractiveSignInDateTime") for a in activity])
    # lastSignInDateTime counts failed attempts too (a password spray keeps a dormant account looking
    # used); lastSuccessfulSignInDateTime is the real last sign-in wherever Graph returns it. Every success
    # is also an attempt, so a success later than the last attempt is inconsistent: the earlier one wins.
    attempt = pd.concat([interactive, non_interactive], axis=1).max(axis=1)
    has_success = pd.Series(["lastSuccessfulSignInDateTime" in a for a in activity], dtype=bool)
    # every date a sentinel ("none") is still an answer: the user has activity data, just no sign-in
    reported = _utc([a.get("lastSuccessfulSignInDateTime") for a in activity])
    success = pd.concat([reported, attempt], axis=1).min(axis=1).where(reported.notna())
    frame["last_sign_in"] = success.where(has_success, attempt)
    frame["last_sign_in_attempt"] = attempt
    frame["has_sign_in_activity"] = [bool(a) for a in activity]

    unique = len(set(ids)) == len(ids)
    if per_user_mfa is None:
        frame["per_user_mfa"] = None
    else:
        frame["per_user_mfa"] = _per_user_mfa(per_user_mfa, ids, unique)

    if registration is None:
        frame["mfa_registered"] = None
        frame["mfa_capable"] = None
        frame["passwordless_capable"] = None
        frame["methods"] = [[] for _ in range(len(frame))]
    else:
        rows = _by_id(registration, ids, unique)
        frame["mfa_registered"] = pd.Series(
            [_flag(r.get("isMfaRegistered")) if r is not None else None for r in rows], dtype="object"
        )
        # isMfaCapable: registered *and* allowed by policy; isPasswordlessCapable likewise (None: not returned)
        for column, key in (("mfa_capable", "isMfaCapable"), ("passwordless_capable", "isPasswordlessCapable")):
            frame[column] = pd.Series(
                [r.get(key) if r is not None and isinstance(r.get(key), bool) else None for r in rows], dtype="object"
            )
        frame["methods"] = [_method_names(r.get("methodsRegistered")) if r is not None else [] for r in rows]
    return frame


def _method_names(value: object) -> list[str]:
    """``methodsRegistered`` as the method names it holds (anything but a list of text is no method)."""
    return [m for m in value if isinstance(m, str)] if isinstance(value, list) else []


def _flag(value: object) -> bool | None:
    """A boolean field as sent, or None (unknown) when it is not a boolean."""
    return value if isinstance(value, bool) else None
