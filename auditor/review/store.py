"""One tenant's reviewer decisions: ``<reports.dir>/<tenant>/decisions.json``, carried from run to run.

What an admin does: open last week's ``report.xlsx`` in the tenant's reports folder, fill in Owner /
Decision / Due date / Notes, save. The next run (``carry_forward``, called by the pipeline before
rendering) reads the newest earlier ``report.xlsx`` of the tenant, stores what changed in
``decisions.json`` (the sidecar, 0600) and pre-fills the new workbook from it, by Rule + Entity ID. A
decision survives a finding that is resolved for a while and comes back, and runs without a workbook.

A workbook is opened only when it was saved after the run wrote it (its size and modification time
differ from the ones noted in the sidecar by ``mark_written``), so an untouched workbook costs nothing.

Which entry wins: each entry remembers when it was set. A workbook's cell replaces an entry only when it
differs from the entry (the workbook was pre-filled from it, so a difference is an edit, an emptied cell
included) and the workbook file was saved after the entry was set, so an older workbook never undoes a
newer decision. A copy edited elsewhere (the e-mailed attachment) is brought in with
``entra-auditor decisions import FILE`` (``import_workbook``), which applies its edits as of now.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from auditor.findings import Review
from auditor.history.orphans import STAMP
from auditor.render.atomic import atomic_write
from auditor.review.workbook import ReviewedWorkbook, ReviewError, ReviewRow, merged, read_reviews

log = logging.getLogger("auditor.review")
SIDECAR = "decisions.json"
SCHEMA = "entra-auditor/decisions/v1"
WORKBOOK = "report.xlsx"
MAX_SIDECAR_BYTES = 64 * 1024 * 1024


@dataclass
class Entry:
    rule: str
    entity_id: str
    entity: str
    review: Review
    updated: datetime
    source: str

    def to_dict(self) -> dict[str, Any]:
        r = self.review
        return {
            "rule": self.rule,
            "entity_id": self.entity_id,
            "entity": self.entity,
            "owner": r.owner,
            "decision": r.decision,
            "due": r.due.isoformat() if r.due else None,
            "notes": r.notes,
            "updated": self.updated.isoformat(),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Entry:
        def text(key: str) -> str | None:
            value = doc.get(key)
            return str(value) if value not in (None, "") else None

        due = text("due")
        return cls(
            str(doc["rule"]),
            str(doc["entity_id"]),
            str(doc.get("entity") or ""),
            Review(text("owner"), text("decision"), date.fromisoformat(due) if due else None, text("notes")),
            datetime.fromisoformat(str(doc["updated"])),
            str(doc.get("source") or ""),
        )


def load_entries(path: Path) -> dict[str, Entry]:
    """The sidecar's entries by fingerprint; a missing file is none."""
    return _load(path)[0]


def _load(path: Path) -> tuple[dict[str, Entry], dict[str, int] | None]:
    """The entries, and the size and mtime of the workbook the last run wrote (``mark_written``). A damaged
    sidecar is set aside (renamed ``decisions.json.damaged``) with a warning, never silently overwritten."""
    if not path.exists():
        return {}, None
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError(f"larger than {MAX_SIDECAR_BYTES // 2**20} MiB")
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document")
        entries = [Entry.from_dict(d) for d in doc.get("decisions") or []]
        written = doc.get("written")
        stat = {k: int(written[k]) for k in ("size", "mtime_ns")} if isinstance(written, dict) else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        aside = path.with_name(path.name + ".damaged")
        with contextlib.suppress(OSError):
            path.replace(aside)
        log.warning("%s could not be read (%s); set aside as %s, decisions start afresh", path, exc, aside.name)
        return {}, None
    return {f"{e.rule}|{e.entity_id}": e for e in entries}, stat


def save_entries(path: Path, entries: dict[str, Entry], written: dict[str, int] | None = None) -> None:
    doc: dict[str, Any] = {"schema": SCHEMA, "decisions": [e.to_dict() for _, e in sorted(entries.items())]}
    if written is not None:
        doc["written"] = written
    atomic_write(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def _stat(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def mark_written(tenant_dir: Path, workbook: Path) -> None:
    """Remember the workbook a run just wrote: the next run reads it only when it was saved since."""
    path = tenant_dir / SIDECAR
    entries, _ = _load(path)
    save_entries(path, entries, _stat(workbook))


def apply_rows(entries: dict[str, Entry], rows: list[ReviewRow], *, when: datetime, source: str) -> int:
    """Apply a workbook's rows to ``entries`` (see the module doc); returns how many entries changed."""
    by_fp: dict[str, list[ReviewRow]] = {}
    for row in rows:
        by_fp.setdefault(row.fingerprint, []).append(row)
    changed = 0
    for fp, found in by_fp.items():
        entry = entries.get(fp)
        if entry is not None and entry.updated >= when:
            continue  # set after this workbook was saved: the workbook's cells are older
        current = entry.review if entry is not None else Review()
        review = Review(**dict(merged(found, current)))
        if review == current:
            continue
        changed += 1
        if review.empty():
            entries.pop(fp, None)
            continue
        first = found[0]
        entries[fp] = Entry(first.rule_id, first.entity_id, first.entity_name, review, when, source)
    return changed


def latest_workbook(tenant_dir: Path) -> Path | None:
    """The ``report.xlsx`` of the newest finished run folder that has one (never a ``.partial`` folder)."""
    if not tenant_dir.is_dir():
        return None
    folders = sorted((p for p in tenant_dir.iterdir() if STAMP.match(p.name) and p.is_dir()), reverse=True)
    for folder in folders:
        candidate = folder / WORKBOOK
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None


def carry_forward(tenant_dir: Path) -> dict[str, Review]:
    """Harvest the newest earlier workbook into the sidecar and return the decisions to pre-fill.

    Never raises for a bad workbook or sidecar: the run goes on, the problem is logged as a warning."""
    path = tenant_dir / SIDECAR
    entries, written = _load(path)
    workbook = latest_workbook(tenant_dir)
    if workbook is None:
        return {fp: e.review for fp, e in entries.items()}
    try:
        if _stat(workbook) != written:  # saved since the run wrote it (or not noted)
            read = read_reviews(workbook)
            saved = datetime.fromtimestamp(workbook.stat().st_mtime, UTC)
            changed = apply_rows(entries, read.rows, when=saved, source=f"{workbook.parent.name}/{workbook.name}")
            for line in read.warnings:
                log.warning("%s", line)
            if changed:
                save_entries(path, entries, written)
    except (ReviewError, OSError) as exc:
        log.warning("reviewer decisions not carried forward from %s: %s", workbook, exc)
    return {fp: e.review for fp, e in entries.items()}


def import_workbook(
    tenant_dir: Path, workbook: Path, now: datetime | None = None, read: ReviewedWorkbook | None = None
) -> tuple[int, list[str]]:
    """``entra-auditor decisions import``: apply an edited copy's changes as of ``now``; (changed, warnings).
    ``read``: the workbook already read."""
    read = read or read_reviews(workbook)
    path = tenant_dir / SIDECAR
    entries, written = _load(path)
    changed = apply_rows(entries, read.rows, when=now or datetime.now(UTC), source=str(workbook.name))
    if changed:
        tenant_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
        save_entries(path, entries, written)
    return changed, read.warnings
