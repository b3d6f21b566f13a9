"""The trend of open findings per severity over the tenant's last runs, as plain values for the templates.

``Trend.points`` are the runs oldest first, the report's own run last (``current``). ``Trend.chart()`` lays
them out for the inline SVG of ``reports/templates/_trend.html.j2``: only numbers, colours and short date
labels, so the template escapes whatever it prints and needs no arithmetic. Runs are spaced evenly (the
audits run on a schedule; a missed week does not stretch the axis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.findings import SEVERITIES
from auditor.history.trend import TrendPoint

COLORS = {"critical": "#7b1020", "high": "#c0392b", "medium": "#d68910", "low": "#2e86c1", "info": "#717d7e"}
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 14, 46  # plot margins: y labels left, x labels and legend below
MAX_X_LABELS = 7


@dataclass
class Trend:
    """The series the report shows; ``runs`` is the configured length (``reports.trend_runs``)."""

    points: list[TrendPoint]
    runs: int

    @property
    def has_trend(self) -> bool:
        return len(self.points) >= 2

    @property
    def rows(self) -> list[TrendPoint]:
        """The table: newest first."""
        return list(reversed(self.points))

    def chart(self) -> dict[str, Any]:
        return trend_chart(self.points)


def nice_ceiling(value: int) -> int:
    """The y axis top: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if value <= step * factor:
                return step * factor
        step *= 10


@dataclass
class _Series:
    severity: str
    color: str
    path: str
    dots: list[dict[str, Any]] = field(default_factory=list)


def trend_chart(points: list[TrendPoint]) -> dict[str, Any]:
    """Coordinates of the trend chart: one polyline and one dot per run for every severity, y grid lines,
    x labels (a date per run, thinned to ``MAX_X_LABELS``) and the legend."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_ceiling(max((p.open.get(s, 0) for p in points for s in SEVERITIES), default=0))
    step_x = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return round(LEFT + i * step_x, 1)

    def y(v: int) -> float:
        return round(TOP + plot_h - v / top * plot_h, 1)

    series = []
    for sev in SEVERITIES:
        s = _Series(sev, COLORS[sev], "")
        coords = []
        for i, p in enumerate(points):
            value = p.open.get(sev, 0)
            coords.append(f"{x(i)},{y(value)}")
            s.dots.append(
                {
                    "x": x(i),
                    "y": y(value),
                    "value": value,
                    "day": p.started.strftime("%Y-%m-%d"),
                    "hollow": p.status != "complete",
                }
            )
        s.path = " ".join(coords)
        series.append(s)
    every = max(1, -(-len(points) // MAX_X_LABELS))
    labels = [
        {"x": x(i), "text": p.started.strftime("%m-%d")}
        for i, p in enumerate(points)
        if i % every == 0 or i == len(points) - 1
    ]
    grid = [{"y": y(v), "value": v} for v in sorted({0, top // 2, top}) if v or top]
    legend = [{"x": LEFT + i * 110, "severity": sev, "color": COLORS[sev]} for i, sev in enumerate(SEVERITIES)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "axis_y": HEIGHT - BOTTOM,
        "label_y": HEIGHT - BOTTOM + 16,
        "legend_y": HEIGHT - 10,
        "series": series,
        "labels": labels,
        "grid": grid,
        "legend": legend,
    }
