"""Pictures for the report, as hand-written SVG: the RTO timeline and the RPO gap per source.

Drawn only from data that exists: the timeline needs the incident start and at least one later
event; the RPO chart needs OBJ-RPO's measured gap (a duration, or one duration per source).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import escape
from typing import Any

from ..evidence import precise_duration
from ..timeparse import isoformat, parse_instant
from .scorecard import seconds_of

RTO_EVENTS = (
    ("start", "incident start"),
    ("failover_at", "failover"),
    ("dns_switched_at", "DNS switch"),
    ("first_green_health", "first green health"),
    ("validated", "validated"),
)
FONT = "font-family='DejaVu Sans, Arial, sans-serif' font-size='12'"


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    try:
        return parse_instant(str(value))
    except (ValueError, TypeError):
        return None


def rto_events(incident: dict[str, Any]) -> list[tuple[str, datetime]]:
    """(label, instant) for each known event, in plan order; [] without the incident start."""
    start = _instant(incident.get("start"))
    if start is None:
        return []
    events = []
    for key, label in RTO_EVENTS:
        when = _instant(incident.get(key))
        if when is not None:
            events.append((label, when))
    return events if len(events) >= 2 else []


CHAR_W = 7.2  # average advance of a 12 px DejaVu Sans character: enough to keep labels inside the picture
READABLE_RATIO = 4  # the RTO shares the axis with the measured span while it is at most this many times longer


def text_width(text: str, size: float = 12) -> float:
    """A generous estimate of a label's width in pixels (used to keep every label inside the picture)."""
    return len(text) * CHAR_W * size / 12


def _label_x(x: float, text: str, width: float, margin: float = 6) -> tuple[float, str]:
    """Where a label anchored at ``x`` starts and how it is anchored, so that it stays inside ``width``."""
    w = text_width(text)
    if x + w <= width - margin:
        return x, "start"
    if x - w >= margin:
        return x, "end"
    return margin, "start"


def rto_timeline_svg(incident: dict[str, Any], rto: timedelta | None, title: str = "RTO timeline") -> str | None:
    """The measured recovery at a readable scale: every event labelled on its own row, the RTO
    objective on the axis when it is comparable, else marked beyond a break with the share used."""
    events = rto_events(incident)
    if not events:
        return None
    start = events[0][1]
    offsets = [(label, max((when - start).total_seconds(), 0.0)) for label, when in events]
    measured = max(o for _, o in offsets)
    rto_s = rto.total_seconds() if rto else None
    width, left = 860, 40
    rto_on_axis = rto_s is not None and rto_s <= READABLE_RATIO * max(measured, 1.0)
    right = 40 if rto_s is None or rto_on_axis else 170  # room for the break and the off-scale RTO marker
    axis_end = max(measured, (rto_s if rto_on_axis else 0.0), 1.0) * 1.05
    axis_y = 96
    rows_top = axis_y + 40
    height = rows_top + 22 * len(offsets) + 16
    scale = (width - left - right) / axis_end

    def x(seconds: float) -> float:
        return round(left + seconds * scale, 1)

    header = f"incident start {isoformat(start)}; measured {precise_duration(measured)}"
    if rto_s:
        share = measured / rto_s * 100
        header += f" of the {precise_duration(rto_s)} RTO ({share:.1f} %)" if share < 1000 else \
            f" against the {precise_duration(rto_s)} RTO"
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT}>",
        f"<title>{escape(title)}</title>",
        "<rect width='100%' height='100%' fill='white'/>",
        f"<text x='{left}' y='24' font-size='16' font-weight='bold'>{escape(title)}</text>",
        f"<text x='{left}' y='44' fill='#555'>{escape(header)}</text>",
        f"<line x1='{left}' y1='{axis_y}' x2='{width - right}' y2='{axis_y}' stroke='#333' stroke-width='2'/>",
    ]
    ticks = (0.0, axis_end / 2, axis_end) if axis_end >= 4 else (0.0, axis_end)
    for tick in ticks:  # the axis says what it spans
        tick_label = "0" if tick == 0 else f"+{precise_duration(round(tick))}"
        anchor = "middle" if 0 < tick < axis_end else ("start" if tick == 0 else "end")
        parts.append(f"<line x1='{x(tick)}' y1='{axis_y - 4}' x2='{x(tick)}' y2='{axis_y + 4}' stroke='#333'/>")
        parts.append(f"<text x='{x(tick)}' y='{axis_y - 18}' text-anchor='{anchor}' fill='#777' font-size='10'>"
                     f"{escape(tick_label)}</text>")
    if rto_s:
        within = measured <= rto_s
        fill = "#d9f2d9" if within else "#f8d7da"
        if rto_on_axis:
            parts.append(f"<rect x='{left}' y='{axis_y - 14}' width='{x(rto_s) - left}' height='28' fill='{fill}' opacity='0.6'/>")
            parts.append(f"<line x1='{x(rto_s)}' y1='{axis_y - 30}' x2='{x(rto_s)}' y2='{axis_y + 10}' "
                         "stroke='#c0392b' stroke-dasharray='5,3' stroke-width='2'/>")
            label = f"RTO {precise_duration(rto_s)}"
            lx, anchor = _label_x(x(rto_s), label, width)
            parts.append(f"<text x='{lx}' y='{axis_y - 34}' text-anchor='{anchor}' fill='#c0392b'>{escape(label)}</text>")
        else:  # far longer than the recovery: a break in the axis, then the objective
            bx = width - right
            parts.append(f"<rect x='{left}' y='{axis_y - 14}' width='{bx - left}' height='28' fill='{fill}' opacity='0.6'/>")
            parts.append(f"<path d='M{bx + 8} {axis_y - 10} l-6 20 M{bx + 16} {axis_y - 10} l-6 20' stroke='#333'/>")
            rx = width - 60
            parts.append(f"<line x1='{bx + 16}' y1='{axis_y}' x2='{rx}' y2='{axis_y}' stroke='#333' stroke-dasharray='2,3'/>")
            parts.append(f"<line x1='{rx}' y1='{axis_y - 30}' x2='{rx}' y2='{axis_y + 10}' stroke='#c0392b' "
                         "stroke-dasharray='5,3' stroke-width='2'/>")
            label = f"RTO {precise_duration(rto_s)} (off scale)"
            lx, anchor = _label_x(rx, label, width)
            parts.append(f"<text x='{lx}' y='{axis_y - 34}' text-anchor='{anchor}' fill='#c0392b'>{escape(label)}</text>")
    for i, (label, seconds) in enumerate(offsets):
        cx = x(seconds)
        parts.append(f"<circle cx='{cx}' cy='{axis_y}' r='6' fill='#2c7be5'><title>{escape(label)}</title></circle>")
        ly = rows_top + 22 * i
        text = f"{label} +{precise_duration(seconds)}"
        lx, anchor = _label_x(cx, text, width)
        parts.append(f"<line x1='{cx}' y1='{axis_y + 6}' x2='{cx}' y2='{ly - 12}' stroke='#bbb'/>")
        parts.append(f"<text x='{lx}' y='{ly}' text-anchor='{anchor}'>{escape(text)}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def rpo_sources(measured: Any) -> list[tuple[str, float]]:
    """(source, gap seconds) from OBJ-RPO's measured value (json_value form)."""
    single = seconds_of(measured)
    if single is not None:
        return [("database", single)]
    if isinstance(measured, dict):
        found = []
        for source, value in measured.items():
            s = seconds_of(value)
            if s is not None:
                found.append((str(source), s))
        return found
    return []


def rpo_gap_svg(measured: Any, limit: Any, title: str = "RPO gap per source") -> str | None:
    sources = rpo_sources(measured)
    if not sources:
        return None
    limit_s = seconds_of(limit)
    span = max([s for _, s in sources] + ([limit_s] if limit_s else []) + [1.0]) * 1.1
    width, left, right, bar_h = 860, 200, 60, 22
    height = 70 + (bar_h + 12) * len(sources) + 30
    scale = (width - left - right) / span
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT}>",
        f"<title>{escape(title)}</title>",
        "<rect width='100%' height='100%' fill='white'/>",
        f"<text x='20' y='24' font-size='16' font-weight='bold'>{escape(title)}</text>",
    ]
    if limit_s:
        parts.append(f"<text x='20' y='44' fill='#555'>RPO objective {escape(precise_duration(limit_s))}</text>")
    for i, (source, gap) in enumerate(sources):
        y = 60 + i * (bar_h + 12)
        over = limit_s is not None and gap > limit_s
        parts.append(f"<text x='{left - 10}' y='{y + 16}' text-anchor='end'>{escape(source)}</text>")
        parts.append(f"<rect x='{left}' y='{y}' width='{max(round(gap * scale, 1), 1)}' height='{bar_h}' "
                     f"fill='{'#e74c3c' if over else '#27ae60'}'><title>{escape(source)}: "
                     f"{escape(precise_duration(gap))}</title></rect>")
        parts.append(f"<text x='{left + max(gap * scale, 1) + 6:.1f}' y='{y + 16}'>{escape(precise_duration(gap))}</text>")
    if limit_s:
        lx = round(left + limit_s * scale, 1)
        bottom = 60 + len(sources) * (bar_h + 12)
        parts.append(f"<line x1='{lx}' y1='52' x2='{lx}' y2='{bottom}' stroke='#c0392b' stroke-dasharray='5,3' stroke-width='2'/>")
        parts.append(f"<text x='{lx}' y='{bottom + 16}' text-anchor='middle' fill='#c0392b'>RPO</text>")
    parts.append("</svg>")
    return "\n".join(parts)
