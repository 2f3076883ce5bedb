"""Bar charts drawn on the server as inline SVG (no script, no CDN), escaped like any template text.

Each chart is a ``<svg role="img">`` with a title and a one-sentence description; the page puts the
same numbers in a table beside it, for screen readers and for anyone who wants the figures.
"""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 44


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]
    css: str  # the class that colours its bars (app.css: .chart .s1, .s2)


def _nice_max(value: float) -> float:
    """A round top for the axis at or above ``value`` (1, 2, 5 × a power of ten)."""
    if value <= 0:
        return 1
    step = 1.0
    while step * 10 <= value:
        step *= 10
    while step > value * 10:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _number(value: float) -> str:
    return f"{value:g}"


def bars(title: str, description: str, labels: list[str], series: list[Series], unit: str = "") -> Markup:
    """Grouped vertical bars: one group per label, one bar per series (a missing value draws no bar)."""
    values = [v for s in series for v in s.values if v is not None]
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group = plot_w / max(1, len(labels))
    bar = group * 0.8 / max(1, len(series))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{_id(title)}-t {_id(title)}-d"'
        ' preserveAspectRatio="xMidYMid meet">',
        f'<title id="{_id(title)}-t">{escape(title)}</title><desc id="{_id(title)}-d">{escape(description)}</desc>',
    ]
    for tick in (0, top / 2, top):  # the value axis: three gridlines
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(_number(tick))}{escape(unit)}</text>')
    for i, label in enumerate(labels):
        x0 = LEFT + group * i + group * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            h = plot_h * value / top
            x, y = x0 + bar * j, TOP + plot_h - h
            parts.append(f'<rect class="{escape(s.css)}" x="{x:.1f}" y="{y:.1f}" width="{bar * 0.92:.1f}" '
                         f'height="{h:.1f}"><title>{escape(label)}, {escape(s.name)}: '
                         f'{escape(_number(value))}{escape(unit)}</title></rect>')
        if len(labels) <= 14 or i % 2 == 0:
            parts.append(f'<text class="label" x="{LEFT + group * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    if len(series) > 1:  # the legend
        x = LEFT
        for s in series:
            parts.append(f'<rect class="{escape(s.css)}" x="{x}" y="{HEIGHT - 14}" width="10" height="10"/>'
                         f'<text class="legend" x="{x + 14}" y="{HEIGHT - 5}">{escape(s.name)}</text>')
            x += 14 + 8 * len(s.name) + 20
    parts.append("</svg>")
    return Markup("".join(parts))


def _id(title: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
