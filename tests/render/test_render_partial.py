"""A source collected only in part (``partial``) is warned about in every report, like a failed one."""

from __future__ import annotations

from render_sample import evaluated

from auditor.render.context import build_report_context
from auditor.render.email import compose_email
from auditor.render.html import render_html_text
from auditor.snapshot import SourceData
from auditor.testing import baseline, snapshot_of

REASON = "security groups could not be listed (HTTP 403 Forbidden)"


def test_partial_source_is_a_coverage_warning_in_the_html_and_the_email() -> None:
    records = baseline()
    snap = snapshot_of(records)
    snap.sources["group_members"] = SourceData.partial(records["group_members"], REASON)
    result, model = evaluated(snap)
    assert result.run.status == "partial"
    context = build_report_context(result, model)
    [warning] = [w for w in context.coverage_warnings if w.source == "group_members"]
    assert warning.reason == f"partial: {REASON}"
    html = render_html_text(context)
    alert = html.split('id="coverage-warning"', 1)[1].split("</section>", 1)[0]
    assert "group_members" in alert and "partial: security groups could not be listed" in alert
    assert '<span class="badge badge-na">partial</span>' in html  # the coverage table marks it
    mail = compose_email(context, [], sender="a@contoso.com", to=["b@contoso.com"])
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_content()
    assert "group_members: partial: security groups could not be listed" in text
