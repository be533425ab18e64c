"""Charts drawn on the server as SVG: no script, no CDN, readable on a phone (the SVG scales to
the width it is given; its text stays a readable size down to 320 px).

One chart: decision times of one role over time, a point per request: a filled dot for an
incident, a ring for a drill, so rehearsals and real incidents read side by side. Each point
carries a <title> (service, request, minutes), which browsers show on hover and screen
readers read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 320, 170
LEFT, RIGHT, TOP, BOTTOM = 34, 10, 10, 26  # room for the axes' labels
# Presentation attributes, not a stylesheet: the page's CSP allows no inline style, and the
# chart then needs nothing but itself (a saved copy, a printout).
INCIDENT_MARK = mark_safe('fill="#b3261e"')
DRILL_MARK = mark_safe('fill="none" stroke="#1d5fa8" stroke-width="2"')
AXIS = mark_safe('stroke="#8a8a8a" stroke-width="1"')
TICK = mark_safe('font-size="10" fill="#555"')


@dataclass(frozen=True)
class Point:
    at: datetime
    seconds: float
    drill: bool
    label: str  # "checkout #12"


def _nice_ceiling(minutes: float) -> int:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 1440):
        if minutes <= step:
            return step
    return int(minutes) + 1


def decision_chart(
    points: Sequence[Point], start: datetime, end: datetime, title: str
) -> SafeString:
    """An SVG of `points` between `start` and `end` (minutes up, time across)."""
    top = _nice_ceiling(max((p.seconds for p in points), default=60) / 60)
    span = max((end - start).total_seconds(), 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return round(LEFT + plot_w * min(max((at - start).total_seconds() / span, 0), 1), 1)

    def y(seconds: float) -> float:
        return round(TOP + plot_h * (1 - min(seconds / 60 / top, 1)), 1)

    marks = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="4" class="{}" {}><title>{}: {} min ({})</title></circle>',
        (
            (
                x(p.at),
                y(p.seconds),
                "drill" if p.drill else "incident",
                DRILL_MARK if p.drill else INCIDENT_MARK,
                p.label,
                f"{p.seconds / 60:.1f}",
                "drill" if p.drill else "incident",
            )
            for p in points
        ),
    )
    axes = format_html(
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" {axis}/>'
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" {axis}/>'
        '<text x="{lx}" y="{ty}" {tick} text-anchor="end">{top}m</text>'
        '<text x="{lx}" y="{by}" {tick} text-anchor="end">0</text>'
        '<text x="{l}" y="{dy}" {tick}>{first}</text>'
        '<text x="{r}" y="{dy}" {tick} text-anchor="end">{last}</text>',
        axis=AXIS,
        tick=TICK,
        l=LEFT,
        r=WIDTH - RIGHT,
        t=TOP,
        b=HEIGHT - BOTTOM,
        lx=LEFT - 4,
        ty=TOP + 4,
        by=HEIGHT - BOTTOM,
        dy=HEIGHT - 8,
        top=top,
        first=start.strftime("%d %b"),
        last=end.strftime("%d %b"),
    )
    empty = (
        format_html(
            '<text x="{}" y="{}" {} text-anchor="middle">{}</text>',
            LEFT + plot_w / 2,
            TOP + plot_h / 2,
            TICK,
            "no decisions in this window",
        )
        if not points
        else mark_safe("")
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
        'preserveAspectRatio="xMidYMid meet">{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        axes,
        marks,
        empty,
    )
