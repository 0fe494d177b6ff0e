"""SVG charts drawn by hand (no scripts, no CDN): they scale with the page and work offline (pure).

Every chart is an `<svg role="img">` with a `<title>` and a `<desc>` that says in words what the
lines show, so a screen reader gets the story without the picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from flock_subnet.leaderboard.model import RoundPoint

WIDE, NARROW = (720, 300), (400, 320)  # desktop and phone sizes, in SVG units (about 13 units a letter)
LEFT, RIGHT, BOTTOM = 64, 20, 46
LEGEND_LINE = 20
LEADER_COLOR = "#1d4ed8"
BEST_COLOR = "#4b5563"
MARK_COLOR = "#b45309"
OWN_COLOR = "#047857"
GRID_COLOR = "#e5e7eb"
TEXT_COLOR = "#1f2937"


@dataclass(frozen=True)
class Series:
    """One line: (x, y) points in data units; `step` draws it as a staircase (a value holds until the next)."""

    name: str
    points: Sequence[tuple[float, float]]
    color: str
    dashed: bool = False
    step: bool = False


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    """What to draw; `chart_id` keeps the title and description ids unique on the page."""

    chart_id: str
    title: str
    description: str
    x_label: str
    y_label: str
    series: Sequence[Series]
    markers: Sequence[Marker] = field(default_factory=tuple)
    size: tuple[int, int] = WIDE


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round numbers (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _fmt_tick(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 2
    return f"{value:,.{min(decimals, 6)}f}"


def draw(chart: Chart) -> str:
    """The chart as an SVG element."""
    width, height = chart.size
    legend, legend_lines = _legend(chart, width)
    top = 16 + LEGEND_LINE * legend_lines
    xs = [x for s in chart.series for x, _ in s.points] + [m.x for m in chart.markers]
    ys = [y for s in chart.series for _, y in s.points] + [m.y for m in chart.markers]
    title_id, desc_id = f"{chart.chart_id}-title", f"{chart.chart_id}-desc"
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="{title_id} {desc_id}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" '
        f'font-size="13" fill="{TEXT_COLOR}">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(chart.description)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if not xs:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no rounds yet</text></svg>')
        return "".join(parts)
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_low, y_high = min(ys), max(ys)
    pad = (y_high - y_low) * 0.12 or max(abs(y_high) * 0.05, 0.05)
    y_low, y_high = max(0.0, y_low - pad), y_high + pad
    plot_w, plot_h = width - LEFT - RIGHT, height - top - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y_low) / (y_high - y_low)) * plot_h

    y_ticks = nice_ticks(y_low, y_high)
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    for tick in y_ticks:
        y = py(tick)
        parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOR}"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt_tick(tick, y_step)}</text>')
    x_ticks = nice_ticks(x_low, x_high, 6 if width >= 600 else 4)
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    for tick in x_ticks:
        x = px(tick)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height - BOTTOM}" y2="{height - BOTTOM + 5}" stroke="{TEXT_COLOR}"/>')
        label = _fmt_tick(tick, max(x_step, 1))
        parts.append(f'<text x="{x:.1f}" y="{height - BOTTOM + 19}" text-anchor="middle">{label}</text>')
    parts.append(
        f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{height - BOTTOM}" y2="{height - BOTTOM}" stroke="{TEXT_COLOR}"/>'
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{top}" y2="{height - BOTTOM}" stroke="{TEXT_COLOR}"/>'
        f'<text x="{LEFT + plot_w / 2}" y="{height - 8}" text-anchor="middle">{escape(chart.x_label)}</text>'
        f'<text transform="translate(16 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">{escape(chart.y_label)}</text>'
    )
    for series in chart.series:
        parts.append(_line(series, px, py))
    for marker in chart.markers:
        x, y = px(marker.x), py(marker.y)
        anchor = "start" if x < LEFT + 40 else "end" if x > width - RIGHT - 40 else "middle"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{MARK_COLOR}" stroke="#ffffff" stroke-width="2"/>'
            f'<text x="{x:.1f}" y="{y - 11:.1f}" text-anchor="{anchor}" font-weight="600" fill="{MARK_COLOR}" '
            f'paint-order="stroke" stroke="#ffffff" stroke-width="4">{escape(marker.label)}</text>'
        )
    parts.append(legend)
    parts.append("</svg>")
    return "".join(parts)


def _line(series: Series, px: object, py: object) -> str:
    points = sorted(series.points)
    if not points:
        return ""
    coords: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(points):
        if series.step and i > 0:
            coords.append((px(x), coords[-1][1]))  # type: ignore[operator]
        coords.append((px(x), py(y)))  # type: ignore[operator]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dash = ' stroke-dasharray="6 5"' if series.dashed else ""
    dots = "".join(
        f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{series.color}"/>'  # type: ignore[operator]
        for x, y in points
    ) if len(points) <= 60 else ""
    return (f'<polyline points="{path}" fill="none" stroke="{series.color}" stroke-width="2.5" '
            f'stroke-linejoin="round"{dash}/>{dots}')


def _legend(chart: Chart, width: int) -> tuple[str, int]:
    """The legend above the plot, wrapped onto as many lines as the width needs; (svg, lines)."""
    items = [(s.name, s.color, s.dashed) for s in chart.series]
    if chart.markers:
        items.append(("new leader", MARK_COLOR, None))
    parts, x, line = [], LEFT, 0
    for name, color, dashed in items:
        item_width = 26 + 7.5 * len(name) + 22
        if x > LEFT and x + item_width > width - RIGHT:
            x, line = LEFT, line + 1
        y = 18 + line * LEGEND_LINE
        if dashed is None:
            parts.append(f'<circle cx="{x + 9}" cy="{y}" r="6" fill="{color}"/>')
        else:
            dash = ' stroke-dasharray="6 5"' if dashed else ""
            parts.append(f'<line x1="{x}" x2="{x + 20}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2.5"{dash}/>')
        parts.append(f'<text x="{x + 26}" y="{y + 4}">{escape(name)}</text>')
        x += item_width
    return f'<g aria-hidden="true">{"".join(parts)}</g>', line + 1


def leader_chart(chart_id: str, competition_id: str, points: Sequence[RoundPoint], size: tuple[int, int] = WIDE) -> str:
    """The competition's leading loss over rounds, each new leader marked with its uid."""
    leader = [(p.round_block, p.leader_loss) for p in points if p.leader_loss is not None]
    best = [(p.round_block, p.best_loss) for p in points if p.best_loss is not None]
    changes = [p for p in points if p.new_leader and p.leader_loss is not None]
    markers = [Marker(p.round_block, p.leader_loss, f"uid {p.leader_uid}") for p in changes]  # type: ignore[arg-type]
    if leader:
        story = (
            f"Over {len(points)} rounds from block {points[0].round_block:,} to {points[-1].round_block:,} the leader's "
            f"loss went from {leader[0][1]:.4f} to {leader[-1][1]:.4f}. New leaders: "
            + "; ".join(f"uid {p.leader_uid} at round {p.round_block:,} (loss {p.leader_loss:.4f})" for p in changes)
            + "."
        )
    else:
        story = "No round has a leader yet."
    series = [Series("leader's loss", leader, LEADER_COLOR, step=True)]
    if best != leader:
        series.append(Series("lowest loss of the round", best, BEST_COLOR, dashed=True))
    return draw(Chart(
        chart_id=chart_id,
        title=f"Best loss over rounds in competition {competition_id}",
        description=story,
        x_label="round (start block)",
        y_label="loss (lower is better)",
        series=series,
        markers=markers,
        size=size,
    ))


def miner_chart(
    chart_id: str, uid: int, own: Sequence[tuple[int, float]], leader: Sequence[RoundPoint], size: tuple[int, int] = WIDE
) -> str:
    """One miner's loss per round against the round leader's."""
    leading = [(p.round_block, p.leader_loss) for p in leader if p.leader_loss is not None]
    story = (
        f"uid {uid}'s loss in {len(own)} rounds"
        + (f", from {own[0][1]:.4f} to {own[-1][1]:.4f}" if own else "")
        + (f"; the leader's loss ended at {leading[-1][1]:.4f}." if leading else ".")
    )
    return draw(Chart(
        chart_id=chart_id,
        title=f"uid {uid}'s loss per round",
        description=story,
        x_label="round (start block)",
        y_label="loss (lower is better)",
        series=[Series(f"uid {uid}", list(own), OWN_COLOR), Series("leader", leading, LEADER_COLOR, dashed=True, step=True)],
        size=size,
    ))
