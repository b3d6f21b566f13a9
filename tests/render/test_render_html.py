"""report.html: static checks, then the real thing in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from render_sample import XSS, evaluated, explorer_data, make_context

from auditor.render.context import build_report_context
from auditor.render.explorer import packed, unpacked
from auditor.render.html import render_html, render_html_text


@pytest.fixture
def render_result():
    return make_context()


def test_written_atomically_owner_only(tmp_path: Path, render_result) -> None:
    out = render_html(render_result, tmp_path / "run" / "report.html")
    assert out.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left behind


def test_tenant_values_escaped_and_no_external_references(render_result) -> None:
    html = render_html_text(render_result)
    assert XSS not in html
    assert "&lt;script&gt;window.__pwned" in html
    assert "<b>Ltd</b>" not in html and "Contoso &lt;b&gt;Ltd&lt;/b&gt;" in html
    # exactly our two scripts: the compressed data block and the hashed inline script
    assert len(re.findall(r"<script\b", html, flags=re.I)) == 2
    assert html.lower().count("</script>") == 2
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, flags=re.I)
    assert "default-src &#39;none&#39;" in html


def test_embedded_json_cannot_break_out() -> None:
    text = packed({"x": "</script><script>alert(1)</script>", "y": "<!--", "z": "\u2028"})
    assert "<" not in text and ">" not in text and "\u2028" not in text
    assert unpacked(text)["x"] == "</script><script>alert(1)</script>"


def test_nojs_content_grouped_by_rule_and_capped() -> None:
    result = make_context(extra_findings=600)
    html = render_html_text(result, cap=25)
    for rule in ("admin-app-passwords", "imap-pop-enabled", "trusted-ips-duplicate-named-locations"):
        assert f'id="rule-{rule}"' in html
    assert "more not listed here" in html and "report.xlsx" in html
    assert "user000599@contoso.com" not in html  # not in the capped lists: only in the compressed explorer data
    assert explorer_data(html)["cols"]["name"].count("user000599@contoso.com") == 1


def test_coverage_warning_history_waivers(render_result) -> None:
    html = render_html_text(render_result)
    assert 'role="alert"' in html and "not assessed" in html
    assert "legacy-auth-sign-ins" in html and "403 Forbidden" in html
    assert "Legacy scanner until Q3" in html and "ciso@contoso.com" in html and "2026-09-30" in html
    assert "Expired waivers" in html and "cio@contoso.com" in html
    assert "gone@contoso.com" in html  # resolved since the previous run
    assert "<svg" in html and "Open findings by severity" in html


# ---------------------------------------------------------------- real browser


def _open(page, path: Path):
    """Load the file with every request routed: anything but the file itself is recorded and aborted."""
    external: list[str] = []
    errors: list[str] = []
    url = path.as_uri()

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("#explorer:not([hidden])")
    return external, errors


def expect(locator):
    from playwright.sync_api import expect as _expect

    return _expect(locator)


@pytest.fixture
def browser(chromium_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _info(page) -> str:
    return page.inner_text("#f-info")


@pytest.mark.browser
def test_report_in_chromium(browser, tmp_path: Path, render_result) -> None:
    path = render_html(render_result, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    external, errors = _open(page, path)
    assert errors == [] and external == []
    assert page.evaluate("window.__pwned") is None
    # the hostile display name is shown as text, in the rule list and in the explorer
    assert page.locator("#rule-admin-app-passwords").get_by_text(XSS).count() >= 1
    assert "9 findings" in _info(page)  # open findings (the default status filter)
    page.select_option("#f-sev", label="critical")
    assert "of 2 findings" in _info(page)
    page.select_option("#f-sev", value="")
    page.select_option("#f-status", value="")
    assert "of 10 findings" in _info(page)
    page.fill("#f-q", "printer")
    expect(page.locator("#f-info")).to_contain_text("of 1 findings")
    assert page.locator("#explorer tbody tr").count() == 1
    page.fill("#f-q", "")
    expect(page.locator("#f-info")).to_contain_text("of 10 findings")
    page.click("#explorer th[data-key=name]")
    names = page.locator("#explorer tbody tr td:nth-child(3)").all_inner_texts()
    assert names == sorted(names) and len(names) == 10
    page.click("#explorer th[data-key=name]")
    assert page.locator("#explorer tbody tr td:nth-child(3)").all_inner_texts() == sorted(names, reverse=True)
    page.click("#explorer th[data-key=sev]")
    assert page.locator("#explorer tbody tr td:first-child").first.inner_text().lower() == "critical"
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.browser
def test_report_readable_without_javascript(chromium_path, tmp_path: Path, render_result) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    path = render_html(render_result, tmp_path / "report.html")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_context(java_script_enabled=False).new_page()
        page.goto(path.as_uri())
        assert page.locator("#explorer").is_hidden()
        assert page.locator("#explorer-nojs").is_visible()
        assert page.locator("#rule-imap-pop-enabled").get_by_text("printer@contoso.com").is_visible()
        pdf = page.pdf()  # printable
        assert pdf[:4] == b"%PDF"
        b.close()


@pytest.mark.browser
@pytest.mark.slow
def test_100k_findings_load_and_filter(browser, tmp_path: Path) -> None:
    result = make_context(extra_findings=100_000)
    path = render_html(result, tmp_path / "report.html")
    assert path.stat().st_size < 50_000_000
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    external, errors = _open(page, path)
    assert errors == [] and external == []
    assert page.locator("#explorer tbody tr").count() == 100  # paged, not 100k DOM rows
    page.fill("#f-q", "needle-99999")
    expect(page.locator("#f-info")).to_contain_text("of 1 findings")
    assert page.locator("#explorer tbody tr td:nth-child(3)").inner_text() == "user099999@contoso.com"
    page.fill("#f-q", "")
    page.select_option("#f-rule", value="0")
    expect(page.locator("#f-info")).not_to_contain_text("of 100,009")
    page.click("#f-next")
    assert "Showing 101\u2013200" in _info(page)


def demo_result():
    from auditor.demo import demo_snapshot

    return build_report_context(*evaluated(demo_snapshot()))


def test_trusted_ips_side_by_side(render_result) -> None:
    html = render_html_text(render_result)
    section = html[html.index('id="headline-trusted-ips"') : html.index('id="explorer-section"')]
    assert "<td><b>contains</b></td>" in section and "203.0.113.0/25" in section
    assert "HQ &lt;/script&gt;&lt;b&gt;x&lt;/b&gt;" in section
    assert "Legacy MFA trusted IPs (1)" in section and "2001:db8::/48" in section


@pytest.mark.browser
def test_demo_tenant_report_in_chromium(browser, tmp_path: Path) -> None:
    result = demo_result()
    path = render_html(result, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    external, errors = _open(page, path)
    assert errors == [] and external == []
    total = len(result.open_findings)
    assert f"of {total} findings" in _info(page)
    for headline in ("app-passwords", "per-user-mfa", "legacy-protocols", "trusted-ips"):
        assert page.locator(f"#headline-{headline}").is_visible()
    assert page.locator("#headline-trusted-ips td", has_text="identical").count() >= 1
    page.select_option(
        "#f-rule",
        label=next(o for o in page.locator("#f-rule option").all_inner_texts() if o.startswith("admin-app-passwords")),
    )
    expected = sum(1 for f in result.open_findings if f.rule_id == "admin-app-passwords")
    expect(page.locator("#f-info")).to_contain_text(f"of {expected} findings")
    page.screenshot(path=str(tmp_path / "demo-report.png"), full_page=False)


def test_templates_are_packaged_flat() -> None:
    """The wheel ships ``reports/templates/*`` as ``auditor/templates/*`` (package_data "*"): no subfolders."""
    from auditor.render.templating import template_dir

    folder = template_dir()
    assert (folder / "report.html.j2").is_file() and (folder / "email.txt.j2").is_file()
    assert [p.name for p in folder.iterdir() if p.is_dir()] == []
    assert folder.resolve() == Path(__file__).resolve().parents[2].joinpath("reports", "templates")


def test_failed_sources_make_rules_not_assessed_impossible_to_miss() -> None:
    from auditor.demo import demo_snapshot
    from auditor.snapshot import SourceData

    snapshot = demo_snapshot()
    snapshot.sources["cas_mailboxes"] = SourceData.failed("403 Forbidden: the app lacks Exchange.ManageAsApp")
    snapshot.sources["mfa_service_policy"] = SourceData.failed("404 Not Found (beta endpoint absent)")
    result, model = evaluated(snapshot)
    skipped = {r.id for r in result.not_assessed()}
    assert {"imap-pop-enabled", "smtp-auth-mailbox-enabled"} <= skipped
    html = render_html_text(build_report_context(result, model))
    alert = html[html.index('id="coverage-warning"') : html.index('id="summary"')]
    assert "cas_mailboxes" in alert and "Exchange.ManageAsApp" in alert
    assert "mfa_service_policy" in alert
    for rule in skipped:
        assert f'href="#rule-{rule}"' in alert
    section = html[html.index('id="headline-legacy-protocols"') : html.index('id="headline-trusted-ips"')]
    assert section.count("not assessed") >= 2
