"""Record hygiene before modelling: one bad record never discards a whole collection.

``tidy_records(snapshot)`` drops, from every collected list source, records that are not JSON objects
(``null``, strings, numbers: *malformed*) and later copies of a record whose id was already seen
(*duplicates*: the first wins — Graph pages can repeat a record when the directory changes mid-paging).
Each source touched says so in its coverage ``reason`` ("2 duplicate records ignored, first kept; 1
malformed record skipped"), so the reports show what was left out. The snapshot is changed in place; the
copy saved on disk keeps the records as the API sent them.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from auditor.snapshot import Snapshot

#: the identity of a record, by the first of these keys it has (Graph ``id``, Exchange ``Guid`` / object id)
ID_KEYS = ("id", "Guid", "ExternalDirectoryObjectId", "Identity")


def record_key(record: dict[str, Any]) -> str | None:
    for key in ID_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value:
            return f"{key}:{value.lower()}"
    return None


def _unique_strings(values: list[Any], fold: bool) -> bool | None:
    """True/False when every value is a non-empty ``str`` (distinct or not, after lower-casing when ``fold``);
    None when none is a string; False for a mix."""
    types = set(map(type, values))
    if types == {str} and all(values):
        return len(set(map(str.lower, values) if fold else values)) == len(values)
    if any(issubclass(t, str) for t in types):
        return False  # some records have this key, some not (or an empty one): record by record
    return None


def _all_distinct(records: list[Any]) -> bool:
    """True when every record is an object and their keys (``record_key``'s, or the raw ``id``) are distinct and
    of one kind: nothing to drop. A cheap check for the common case (C-level passes over the records); anything
    else takes the record-by-record path."""
    if set(map(type, records)) != {dict}:
        return not records
    for key in ID_KEYS:
        found = _unique_strings(list(map(dict.get, records, repeat(key))), fold=key != "id")
        if found is not None:
            return found
    return False


def tidy_records(snapshot: Snapshot) -> dict[str, dict[str, int]]:
    """Drop malformed and duplicate records in place; returns ``{source: {"malformed": n, "duplicates": n}}``
    for the sources that had any."""
    counts: dict[str, dict[str, int]] = {}
    for name, src in snapshot.sources.items():
        if not src.usable or not isinstance(src.records, list):
            continue
        if _all_distinct(src.records):
            continue
        kept: list[dict[str, Any]] = []
        seen: set[str] = set()
        malformed = duplicates = 0
        for record in src.records:
            if not isinstance(record, dict):
                malformed += 1
                continue
            ident = record.get("id")  # the common case (Graph ids are GUIDs: no ':' and lower case)
            key = ident if type(ident) is str and ident else record_key(record)
            if key is not None:
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
            kept.append(record)
        if not (malformed or duplicates):
            continue
        src.records = kept
        src.items = len(kept)
        notes = []
        if duplicates:
            notes.append(f"{duplicates} duplicate record{'s' if duplicates != 1 else ''} ignored, first kept")
        if malformed:
            notes.append(f"{malformed} malformed record{'s' if malformed != 1 else ''} skipped")
        src.reason = "; ".join([*([src.reason] if src.reason else []), *notes])
        counts[name] = {"malformed": malformed, "duplicates": duplicates}
    return counts
