"""The weekly e-mail leads with change: new and resolved findings by rule title, migration-plan
progress (when the context has a plan), waivers expiring in the next 14 days. Sent through a real
SMTP server on loopback (STARTTLS + AUTH) and read back from the wire."""

from __future__ import annotations

import email
import email.policy
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "render"))
import test_deliver as td
from render_sample import make_context

from auditor.deliver import deliver_email
from auditor.render.change import change_summary, expiring_waivers, plan_progress
from auditor.render.email import compose_email

# the real SMTP server on loopback (STARTTLS + AUTH) and its CA, shared with test_deliver
ca, ca_file, server_context, smtp_server, _env = td.ca, td.ca_file, td.server_context, td.smtp_server, td._env
smtp_config = td.smtp_config


def _context(plan: object = None, previous: int | None = None):
    ctx = make_context()  # run started 2026-03-02; bob's waiver on daily-account-per-user-mfa
    waived = ctx.waived_findings[0]
    waived.waiver = {**waived.waiver, "expires": date(2026, 3, 9)}  # 7 days after the run
    later = replace(waived, entity_id="u9", entity_name="carl@contoso.com")
    later.waiver = {**waived.waiver, "entity": "carl@contoso.com", "expires": date(2026, 3, 20)}  # 18 days: not yet
    ctx.waived_findings.append(later)
    if plan is not None:
        ctx.migration_plan = plan  # type: ignore[attr-defined]
    if previous is not None:
        ctx.previous_migration_users = previous  # type: ignore[attr-defined]
    return ctx


PLAN = {
    "users": [{"upn": f"user{i}@contoso.com"} for i in range(3)],
    "waves": [
        {"name": "Wave 1: nothing to break", "users": [{"upn": "user0@contoso.com"}]},
        {"name": "Wave 2: admins", "users": [{"upn": "user1@contoso.com"}, {"upn": "user2@contoso.com"}]},
    ],
}


def _send(smtp_server, ca_file, ctx):
    inbox, port = smtp_server
    msg = compose_email(ctx, [], sender="audit@contoso.com", to=["secops@contoso.com"])
    sent = deliver_email(smtp_config(port, ca_file).email, None, msg, run_id=ctx.run.id)
    assert sent.sent and len(inbox.messages) == 1
    got = email.message_from_bytes(inbox.messages[0]["data"], policy=email.policy.default)
    return got.get_body(("plain",)).get_content(), got.get_body(("html",)).get_content()


def test_email_leads_with_change(smtp_server, ca_file) -> None:
    text, html = _send(smtp_server, ca_file, _context(PLAN, previous=5))
    for body in (text, html):
        change = body.index("What changed since the previous run")
        assert change < body.index("Top findings") and change < body.index("Headline risks")
        # resolved by rule title, like new (the resolved item is imap-pop-enabled / gone@contoso.com)
        assert "Mailbox allows IMAP or POP" in body and "gone@contoso.com" in body
        assert "Admin can use app passwords" in body  # a new finding's rule title
        assert "2</b> user(s) moved off" in body or "2 user(s) moved off since the previous run" in body
        assert "Wave 2: admins" in body
        assert "Waivers expiring in the next 14 days" in body
        assert "2026-03-09" in body and "carl@contoso.com" not in body  # 18 days out is not listed
    assert "imap-pop-enabled:" not in text  # no bare rule id where a title belongs
    assert "1 new [critical] Admin can use app passwords: ann@contoso.com" in text
    assert "1 resolved Mailbox allows IMAP or POP: gone@contoso.com" in text
    assert "3 still on per-user MFA" in text
    assert "- 2026-03-09 (7 day(s)): daily-account-per-user-mfa / bob@contoso.com" in text


def test_change_section_escapes_tenant_data(smtp_server, ca_file) -> None:
    ctx = _context()
    hostile = next(f for f in ctx.open_findings if f.entity_name.startswith("<script"))
    ctx.new.append(hostile)
    _text, html = _send(smtp_server, ca_file, ctx)
    change = html[html.index("What changed since the previous run") : html.index("Top findings")]
    assert "&lt;script&gt;window.__pwned" in change and "<script" not in html.lower()


def test_without_a_plan_there_is_no_plan_block(smtp_server, ca_file) -> None:
    text, html = _send(smtp_server, ca_file, _context())
    assert "Migration off per-user MFA" not in text and "Migration off per-user MFA" not in html
    assert "What changed since the previous run" in text


def test_plan_without_previous_count_shows_the_current_count() -> None:
    ctx = _context(PLAN)
    progress = plan_progress(ctx)
    assert progress is not None and progress.remaining == 3 and progress.moved_off is None
    msg = compose_email(ctx, [], sender="audit@contoso.com", to=["secops@contoso.com"])
    text = msg.get_body(("plain",)).get_content()
    assert "Migration off per-user MFA: 3 still on per-user MFA." in text and "moved off" not in text


def test_change_summary_groups_by_title_and_counts() -> None:
    ctx = _context()
    summary = change_summary(ctx)
    assert summary.has_history and summary.new_total == len(ctx.new) and summary.resolved_total == 1
    assert [g.title for g in summary.resolved] == ["Mailbox allows IMAP or POP"]
    assert sum(g.count for g in summary.new) == len(ctx.new)
    assert [(w.rule, w.days_left, w.findings) for w in expiring_waivers(ctx)] == [("daily-account-per-user-mfa", 7, 1)]
    assert [w.entity for w in expiring_waivers(ctx, days=30)] == ["bob@contoso.com", "carl@contoso.com"]


def test_first_run_says_so() -> None:
    ctx = _context()
    ctx.has_history = False
    text = compose_email(ctx, [], sender="a@contoso.com", to=["b@contoso.com"]).get_body(("plain",)).get_content()
    assert "First recorded run for this tenant" in text
