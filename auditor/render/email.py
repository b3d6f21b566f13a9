"""The weekly e-mail: subject with tenant and counts, an Outlook-safe HTML body, a plain-text
alternative, and the reports attached (zipped together when they are large).

Composition only; ``auditor.deliver`` sends the message.
"""

from __future__ import annotations

import io
import mimetypes
import re
import zipfile
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from auditor.errors import RenderError
from auditor.findings import SEVERITIES
from auditor.render import registry
from auditor.render.change import EXPIRY_WINDOW_DAYS, change_summary
from auditor.render.context import ReportContext
from auditor.render.html import _when
from auditor.render.safe import file_component, visible
from auditor.render.templating import make_environment

LIST_LIMIT = 10
_SPACE = re.compile(r"\s+")


def _one_line(text: str, limit: int = 200) -> str:
    """Header-safe text: tenant data may contain newlines, which must never reach a header."""
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subject_for(view: ReportContext) -> str:
    counts = view.counts
    parts = [f"{counts[s]:,} {s}" for s in ("critical", "high", "medium") if counts[s]]
    summary = ", ".join(parts) if parts else "no critical/high/medium"
    subject = f"Entra audit {view.tenant_name}: {summary} ({view.open_total:,} open"
    subject += f", {len(view.new):,} new)" if view.has_history else ")"
    if view.not_assessed:
        subject += f" - INCOMPLETE, {len(view.not_assessed)} rules not assessed"
    return _one_line(visible(subject), 250)


def message_id(run_id: str, sender: str) -> str:
    """One Message-ID per run: a retried send carries the same id, so mail systems can drop duplicates."""
    domain = sender.rpartition("@")[2] or "entra-auditor.invalid"
    safe_run = re.sub(r"[^A-Za-z0-9.-]", "", run_id) or "run"
    return f"<entra-auditor.{safe_run}@{re.sub(r'[^A-Za-z0-9.-]', '', domain)}>"


def _attachment_parts(
    attachments: Sequence[Path], zip_over_mb: float | None, zip_name: str
) -> list[tuple[str, bytes, str]]:
    files = []
    for path in attachments:
        try:
            files.append((Path(path).name, Path(path).read_bytes()))
        except OSError as exc:
            raise RenderError(f"Cannot attach {path}: {exc.strerror}.") from exc
    total = sum(len(data) for _n, data in files)
    if zip_over_mb is not None and files and total > zip_over_mb * 1024 * 1024:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for name, data in files:
                zf.writestr(name, data)
        return [(zip_name, buffer.getvalue(), "application/zip")]
    out = []
    for name, data in files:
        ctype = registry.content_type(name) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        out.append((name, data, ctype))
    return out


def _encoded_size(parts: Sequence[tuple[str, bytes, str]]) -> int:
    """Bytes the attachments take in the MIME message (base64: 4 per 3, plus line breaks)."""
    return sum((len(data) + 2) // 3 * 4 * 77 // 76 for _n, data, _t in parts)


def fit_attachments(
    attachments: Sequence[Path], zip_over_mb: float | None, zip_name: str, max_mb: float | None
) -> tuple[list[tuple[str, bytes, str]], list[str]]:
    """The attachment parts within ``max_mb`` megabytes (encoded) and the names of the files left out.

    Everything when it fits; else the workbook alone (``.xlsx``) when that fits; else nothing. A message
    above the limit is never composed, however large the tenant.
    """
    parts = _attachment_parts(attachments, zip_over_mb, zip_name)
    if max_mb is None or _encoded_size(parts) <= max_mb * 1024 * 1024:
        return parts, []
    names = [Path(p).name for p in attachments]
    workbook = [p for p in attachments if Path(p).suffix.lower() == ".xlsx"]
    if workbook:
        parts = _attachment_parts(workbook, zip_over_mb, zip_name)
        if _encoded_size(parts) <= max_mb * 1024 * 1024:
            return parts, [n for n in names if n != Path(workbook[0]).name]
    return [], names


def compose_email(
    context: ReportContext,
    attachments: Sequence[Path],
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    zip_over_mb: float | None = 3.0,
    max_attachment_mb: float | None = None,
    report_location: str | None = None,
) -> EmailMessage:
    """Build the MIME message: multipart/mixed[ multipart/alternative[text, html], attachments... ].

    ``attachments`` (the files of the renderers registered with ``attach=True``) are attached as they
    are, or as one ``.zip`` when their total size exceeds ``zip_over_mb`` megabytes (config
    ``email.zip_attachments_over_mb``; None never zips). Above ``max_attachment_mb`` (config
    ``email.max_attachment_mb``) only the workbook is attached, or nothing (``fit_attachments``), and the body
    says that the reports are in ``report_location``. The Message-ID is derived from the run id (see ``message_id``).
    """
    if not to:
        raise RenderError("The e-mail has no recipients (email.to is empty).")
    day = context.run.started.strftime("%Y%m%d-%H%M")
    zip_name = f"entra-audit-{file_component(context.tenant_name)}-{day}.zip"
    parts, omitted = fit_attachments(attachments, zip_over_mb, zip_name, max_attachment_mb)
    subject = subject_for(context)
    env = make_environment({"when": _when})
    template_vars = {
        "v": context,
        "severities": SEVERITIES,
        "top": context.top_findings(LIST_LIMIT),
        "limit": LIST_LIMIT,
        "subject": subject,
        "attachment_names": [name for name, _d, _t in parts],
        "omitted": omitted,
        "max_attachment_mb": max_attachment_mb,
        "report_location": report_location,
        "rule_titles": {s.outcome.id: s.outcome.title for s in context.rule_sections},
        "change": change_summary(context),
        "expiry_days": EXPIRY_WINDOW_DAYS,
    }
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(context.run.id, sender)
    msg["X-Entra-Auditor-Run"] = _one_line(context.run.id, 100)
    msg["Auto-Submitted"] = "auto-generated"
    text_env = make_environment({"when": _when}, one_line=True)  # tenant text never adds a line
    msg.set_content(text_env.get_template("email.txt.j2").render(**template_vars))
    msg.add_alternative(env.get_template("email.html.j2").render(**template_vars), subtype="html")
    for name, data, ctype in parts:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg
