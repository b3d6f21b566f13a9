"""report.xlsx: the security-review workbook, streamed row by row (``auditor.render.xlsx_stream``).

Rows are generated and written one at a time, so a 300,000-user tenant never holds a workbook's worth
of cell objects in memory (openpyxl's write-only mode was too slow for that size;
see xlsx_stream). Every tenant value goes through ``auditor.render.safe.cell_value`` (formula
neutralisation); dates are real Excel dates (naive UTC, as Excel has no time zones).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from auditor.findings import SEVERITIES, AuditResult, Finding
from auditor.render import xlsx_stream as xs
from auditor.render.atomic import atomic_output
from auditor.render.safe import cell_value, neutralise
from auditor.render.view import ReportView, build_view, finding_sort_key, flatten_evidence, fmt_value

DECISIONS = ("Accept risk", "Remediate", "False positive")
MAX_EVIDENCE_COLUMNS = 24
SEVERITY_FILLS = {"critical": "7B1020", "high": "C0392B", "medium": "D68910", "low": "2E86C1", "info": "717D7E"}


@dataclass(frozen=True)
class Col:
    header: str
    width: float = 14
    kind: str = "text"  # text | severity | wrap (dates are detected from the value)


class _Sheet:
    """A table sheet: styled, frozen header row, widths, autofilter, severity colours, typed cells."""

    def __init__(self, wb: xs.Workbook, title: str, cols: Sequence[Col]) -> None:
        self.cols = list(cols)
        self.sheet = wb.sheet(title, [c.width for c in self.cols])
        self.sheet.row([c.header for c in self.cols], xs.HEADER)
        self.rows = 0
        wrap = [xs.WRAP if c.kind == "wrap" else xs.NORMAL for c in self.cols]
        self._styles = wrap if any(wrap) else None

    def append(self, values: Sequence[Any]) -> None:
        self.sheet.row([v if v is None else neutralise(v) if type(v) is str else cell_value(v) for v in values],
                       self._styles)
        self.rows += 1

    def column(self, header: str) -> str:
        return xs.col_letter([c.header for c in self.cols].index(header) + 1)

    def finish(self, validations: Sequence[xs.Validation] = ()) -> None:
        self.sheet.autofilter()
        for i, col in enumerate(self.cols, start=1):
            if col.kind == "severity" and self.rows:
                letter = xs.col_letter(i)
                for dxf, sev in enumerate(SEVERITY_FILLS):
                    self.sheet.highlight(xs.Highlight(f"{letter}2:{letter}{self.rows + 1}", sev, dxf))
        for v in validations:
            self.sheet.validate(v)
        self.sheet.close()


def _summary(wb: xs.Workbook, view: ReportView) -> None:
    result = view.result
    sheet = wb.sheet("Summary", [28, 24, 12, 70], freeze=False)

    def pairs(rows: Iterable[tuple[str, Any]]) -> None:
        for key, value in rows:
            sheet.row([key, cell_value(value)], [xs.BOLD, xs.NORMAL])

    sheet.row([cell_value(f"Entra Auditor security review: {view.tenant_label}")], xs.TITLE)
    pairs([
        ("Tenant", view.tenant_name), ("Tenant ID", result.tenant.get("tenant_id")),
        ("Default domain", result.tenant.get("default_domain")),
        ("Run ID", result.run.id), ("Started (UTC)", result.run.started),
        ("Finished (UTC)", result.run.finished), ("Run status", result.run.status),
        ("Tool version", result.run.tool_version),
        ("Previous run", result.previous_run_id or "none (first run)"),
    ])
    sheet.row([])
    pairs([(f"Open {sev}", view.counts[sev]) for sev in SEVERITIES])
    pairs([("Open in total", view.open_total), ("Waived", view.waived),
           ("New since previous run", len(view.new) if view.has_history else None),
           ("Resolved since previous run", len(view.resolved) if view.has_history else None),
           ("Rules not assessed", len(view.not_assessed)),
           ("Expired waivers", len(result.expired_waivers))])
    sheet.row([])
    if view.coverage_warnings or view.not_assessed:
        sheet.row(["WARNING: incomplete data. Rules not assessed are NOT a pass; "
                   "see the Rules sheet for reasons."], xs.WARNING)
    sheet.row(["Data source", "Status", "Items", "Reason"], xs.HEADER)
    for c in result.coverage:
        sheet.row([cell_value(c.get("source")), cell_value(c.get("status")), cell_value(c.get("items")),
                   cell_value(c.get("reason"))])
    for text in result.run.errors:
        sheet.row(["Run error", cell_value(text)], [xs.BOLD, xs.NORMAL])
    sheet.close()


def _evidence_keys(findings: Iterable[Finding], limit: int = MAX_EVIDENCE_COLUMNS) -> list[str]:
    keys: dict[str, None] = {}
    for f in findings:
        for key in f.evidence or {}:
            if key not in keys:
                keys[key] = None
    return list(keys)[:limit]


def _evidence_cells(f: Finding, keys: list[str], key_set: frozenset[str]) -> tuple[list[Any], str]:
    """One cell per evidence key (numbers and dates stay typed), the rest as readable text."""
    evidence = f.evidence or {}
    cells: list[Any] = []
    for key in keys:
        raw = evidence.get(key)
        if raw is None or (isinstance(raw, int | float | datetime | date) and not isinstance(raw, bool)):
            cells.append(raw)
        else:
            cells.append(fmt_value(raw))
    if len(evidence) == sum(1 for k in evidence if k in key_set):
        return cells, ""
    other = {k: v for k, v in evidence.items() if k not in key_set}
    return cells, "; ".join(f"{k}: {v}" for k, v in flatten_evidence(other))


def _waiver(f: Finding) -> list[Any]:
    w = f.waiver or {}
    return [w.get("reason"), w.get("approved_by"), w.get("expires")]


def _first_seen(f: Finding) -> datetime | None:
    return f.first_seen


def _findings_sheet(
    wb: xs.Workbook, title: str, findings: list[Finding], *, reviewer: bool, with_rule: bool
) -> None:
    keys = _evidence_keys(findings)
    key_set = frozenset(keys)
    cols = []
    if with_rule:
        cols += [Col("Rule", 30), Col("Rule title", 36)]
    cols += [
        Col("Severity", 11, "severity"),
        Col("Entity type", 13),
        Col("Entity", 34),
        Col("Entity ID", 38),
        Col("Status", 9),
        Col("Change", 11),
        Col("First seen", 17),
    ]
    cols += [Col(key, 22) for key in keys]
    cols += [
        Col("Other evidence", 30),
        Col("Waiver reason", 28),
        Col("Waiver approved by", 22),
        Col("Waiver expires", 14),
    ]
    if reviewer:
        cols += [Col("Owner", 18), Col("Decision", 16), Col("Due date", 12), Col("Notes", 40)]
    sheet = _Sheet(wb, title, cols)
    for f in findings:
        evidence, other = _evidence_cells(f, keys, key_set)
        row: list[Any] = [f.rule_id, f.title] if with_rule else []
        row += [f.severity, f.entity_type, f.entity_name, f.entity_id, f.status, f.change, _first_seen(f)]
        row += [*evidence, other, *_waiver(f)]
        sheet.append(row)
    validations = []
    if reviewer and sheet.rows:
        last = sheet.rows + 1
        decision, due = sheet.column("Decision"), sheet.column("Due date")
        validations = [
            xs.Validation(f"{decision}2:{decision}{last}", "list", '"' + ",".join(DECISIONS) + '"',
                          error="Choose Accept risk, Remediate or False positive."),
            xs.Validation(f"{due}2:{due}{last}", "date", "1", operator="greaterThan", error="Enter a date."),
        ]
    sheet.finish(validations)


def _col(table: Any, name: str) -> Iterator[Any]:
    if name in table.columns:
        return iter(table[name].tolist())
    return iter([None] * len(table))


def _users_sheet(wb: xs.Workbook, view: ReportView) -> None:
    model = view.result.model
    cols = [
        Col("UPN", 34),
        Col("Display name", 26),
        Col("User type", 10),
        Col("Enabled", 9),
        Col("Classification", 18),
        Col("Service account signal", 24),
        Col("Admin roles", 34),
        Col("Role assignment", 20),
        Col("Privileged admin", 10),
        Col("Per-user MFA", 12),
        Col("MFA registered", 10),
        Col("Methods", 30),
        Col("Last sign-in", 17),
        Col("Mailbox", 9),
        Col("IMAP", 7),
        Col("POP", 7),
        Col("SMTP AUTH", 10),
        Col("SMTP AUTH source", 18),
        Col("Legacy sign-ins", 10),
        Col("Legacy protocols", 20),
        Col("Open findings", 10),
        Col("User ID", 38),
    ]
    sheet = _Sheet(wb, "Users", cols)
    users = getattr(model, "users", None)
    if users is not None and len(users):
        mailboxes: dict[str, tuple[Any, ...]] = {}
        mtable = getattr(model, "mailboxes", None)
        if mtable is not None and len(mtable):
            for uid, imap, pop, smtp, src in zip(
                _col(mtable, "user_id"),
                _col(mtable, "imap"),
                _col(mtable, "pop"),
                _col(mtable, "smtp_auth_enabled"),
                _col(mtable, "smtp_auth_source"),
                strict=True,
            ):
                if uid:
                    mailboxes[uid] = (imap, pop, smtp, src)
        legacy: dict[str, tuple[Any, Any]] = {}
        ltable = getattr(model, "legacy_sign_ins", None)
        if ltable is not None and len(ltable):
            for uid, count, protos in zip(
                _col(ltable, "user_id"), _col(ltable, "count"), _col(ltable, "protocols"), strict=True
            ):
                legacy[uid] = (count, protos)
        open_by_entity = Counter(f.entity_id for f in view.result.open_findings)
        names = [
            "id",
            "upn",
            "display_name",
            "user_type",
            "enabled",
            "is_admin",
            "is_service_account",
            "is_guest",
            "is_daily",
            "service_signal",
            "admin_roles",
            "role_assignment_kinds",
            "privileged_admin",
            "per_user_mfa",
            "mfa_registered",
            "methods",
            "last_sign_in",
            "has_mailbox",
        ]
        for (
            uid,
            upn,
            display,
            utype,
            enabled,
            is_admin,
            is_service,
            is_guest,
            is_daily,
            signal,
            roles,
            kinds,
            privileged,
            pum,
            registered,
            methods,
            last,
            has_mailbox,
        ) in zip(*(_col(users, n) for n in names), strict=True):
            classes = [
                name
                for name, on in (
                    ("admin", is_admin),
                    ("service account", is_service),
                    ("guest", is_guest),
                    ("daily", is_daily),
                )
                if on is True
            ]
            mbx = mailboxes.get(uid, (None, None, None, None))
            count, protos = legacy.get(uid, (None, None))
            sheet.append(
                [
                    upn,
                    display,
                    utype,
                    enabled,
                    ", ".join(classes),
                    signal,
                    roles,
                    kinds,
                    privileged,
                    pum,
                    registered,
                    methods,
                    last,
                    has_mailbox,
                    *mbx,
                    count,
                    protos,
                    open_by_entity.get(uid, 0),
                    uid,
                ]
            )
    sheet.finish()


def _table_sheet(wb: xs.Workbook, title: str, table: Any, spec: Sequence[tuple[str, Col]]) -> None:
    sheet = _Sheet(wb, title, [c for _n, c in spec])
    if table is not None and len(table):
        for row in zip(*(_col(table, name) for name, _c in spec), strict=True):
            sheet.append(list(row))
    sheet.finish()


def _rules_sheet(wb: xs.Workbook, view: ReportView) -> None:
    sheet = _Sheet(
        wb,
        "Rules",
        [
            Col("Rule", 32),
            Col("Title", 40),
            Col("Severity", 11, "severity"),
            Col("Status", 13),
            Col("Not assessed / disabled reason", 50),
            Col("Open findings", 10),
            Col("Waived", 8),
            Col("Data needed", 34),
            Col("Why it matters", 60, "wrap"),
            Col("Remediation", 60, "wrap"),
        ],
    )
    for s in view.rule_sections:
        o = s.outcome
        reason = o.reason or ("disabled in the configuration" if o.status == "disabled" else None)
        sheet.append(
            [
                o.id,
                o.title,
                o.severity,
                o.status,
                reason,
                len(s.open),
                len(s.waived),
                list(o.needs),
                o.rationale,
                o.remediation,
            ]
        )
    sheet.finish()


def _waivers_sheet(wb: xs.Workbook, view: ReportView) -> None:
    sheet = _Sheet(
        wb,
        "Waivers",
        [
            Col("State", 10),
            Col("Rule", 32),
            Col("Entity", 34),
            Col("Reason", 40),
            Col("Approved by", 24),
            Col("Expires", 12),
        ],
    )
    for s in view.rule_sections:
        for f in s.waived:
            w = f.waiver or {}
            sheet.append(
                ["active", f.rule_id, f.entity_name, w.get("reason"), w.get("approved_by"), w.get("expires")]
            )
    for w in view.result.expired_waivers:
        sheet.append(
            [
                "expired",
                w.get("rule"),
                w.get("entity"),
                w.get("reason"),
                w.get("approved_by"),
                w.get("expires"),
            ]
        )
    sheet.finish()


CA_COLUMNS = [
    ("name", Col("Policy", 34)),
    ("state", Col("State", 18)),
    ("requires_mfa", Col("Requires MFA", 10)),
    ("blocks_legacy", Col("Blocks legacy auth", 10)),
    ("all_users", Col("All users", 9)),
    ("all_apps", Col("All apps", 9)),
    ("include_users", Col("Include users", 24)),
    ("include_groups", Col("Include groups", 24)),
    ("include_roles", Col("Include roles", 24)),
    ("exclude_users", Col("Exclude users", 24)),
    ("exclude_groups", Col("Exclude groups", 24)),
    ("exclude_roles", Col("Exclude roles", 24)),
    ("include_locations", Col("Include locations", 22)),
    ("exclude_locations", Col("Exclude locations", 22)),
    ("client_app_types", Col("Client app types", 22)),
    ("grant_controls", Col("Grant controls", 18)),
    ("authentication_strength", Col("Authentication strength", 22)),
    ("id", Col("Policy ID", 38)),
]
IP_COLUMNS = [
    ("origin", Col("Origin", 20)),
    ("location_name", Col("Named location", 30)),
    ("cidr", Col("Range", 22)),
    ("is_trusted", Col("Trusted", 9)),
    ("version", Col("IP version", 9)),
    ("prefixlen", Col("Prefix length", 9)),
    ("location_id", Col("Location ID", 38)),
]


def write_workbook(result: AuditResult, handle: Any) -> None:
    """Stream the workbook to an open binary file."""
    view = build_view(result)
    wb = xs.Workbook(handle, dxf_colours=list(SEVERITY_FILLS.values()))
    _summary(wb, view)
    ordered = view.open_sorted() + sorted(
        (f for f in result.findings if f.status == "waived"), key=finding_sort_key
    )
    _findings_sheet(wb, "Findings", ordered, reviewer=True, with_rule=True)
    del ordered
    sections = {s.id: s for s in view.rule_sections}
    for headline in result.headlines:
        for rid in headline.rule_ids:
            section = sections.get(rid)
            if section is None or not section.outcome.sheet:
                continue
            _findings_sheet(wb, section.outcome.sheet, section.open + section.waived, reviewer=False, with_rule=False)
    _users_sheet(wb, view)
    model = result.model
    _table_sheet(wb, "Conditional Access", getattr(model, "ca_policies", None), CA_COLUMNS)
    _table_sheet(wb, "Named locations & trusted IPs", getattr(model, "ip_ranges", None), IP_COLUMNS)
    _rules_sheet(wb, view)
    _waivers_sheet(wb, view)
    wb.close()


def render_xlsx(result: AuditResult, path: Path) -> Path:
    """Write report.xlsx atomically (mode 0600) and return its path."""
    with atomic_output(Path(path), "wb") as handle:
        write_workbook(result, handle)
    return Path(path)
