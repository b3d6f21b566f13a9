"""The bar charts of report.html as plain geometry (the template draws them as inline SVG, no script).

Counts in one tenant span five orders of magnitude (26 critical next to 73,327 medium), so a chart whose
smallest non-zero bar would be under a twentieth of its largest uses a logarithmic scale — bar length
proportional to log10(1 + count), grid lines at 1, 10, 100, … — and says so on the chart; otherwise it is
linear. Every rule with open findings gets a bar; rules without any are listed under the chart, not drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from auditor.findings import SEVERITIES, SEVERITY_RANK
from auditor.render.context import ReportContext

LOG_RATIO = 20  # largest / smallest non-zero count above which the scale turns logarithmic
CHAR_PX = 7.0  # a 12px label character, generously
ROW = 22
TOP = 44  # title and scale note above the first bar
AXIS = 22  # tick labels below the last bar
VALUE_PX = 70  # room right of the longest bar for its count


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    sev: str
    length: float  # pixels
    title: str = ""  # full text for the tooltip and the data table
    href: str = ""


@dataclass(frozen=True)
class Tick:
    value: int
    x: float  # pixels from the start of the plot area


@dataclass
class BarChart:
    title: str
    bars: list[Bar]
    log: bool
    ticks: list[Tick]
    width: int
    label_width: int
    plot_width: int
    heading: str = "Rule"  # the label column of the data table
    empty: str = "No open findings."
    without: list[str] = field(default_factory=list)  # assessed rules with no open findings (not drawn)

    @property
    def height(self) -> int:
        return TOP + ROW * max(1, len(self.bars)) + AXIS

    @property
    def axis_y(self) -> int:
        return TOP + ROW * max(1, len(self.bars))

    @property
    def scale_note(self) -> str:
        if self.log:
            return "Logarithmic scale: each grid line is ten times the one before; the numbers are exact."
        return "Linear scale."


def _nice_step(top: int) -> int:
    """A round grid step that splits 0..top into about four parts."""
    raw = max(1.0, top / 4)
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _scale(values: list[int], plot: int) -> tuple[bool, list[Tick], float]:
    """Whether the scale is logarithmic, its ticks, and the length of a bar per count (via ``_length``)."""
    biggest = max(values, default=0)
    smallest = min((v for v in values if v > 0), default=0)
    log = smallest > 0 and biggest / smallest > LOG_RATIO
    if log:
        top = 10 ** math.ceil(math.log10(biggest))
        span = math.log10(1 + top)
        ticks = [Tick(10**k, round(math.log10(1 + 10**k) / span * plot, 1)) for k in range(int(math.log10(top)) + 1)]
        return True, ticks, span
    step = _nice_step(biggest)
    top = max(step, math.ceil(biggest / step) * step) if biggest else 1
    ticks = [Tick(v, round(v / top * plot, 1)) for v in range(0, top + 1, step)] if biggest else []
    return False, ticks, float(top)


def _length(value: int, log: bool, span: float, plot: int) -> float:
    if value <= 0:
        return 0.0
    share = math.log10(1 + value) / span if log else value / span
    return round(share * plot, 1)


def bar_chart(
    title: str,
    rows: list[tuple[str, int, str, str, str]],
    width: int,
    *,
    heading: str = "Rule",
    without: list[str] | None = None,
) -> BarChart:
    """A chart of ``rows`` (label, count, severity, tooltip, link) in the given order, ``width`` pixels wide."""
    label_width = int(min(300, max(60, CHAR_PX * max((len(r[0]) for r in rows), default=0) + 12)))
    plot = max(100, width - label_width - VALUE_PX)
    log, ticks, span = _scale([r[1] for r in rows], plot)
    bars = [Bar(label, n, sev, _length(n, log, span, plot), tip, href) for label, n, sev, tip, href in rows]
    return BarChart(title, bars, log, ticks, width, label_width, plot, heading=heading, without=without or [])


def report_charts(view: ReportContext) -> dict[str, BarChart]:
    """Open findings by severity (every severity, zeros included) and by rule (every rule with open findings,
    worst severity first, then most findings; rules without open findings listed, not drawn)."""
    severity = bar_chart(
        "Open findings by severity",
        [(s, view.counts[s], s, f"{view.counts[s]:,} open {s}", "") for s in SEVERITIES],
        460,
        heading="Severity",
    )
    titles = {s.id: s.outcome.title for s in view.rule_sections}
    worst = {s.id: s.worst for s in view.rule_sections}
    order = sorted(view.by_rule, key=lambda r: (-SEVERITY_RANK.get(worst.get(r[0], "info"), 0), -r[2], r[0]))
    rows = [
        (rid, n, worst.get(rid, "info"), f"{rid}: {titles.get(rid, title)} ({n:,} open)", f"#rule-{rid}")
        for rid, title, n in order
    ]
    quiet = [s.id for s in view.rule_sections if s.outcome.status == "assessed" and not s.open]
    return {"severity": severity, "rules": bar_chart("Open findings by rule", rows, 760, without=quiet)}
