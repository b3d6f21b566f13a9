"""Tenants built for the migration plan (on ``auditor.testing``'s compliant baseline).

* ``all_safe()``: every per-user-MFA user is covered by the all-users MFA baseline, holds no role and made no
  legacy sign-in — everyone lands in wave 1.
* ``none_safe()``: an admin (wave 2), a user whose IMAP / SMTP clients still sign in (wave 3) and a user excluded
  from the MFA baseline (cover first, then wave 1) — nobody is in wave 1.
"""

from __future__ import annotations

from typing import Any

from auditor.config import AuditorConfig
from auditor.model import build_model
from auditor.model.tenant import TenantModel
from auditor.testing import Records, baseline, ca_policy, mailbox, set_mfa, sign_in, snapshot_of, user

FORMULA_NAME = '=HYPERLINK("http://evil.example/","click")'


def add_user(
    r: Records,
    uid: str,
    upn: str,
    *,
    state: str = "enforced",
    methods: list[str] | None = None,
    name: str | None = None,
    imap: bool = False,
    smtp_disabled: bool | None = True,
) -> None:
    """A member with a per-user MFA state, registered methods and a mailbox."""
    registered = ["microsoftAuthenticatorPush"] if methods is None else methods
    r["users"].append(user(uid, upn, name=name))
    r["per_user_mfa"].append({"id": uid, "userPrincipalName": upn, "perUserMfaState": state})
    r["registration_details"].append(
        {"id": uid, "userPrincipalName": upn, "isMfaRegistered": bool(registered), "methodsRegistered": registered}
    )
    r["cas_mailboxes"].append(mailbox(uid, upn, imap=imap, smtp_disabled=smtp_disabled))


def all_safe() -> Records:
    r = baseline()
    set_mfa(r, "u-bob", "enforced")
    add_user(r, "u-carol", "carol@contoso.com", state="enabled", name=FORMULA_NAME)
    add_user(r, "u-erin", "erin@contoso.com", state="enforced")
    return r


def none_safe() -> Records:
    r = baseline()
    set_mfa(r, "u-alice", "enforced")  # Global Administrator, covered: wave 2
    set_mfa(r, "u-bob", "enabled")  # legacy IMAP and SMTP sign-ins: wave 3
    r["cas_mailboxes"] = [m for m in r["cas_mailboxes"] if m["ExternalDirectoryObjectId"] != "u-bob"]
    r["cas_mailboxes"].append(mailbox("u-bob", "bob@contoso.com", imap=True, smtp_disabled=False))
    r["sign_ins"] += [
        sign_in("u-bob", "bob@contoso.com", "IMAP4", days=2, ip="203.0.113.9"),
        sign_in("u-bob", "bob@contoso.com", "IMAP4", days=3, ip="203.0.113.9"),
        sign_in("u-bob", "bob@contoso.com", "Authenticated SMTP", days=4, ip="203.0.113.9"),
        sign_in("u-bob", "bob@contoso.com", "POP3", days=1, error=50126),  # failed: breaks nothing
    ]
    add_user(r, "u-dave", "dave@contoso.com", state="enforced", methods=["mobilePhone"], name=FORMULA_NAME)
    r["conditional_access"][0] = ca_policy(
        "ca-mfa", "MFA for everyone", grant=["mfa"], users={"excludeUsers": ["u-dave"]}
    )
    return r


def model_of(records: Records, **snapshot: Any) -> TenantModel:
    config = AuditorConfig()
    return build_model(snapshot_of(records, **snapshot), config.classification, config.legacy_mfa)
