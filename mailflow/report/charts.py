"""The report's three charts as inline SVG: bars for types, a line for weekly intake, a histogram of time to plan.

A few dozen lines of SVG each, so no charting library is needed. Every chart
has a stable id (``chart-types``, ``chart-intake``, ``chart-plan``), a
``<title>`` and an aria-label, so screen readers and tests can find it; an
empty month still draws the axes, with a "无数据 / no data" note. Every text
placed is escaped here: it may be a customer's name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from mailflow.report.model import Report
from mailflow.report.render import label

NO_DATA = "无数据 / no data"
INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
ACCENT, ACCENT_2, ACCENT_3 = "#2563eb", "#0d9488", "#60a5fa"  # types, intake, time to plan


def type_chart(report: Report) -> Markup:
    """Horizontal bars: requirements by type."""
    rows = [(label("by_type", key), count) for key, count in report.by_type]
    left, right, top, row_h = 160, 40, 12, 34
    width = 520
    plot = width - left - right
    height = top + max(len(rows), 1) * row_h + 36
    ticks = nice_ticks(max((n for _, n in rows), default=0))
    scale = plot / ticks[-1]
    parts = _grid_x(ticks, left, scale, top, height - 30)
    for index, (name, count) in enumerate(rows):
        y = top + index * row_h
        parts.append(_text(left - 8, y + row_h / 2 + 4, name, anchor="end", size=13))
        if count:
            parts.append(f'<rect x="{left}" y="{y + 6}" width="{count * scale:.1f}" height="{row_h - 12}" '
                         f'rx="3" fill="{ACCENT}"/>')
        if report.total:
            parts.append(_text(left + count * scale + 6, y + row_h / 2 + 4, str(count), weight="600", size=13))
    parts.append(_line(left, top, left, height - 30, INK))
    summary = ", ".join(f"{name} {count}" for name, count in rows) or NO_DATA
    return _svg("chart-types", "按类型 / Requirements by type", summary, width, height, parts,
                empty=report.total == 0, centre=(left + width - right) / 2)


def intake_chart(report: Report) -> Markup:
    """A line: requirements submitted per ISO week of the month."""
    weeks = report.weekly_intake
    left, right, top, bottom = 52, 24, 24, 54
    width, height = 1040, 280
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max((w.count for w in weeks), default=0))
    slot = plot_w / max(len(weeks), 1)  # each week centred in its slot, clear of the axis
    parts = _grid_y(ticks, left, width - right, top, plot_h)
    points = []
    for index, week in enumerate(weeks):
        x = left + (index + 0.5) * slot
        y = top + plot_h - week.count / ticks[-1] * plot_h
        points.append((x, y, week.count))
        parts.append(_text(x, height - bottom + 18, week.week.split("-")[1], anchor="middle"))
        parts.append(_text(x, height - bottom + 33, week.start.strftime("%m-%d"), anchor="middle",
                           fill=MUTED, size=11))
    parts.append(_line(left, top + plot_h, width - right, top + plot_h, INK))
    parts.append(_line(left, top, left, top + plot_h, INK))
    if points and report.total:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{ACCENT_2}" stroke-width="2.5" '
                     'stroke-linejoin="round" stroke-linecap="round"/>')
        for x, y, count in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#fff" stroke="{ACCENT_2}" '
                         'stroke-width="2"/>')
            parts.append(_text(x, y - 9, str(count), anchor="middle", fill=INK, weight="600"))
    parts.append(_text(left, height - 4, "ISO 周（周一起）/ ISO week, Monday start", fill=MUTED, size=11))
    summary = ", ".join(f"{w.week} {w.count}" for w in weeks) or NO_DATA
    return _svg("chart-intake", "每周新增 / Weekly intake", summary, width, height, parts,
                empty=report.total == 0, centre=(left + width - right) / 2)


def plan_chart(report: Report) -> Markup:
    """A histogram: working hours to the first plan."""
    buckets = report.plan_histogram
    left, right, top, bottom = 44, 12, 22, 54
    width, height = 520, 260
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max((b.count for b in buckets), default=0))
    slot = plot_w / max(len(buckets), 1)
    parts = _grid_y(ticks, left, width - right, top, plot_h)
    for index, bucket in enumerate(buckets):
        x = left + index * slot
        bar = bucket.count / ticks[-1] * plot_h
        if bucket.count:
            parts.append(f'<rect x="{x + 3:.1f}" y="{top + plot_h - bar:.1f}" width="{slot - 6:.1f}" '
                         f'height="{bar:.1f}" rx="2" fill="{ACCENT_3}"/>')
            parts.append(_text(x + slot / 2, top + plot_h - bar - 6, str(bucket.count), anchor="middle",
                               fill=INK, weight="600"))
        parts.append(_text(x + slot / 2, top + plot_h + 18, bucket.label, anchor="middle"))
    parts.append(_line(left, top + plot_h, width - right, top + plot_h, INK))
    parts.append(_line(left, top, left, top + plot_h, INK))
    parts.append(_text(left, height - 4, "工作小时 / working hours", fill=MUTED, size=11))
    summary = ", ".join(f"{b.label} h: {b.count}" for b in buckets)
    return _svg("chart-plan", "给出计划用时 / Time to plan", summary, width, height, parts,
                empty=report.plan.n == 0, centre=(left + width - right) / 2)


def nice_ticks(maximum: float) -> list[float]:
    """0 up to a round number at or above ``maximum``, in 1/2/5 x 10^k steps, at most 6 ticks."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / 5
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    count = math.ceil(maximum / step)
    return [i * step for i in range(count + 1)]


def _grid_x(ticks: Sequence[float], left: float, scale: float, top: float, bottom: float) -> list[str]:
    parts = []
    for tick in ticks:
        x = left + tick * scale
        parts.append(_line(x, top, x, bottom, GRID))
        parts.append(_text(x, bottom + 16, _tick(tick), anchor="middle", fill=MUTED, size=12))
    return parts


def _grid_y(ticks: Sequence[float], left: float, right: float, top: float, plot_h: float) -> list[str]:
    parts = []
    for tick in ticks:
        y = top + plot_h - tick / ticks[-1] * plot_h
        parts.append(_line(left, y, right, y, GRID))
        parts.append(_text(left - 8, y + 4, _tick(tick), anchor="end", fill=MUTED, size=12))
    return parts


def _svg(chart_id: str, title: str, summary: str, width: int, height: int, parts: list[str],
         empty: bool, centre: float) -> Markup:
    """The chart's frame; an empty chart keeps its axes and says so in the middle of its plot."""
    if empty:
        parts = parts + [f'<rect x="{centre - 90:.1f}" y="{height / 2 - 20:.1f}" width="180" height="34" rx="6" '
                         f'fill="#fff" stroke="{GRID}"/>',
                         _text(centre, height / 2 + 2, NO_DATA, anchor="middle", fill=MUTED, size=14)]
    return Markup(
        f'<svg id="{chart_id}" class="chart" role="img" aria-label="{escape(f"{title}: {summary}")}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f"<title>{escape(title)}</title><desc>{escape(summary)}</desc>" + "".join(parts) + "</svg>")


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = INK, size: int = 12,
          weight: str = "400") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str) -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
            'stroke-width="1"/>')


def _tick(value: float) -> str:
    return f"{value:g}"
