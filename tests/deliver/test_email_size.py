"""The e-mail always arrives (issue 12, item 11): an attachment size policy, and "Resolved" by rule title."""

from __future__ import annotations

import email
import email.policy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "render"))
from render_sample import make_context

from auditor.config import EmailConfig
from auditor.render.email import compose_email
from auditor.render.html import render_html
from auditor.render.workbook import render_xlsx

SENDER = "audit@contoso.com"


@pytest.fixture
def reports(tmp_path):
    context = make_context(extra_findings=400)
    folder = tmp_path / "contoso" / "20260302T070000Z"
    files = [render_xlsx(context, folder / "report.xlsx"), render_html(context, folder / "report.html")]
    return context, folder, files


def _parse(message):
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def _attachment_bytes(msg) -> int:
    return sum(len(part.as_bytes()) for part in msg.iter_attachments())


def test_under_the_limit_everything_is_attached(reports):
    context, _folder, files = reports
    msg = _parse(compose_email(context, files, sender=SENDER, to=["a@b.c"], max_attachment_mb=50))
    assert {p.get_filename() for p in msg.iter_attachments()} == {"report.xlsx", "report.html"}
    assert "Not attached" not in msg.get_body(("plain",)).get_content()


def test_over_the_limit_only_the_workbook_and_the_body_says_where(reports):
    context, folder, files = reports
    xlsx, html = (f.stat().st_size for f in files)
    assert html > xlsx
    limit_mb = (xlsx * 1.5) / (1024 * 1024)  # the workbook fits encoded, both do not
    msg = _parse(
        compose_email(
            context,
            files,
            sender=SENDER,
            to=["a@b.c"],
            zip_over_mb=None,
            max_attachment_mb=limit_mb,
            report_location=str(folder),
        )
    )
    assert [p.get_filename() for p in msg.iter_attachments()] == ["report.xlsx"]
    assert _attachment_bytes(msg) <= limit_mb * 1024 * 1024
    text = msg.get_body(("plain",)).get_content()
    assert "Not attached" in text and "report.html" in text and str(folder) in text
    assert str(folder) in msg.get_body(("html",)).get_content()


def test_a_tiny_limit_sends_no_attachment_at_all(reports):
    """A 51 MB message is never composed: with a limit below even the workbook, nothing is attached."""
    context, folder, files = reports
    msg = _parse(
        compose_email(context, files, sender=SENDER, to=["a@b.c"], max_attachment_mb=0.001, report_location=str(folder))
    )
    assert list(msg.iter_attachments()) == []
    assert len(msg.as_bytes()) < sum(f.stat().st_size for f in files)
    text = msg.get_body(("plain",)).get_content()
    assert "report.xlsx" in text and "report.html" in text and str(folder) in text


def test_the_limit_is_configurable_with_a_default():
    config = EmailConfig(sender=SENDER, to=["a@b.c"])
    assert config.max_attachment_mb == 20
    assert EmailConfig(sender=SENDER, to=["a@b.c"], max_attachment_mb=5).max_attachment_mb == 5
    with pytest.raises(ValueError, match="greater than 0"):
        EmailConfig(sender=SENDER, to=["a@b.c"], max_attachment_mb=0)


def test_resolved_findings_are_listed_by_rule_title_like_new_ones(reports):
    context, _folder, files = reports
    msg = _parse(compose_email(context, files, sender=SENDER, to=["a@b.c"]))
    [resolved] = context.resolved
    title = next(s.outcome.title for s in context.rule_sections if s.outcome.id == resolved["rule_id"])
    text = msg.get_body(("plain",)).get_content()
    resolved_lines = [line for line in text.splitlines() if line.lstrip().startswith("- ")]
    assert any(title in line and line.endswith(": gone@contoso.com") for line in resolved_lines), resolved_lines
    html = msg.get_body(("html",)).get_content()
    assert f"<td>{title}</td>" in html and "<td>gone@contoso.com</td>" in html
