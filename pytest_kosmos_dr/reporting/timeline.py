"""Pictures for the report, as hand-written SVG: the RTO timeline and the RPO gap per source.

Drawn only from data that exists: the timeline needs the incident start and at least one later
event; the RPO chart needs OBJ-RPO's measured gap (a duration, or one duration per source).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import escape
from typing import Any

from ..evidence import format_duration
from ..timeparse import parse_instant
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


def rto_timeline_svg(incident: dict[str, Any], rto: timedelta | None, title: str = "RTO timeline") -> str | None:
    events = rto_events(incident)
    if not events:
        return None
    start = events[0][1]
    offsets = [(label, (when - start).total_seconds()) for label, when in events]
    rto_s = rto.total_seconds() if rto else None
    span = max([o for _, o in offsets] + ([rto_s] if rto_s else []) + [1.0])
    width, left, right = 860, 40, 40
    axis_y = 110
    height = 120 + 22 * len(offsets)
    scale = (width - left - right) / span

    def x(seconds: float) -> float:
        return round(left + seconds * scale, 1)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT}>",
        f"<title>{escape(title)}</title>",
        "<rect width='100%' height='100%' fill='white'/>",
        f"<text x='{left}' y='24' font-size='16' font-weight='bold'>{escape(title)}</text>",
        f"<text x='{left}' y='44' fill='#555'>incident start {escape(start.isoformat(timespec='seconds'))}"
        + (f"; RTO objective {escape(format_duration(rto_s))}" if rto_s else "") + "</text>",
        f"<line x1='{left}' y1='{axis_y}' x2='{width - right}' y2='{axis_y}' stroke='#333' stroke-width='2'/>",
    ]
    if rto_s:
        within = offsets[-1][1] <= rto_s
        parts.append(f"<rect x='{left}' y='{axis_y - 14}' width='{x(rto_s) - left}' height='28' "
                     f"fill='{'#d9f2d9' if within else '#f8d7da'}' opacity='0.6'/>")
        parts.append(f"<line x1='{x(rto_s)}' y1='{axis_y - 40}' x2='{x(rto_s)}' y2='{axis_y + 20}' "
                     "stroke='#c0392b' stroke-dasharray='5,3' stroke-width='2'/>")
        parts.append(f"<text x='{x(rto_s)}' y='{axis_y - 44}' text-anchor='end' fill='#c0392b'>RTO</text>")
    for i, (label, seconds) in enumerate(offsets):
        cx = x(seconds)
        parts.append(f"<circle cx='{cx}' cy='{axis_y}' r='6' fill='#2c7be5'><title>{escape(label)}</title></circle>")
        ly = axis_y + 36 + 22 * i
        parts.append(f"<line x1='{cx}' y1='{axis_y + 6}' x2='{cx}' y2='{ly - 12}' stroke='#bbb'/>")
        anchor = "end" if cx > width / 2 else "start"
        parts.append(f"<text x='{cx}' y='{ly}' text-anchor='{anchor}'>{escape(label)} "
                     f"+{escape(format_duration(seconds))}</text>")
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
        parts.append(f"<text x='20' y='44' fill='#555'>RPO objective {escape(format_duration(limit_s))}</text>")
    for i, (source, gap) in enumerate(sources):
        y = 60 + i * (bar_h + 12)
        over = limit_s is not None and gap > limit_s
        parts.append(f"<text x='{left - 10}' y='{y + 16}' text-anchor='end'>{escape(source)}</text>")
        parts.append(f"<rect x='{left}' y='{y}' width='{max(round(gap * scale, 1), 1)}' height='{bar_h}' "
                     f"fill='{'#e74c3c' if over else '#27ae60'}'><title>{escape(source)}: "
                     f"{escape(format_duration(gap))}</title></rect>")
        parts.append(f"<text x='{left + max(gap * scale, 1) + 6:.1f}' y='{y + 16}'>{escape(format_duration(gap))}</text>")
    if limit_s:
        lx = round(left + limit_s * scale, 1)
        bottom = 60 + len(sources) * (bar_h + 12)
        parts.append(f"<line x1='{lx}' y1='52' x2='{lx}' y2='{bottom}' stroke='#c0392b' stroke-dasharray='5,3' stroke-width='2'/>")
        parts.append(f"<text x='{lx}' y='{bottom + 16}' text-anchor='middle' fill='#c0392b'>RPO</text>")
    parts.append("</svg>")
    return "\n".join(parts)
