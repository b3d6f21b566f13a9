"""The snapshot: the boundary between collection and everything offline.

A snapshot is a gzip'd JSON document::

    {"format": "entra-auditor/snapshot", "version": 1,
     "tenant": {"name": "contoso", "tenant_id": "...", "default_domain": "contoso.com"},
     "collected_at": "2026-11-25T07:00:00+00:00", "tool_version": "0.1.0",
     "window_days": 30,
     "sources": {"users": {"status": "collected", "reason": null, "items": 2,
                           "records": [ ...raw Graph objects... ]}, ...}}

``records`` holds each source's raw records exactly as the API sent them (a list, or one object for
singleton sources). ``status`` is ``collected``, ``partial``, ``failed`` or ``skipped``; a failed or skipped
source has a ``reason`` and its records are empty. A ``partial`` source holds usable records that are known to
be incomplete, and its ``reason`` says what is missing (e.g. ``group_members`` when the security groups could
not be listed): rules read its records and say what they were assessed without, and the run is ``partial``.
Secrets never enter a snapshot.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from auditor import __version__
from auditor.errors import SnapshotError
from auditor.gcpause import gc_paused
from auditor.sources import SOURCES

FORMAT = "entra-auditor/snapshot"
VERSION = 1

# Level 1: a 300k-user snapshot is ~10x smaller than its JSON at a fraction of level 6's CPU time.
COMPRESSLEVEL = 1

SourceStatus = Literal["collected", "partial", "failed", "skipped"]
STATUSES: tuple[SourceStatus, ...] = ("collected", "partial", "failed", "skipped")
#: statuses whose records rules may read
USABLE: tuple[SourceStatus, ...] = ("collected", "partial")


@dataclass
class SourceData:
    status: SourceStatus
    records: Any = None
    reason: str | None = None
    items: int = 0

    @classmethod
    def collected(cls, records: Any) -> SourceData:
        items = len(records) if isinstance(records, list) else (0 if records is None else 1)
        return cls(status="collected", records=records, items=items)

    @classmethod
    def partial(cls, records: Any, reason: str) -> SourceData:
        """Usable records known to be incomplete; ``reason`` says what is missing."""
        data = cls.collected(records)
        data.status, data.reason = "partial", reason
        return data

    @property
    def usable(self) -> bool:
        """True when rules may read the records (``collected`` or ``partial``)."""
        return self.status in USABLE

    @classmethod
    def failed(cls, reason: str) -> SourceData:
        return cls(status="failed", records=None, reason=reason)

    @classmethod
    def skipped(cls, reason: str) -> SourceData:
        return cls(status="skipped", records=None, reason=reason)


@dataclass
class Snapshot:
    tenant: dict[str, Any]
    sources: dict[str, SourceData]
    collected_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    window_days: int = 30
    tool_version: str = __version__

    @property
    def tenant_name(self) -> str:
        return str(self.tenant.get("name") or self.tenant.get("tenant_id") or "tenant")

    @property
    def tenant_id(self) -> str:
        return str(self.tenant.get("tenant_id") or "")

    def collected(self, name: str) -> bool:
        """True when the source's records are usable (``collected``, or ``partial`` with a reason)."""
        src = self.sources.get(name)
        return src is not None and src.usable

    def records(self, name: str, default: Any = None) -> Any:
        src = self.sources.get(name)
        if src is None or not src.usable:
            return default
        return src.records if src.records is not None else default

    def coverage(self) -> list[dict[str, Any]]:
        """One entry per known source (missing ones are ``skipped``), in catalog order."""
        rows = []
        names = list(SOURCES) + [n for n in self.sources if n not in SOURCES]
        for name in names:
            src = self.sources.get(name)
            if src is None:
                rows.append({"source": name, "status": "skipped", "items": 0, "reason": "not collected"})
            else:
                rows.append({"source": name, "status": src.status, "items": src.items, "reason": src.reason})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "tenant": self.tenant,
            "collected_at": self.collected_at.isoformat(),
            "tool_version": self.tool_version,
            "window_days": self.window_days,
            "sources": {
                name: {"status": s.status, "reason": s.reason, "items": s.items, "records": s.records}
                for name, s in self.sources.items()
            },
        }

    @classmethod
    def from_dict(cls, doc: Any, origin: str = "snapshot") -> Snapshot:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise SnapshotError(f"{origin} is not an Entra Auditor snapshot (missing format marker).")
        if doc.get("version") != VERSION:
            raise SnapshotError(
                f"{origin} has snapshot version {doc.get('version')!r}; this tool reads version {VERSION}."
            )
        try:
            _check_shape(doc, origin)
            sources = {}
            for name, raw in (doc.get("sources") or {}).items():
                status = raw.get("status")
                if status not in STATUSES:
                    raise SnapshotError(f"{origin}: source {name[:60]!r} has invalid status {str(status)[:40]!r}.")
                sources[name] = SourceData(
                    status=status,
                    records=raw.get("records"),
                    reason=raw.get("reason"),
                    items=int(raw.get("items") or 0),
                )
            collected_at = datetime.fromisoformat(doc["collected_at"])
            if collected_at.tzinfo is None:
                collected_at = collected_at.replace(tzinfo=UTC)
            return cls(
                tenant=dict(doc.get("tenant") or {}),
                sources=sources,
                collected_at=collected_at,
                window_days=int(doc.get("window_days") or 30),
                tool_version=str(doc.get("tool_version") or ""),
            )
        except SnapshotError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise SnapshotError(f"{origin} is malformed: {' '.join(str(exc).split())[:200]}.") from exc


def _check_shape(doc: dict[str, Any], origin: str) -> None:
    """Reject wrong containers and types field by field, naming the field (before anything uses them)."""

    def bad(detail: str) -> SnapshotError:
        return SnapshotError(f"{origin} is malformed: {detail}.")

    if not isinstance(doc.get("tenant") or {}, dict):
        raise bad("'tenant' must be an object")
    if not isinstance(doc.get("collected_at"), str):
        raise bad("'collected_at' must be an ISO date-time")
    try:
        datetime.fromisoformat(doc["collected_at"])
    except ValueError as exc:
        raise bad(f"'collected_at' is not an ISO date-time ({exc})") from exc
    window = doc.get("window_days") or 30
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 3650:
        raise bad("'window_days' must be a whole number of days between 1 and 3650")
    sources = doc.get("sources") or {}
    if not isinstance(sources, dict):
        raise bad("'sources' must be an object")
    for name, raw in sources.items():
        label = repr(name[:60])
        if not isinstance(raw, dict):
            raise bad(f"source {label} must be an object")
        items = raw.get("items") or 0
        if isinstance(items, bool) or not isinstance(items, int) or items < 0:
            raise bad(f"source {label} has an 'items' count that is not a whole number")
        if not isinstance(raw.get("reason") or "", str):
            raise bad(f"source {label} has a 'reason' that is not text")
        records, spec = raw.get("records"), SOURCES.get(name)
        if records is not None and spec is not None:
            if spec.shape == "list" and not isinstance(records, list):
                raise bad(f"source {label} records must be a list, not {type(records).__name__}")
            if spec.shape == "object" and not isinstance(records, dict):
                raise bad(f"source {label} records must be an object, not {type(records).__name__}")


class _NonFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text[:40])
    return value


def _no_constant(text: str) -> Any:
    raise _NonFinite(text)


def save(snapshot: Snapshot, path: str | os.PathLike[str]) -> Path:
    """Write atomically (temp file + rename) with owner-only permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".snapshot-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESSLEVEL) as gz,
            io.BufferedWriter(gz, buffer_size=1 << 20) as out,
        ):
            _write_streamed(snapshot, out)
            out.flush()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _write_streamed(snapshot: Snapshot, out: io.BufferedIOBase, chunk: int = 2000) -> None:
    """Write the document record by record, so a 300k-user tenant never exists as one giant string."""
    head = snapshot.to_dict()
    sources = head.pop("sources")
    out.write(_dumps(head)[:-1] + b',"sources":{')
    for index, (name, src) in enumerate(sources.items()):
        records = src.pop("records")
        out.write((b"," if index else b"") + _dumps(name) + b":" + _dumps(src)[:-1] + b',"records":')
        if isinstance(records, list):
            out.write(b"[")
            for start in range(0, len(records), chunk):
                part = _dumps(records[start : start + chunk])[1:-1]  # one encoder call per chunk
                out.write((b"," if start else b"") + part)
            out.write(b"]}")
        else:
            out.write(_dumps(records) + b"}")
    out.write(b"}}")


def load(path: str | os.PathLike[str]) -> Snapshot:
    path = Path(path)
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise SnapshotError(f"Snapshot file {path} does not exist.") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise SnapshotError(f"Snapshot file {path} is corrupt or not gzip'd JSON ({exc}).") from exc
    try:
        with gc_paused():
            doc = json.loads(data, parse_float=_finite_float, parse_constant=_no_constant)
    except _NonFinite as exc:
        raise SnapshotError(f"Snapshot file {path} holds {exc}, which is not a finite number.") from exc
    except RecursionError as exc:
        raise SnapshotError(f"Snapshot file {path} is nested too deeply to be a snapshot.") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, or an integer of 5,000 digits
        raise SnapshotError(f"Snapshot file {path} does not hold valid JSON ({str(exc)[:200]}).") from exc
    return Snapshot.from_dict(doc, origin=f"Snapshot file {path}")
