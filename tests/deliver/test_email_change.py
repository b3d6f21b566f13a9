"""The weekly e-mail leads with change: new and resolved findings by rule title, migration-plan
progress (when the context has a plan), waivers expiring in the next 14 days. Sent through a real
SMTP server on loopback (STARTTLS + AUTH) and read back from the wire."""

from __future__ import annotations

import email
import email.policy
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "render"))
sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
import test_deliver as td
from plan_values import make_plan
from render_sample import make_context

from auditor.deliver import deliver_email
from auditor.history.plans import RecordedPlan
from auditor.plan import WAVES, MigrationPlan
from auditor.render.change import change_summary, expiring_waivers, plan_progress
from auditor.render.email import compose_email

# the real SMTP server on loopback (STARTTLS + AUTH) and its CA, shared with test_deliver
ca, ca_file, server_context, smtp_server, _env = td.ca, td.ca_file, td.server_context, td.smtp_server, td._env
smtp_config = td.smtp_config


def _recorded(*users: tuple[str, int]) -> RecordedPlan:
    """What history recorded for the baseline run's plan."""
    waves = {w: sum(1 for _u, n in users if n == w) for w in WAVES}
    return RecordedPlan(
        run_id="base",
        started=datetime(2026, 2, 23, 7, 0, tzinfo=UTC),
        status="assessed",
        total=len(users),
        waves=waves,
        users={upn.split("@")[0]: upn for upn, _w in users},
    )


def _context(plan: MigrationPlan | None = None, previous: RecordedPlan | None = None):
    ctx = make_context()  # run started 2026-03-02; bob's waiver on daily-account-per-user-mfa
    waived = ctx.waived_findings[0]
    waived.waiver = {**waived.waiver, "expires": date(2026, 3, 9)}  # 7 days after the run
    later = replace(waived, entity_id="u9", entity_name="carl@contoso.com")
    later.waiver = {**waived.waiver, "entity": "carl@contoso.com", "expires": date(2026, 3, 20)}  # 18 days: not yet
    ctx.waived_findings.append(later)
    ctx.migration_plan = plan
    ctx.previous_plan = previous
    return ctx


# this run: user0 in wave 1, user1 and user2 in wave 2 (admins); the baseline had two more admins
PLAN = make_plan(("user0@contoso.com", 1), ("user1@contoso.com", 2), ("user2@contoso.com", 2))
BASELINE = _recorded(
    ("user0@contoso.com", 1),
    ("user1@contoso.com", 2),
    ("user2@contoso.com", 2),
    ("user3@contoso.com", 2),
    ("user4@contoso.com", 2),
)


def _send(smtp_server, ca_file, ctx):
    inbox, port = smtp_server
    msg = compose_email(ctx, [], sender="audit@contoso.com", to=["secops@contoso.com"])
    sent = deliver_email(smtp_config(port, ca_file).email, None, msg, run_id=ctx.run.id)
    assert sent.sent and len(inbox.messages) == 1
    got = email.message_from_bytes(inbox.messages[0]["data"], policy=email.policy.default)
    return got.get_body(("plain",)).get_content(), got.get_body(("html",)).get_content()


def test_email_leads_with_change(smtp_server, ca_file) -> None:
    text, html = _send(smtp_server, ca_file, _context(PLAN, BASELINE))
    for body in (text, html):
        change = body.index("What changed since the previous run")
        assert change < body.index("Top findings") and change < body.index("Headline risks")
        # resolved by rule title, like new (the resolved item is imap-pop-enabled / gone@contoso.com)
        assert "Mailbox allows IMAP or POP" in body and "gone@contoso.com" in body
        assert "Admin can use app passwords" in body  # a new finding's rule title
        assert "2</b> users moved off per-user MFA since the last run (<b>3</b> remain)" in body or (
            "2 users moved off per-user MFA since the last run (3 remain)." in body
        )
        assert "Moved off: user3@contoso.com, user4@contoso.com" in body
        assert "Wave 2 - Admins: 2 (was 4)" in body and "Wave 1 - Nothing to break: 1" in body
        assert "Waivers expiring in the next 14 days" in body
        assert "2026-03-09" in body and "carl@contoso.com" not in body  # 18 days out is not listed
    assert "imap-pop-enabled:" not in text  # no bare rule id where a title belongs
    assert "1 new [critical] Admin can use app passwords: ann@contoso.com" in text
    assert "1 resolved Mailbox allows IMAP or POP: gone@contoso.com" in text
    assert "Newly on per-user MFA" not in text  # nobody joined per-user MFA
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
    assert "Migration off per-user MFA: 3 users still on per-user MFA." in text and "moved off" not in text


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


def test_moved_off_is_exact_and_new_users_are_counted_apart() -> None:
    # user3 and user4 left per-user MFA, new1 and new2 joined: the counts alone would say nobody moved off
    plan = make_plan(*[(f"user{i}@contoso.com", 2) for i in range(3)], ("new1@contoso.com", 1), ("new2@contoso.com", 1))
    progress = plan_progress(_context(plan, BASELINE))
    assert progress is not None
    assert (progress.remaining, progress.previous, progress.moved_off, progress.added) == (5, 5, 2, 2)
    assert progress.moved_off_names == ("user3@contoso.com", "user4@contoso.com")
    assert [(w.label, w.count, w.previous) for w in progress.waves] == [
        ("Wave 1 - Nothing to break", 2, 1),
        ("Wave 2 - Admins", 3, 4),
    ]


def test_a_baseline_count_without_its_users_falls_back_to_the_difference() -> None:
    counted = replace(BASELINE, users={})
    progress = plan_progress(_context(PLAN, counted))
    assert progress is not None and (progress.moved_off, progress.added, progress.moved_off_names) == (2, None, ())


def test_plan_not_assessed_says_so_and_is_never_zero() -> None:
    ctx = _context(make_plan(status="not_assessed"), BASELINE)
    progress = plan_progress(ctx)
    assert progress is not None and progress.remaining is None and progress.moved_off is None
    text = compose_email(ctx, [], sender="a@contoso.com", to=["b@contoso.com"]).get_body(("plain",)).get_content()
    assert "Migration off per-user MFA: not assessed in this run (per_user_mfa: 403 Forbidden)." in text
    assert "moved off" not in text


def test_nobody_on_per_user_mfa_now_or_before_has_no_plan_block() -> None:
    empty = replace(BASELINE, total=0, users={}, waves={})
    for previous in (None, empty):
        ctx = _context(make_plan(), previous)
        assert change_summary(ctx).plan is None
        text = compose_email(ctx, [], sender="a@c.com", to=["b@c.com"]).get_body(("plain",)).get_content()
        assert "Migration off per-user MFA" not in text
    # the week the last user moved off, the block still says so
    last = _context(make_plan(), replace(BASELINE, total=1, users={"user0": "user0@contoso.com"}, waves={1: 1}))
    summary = change_summary(last)
    assert summary.plan is not None and (summary.plan.moved_off, summary.plan.remaining) == (1, 0)


def test_moved_off_names_are_escaped_in_html(smtp_server, ca_file) -> None:
    hostile = "<img src=x onerror=alert(1)>@contoso.com"
    previous = replace(BASELINE, users={**BASELINE.users, "evil": hostile}, total=6)
    _text, html = _send(smtp_server, ca_file, _context(PLAN, previous))
    assert "&lt;img src=x onerror=alert(1)&gt;@contoso.com" in html and "<img" not in html
