"""Right-to-left overrides and NUL from tenant data are shown as [U+XXXX] markers in the HTML report (every
template output and the explorer's embedded rows) and the e-mail (subject and both bodies); a line break
in a source's reason adds no line to the plain-text e-mail."""

from __future__ import annotations

from pathlib import Path

from auditor.config import AuditorConfig
from auditor.demo import demo_snapshot
from auditor.pipeline import run_audit
from auditor.render.context import build_report_context
from auditor.render.email import compose_email
from auditor.snapshot import SourceData

EVIL = "\u202eexe.txt\x00"
RAW = ("\u202e", "\x00")


def _run(tmp_path: Path):
    snap = demo_snapshot()
    snap.tenant["name"] = "contoso"
    snap.tenant["display_name"] = f"Contoso{EVIL}"
    for user in snap.sources["users"].records:
        user["displayName"] = f"{user.get('displayName')}{EVIL}"
    snap.sources["cas_mailboxes"] = SourceData.failed("403 Forbidden\nInjected: a second line\r\nand a third")
    return run_audit(AuditorConfig(), snapshot=snap, out_dir=tmp_path, formats=["html", "json"])


def test_html_report_shows_markers_not_overrides(tmp_path: Path) -> None:
    outcome = _run(tmp_path)
    html = outcome.files["html"].read_text(encoding="utf-8")
    assert not any(ch in html for ch in RAW)
    assert "[U+202E]exe.txt[U+0000]" in html
    assert "Contoso[U+202E]" in html


def test_email_subject_and_bodies_show_markers_and_keep_lines(tmp_path: Path) -> None:
    outcome = _run(tmp_path)
    context = build_report_context(outcome.result)
    msg = compose_email(context, [], sender="a@example.com", to=["b@example.com"])
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (str(msg["Subject"]), text, html):
        assert not any(ch in part for ch in RAW)
    assert "[U+202E]" in text and "[U+202E]" in html
    [line] = [ln for ln in text.splitlines() if "403 Forbidden" in ln]
    assert "Injected: a second line" in line and "and a third" in line
    assert not any(ln.startswith("Injected") or ln.startswith("and a third") for ln in text.splitlines())
