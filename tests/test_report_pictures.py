"""The report's pictures read: every event labelled, the objective marked, no text outside the picture."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from pytest_kosmos_dr.reporting.timeline import rpo_gap_svg, rto_timeline_svg, text_width

START = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
SVG = "{http://www.w3.org/2000/svg}"


def _incident(*seconds: float) -> dict:
    keys = ("failover_at", "dns_switched_at", "first_green_health", "validated")
    return {"start": START.isoformat(), **{k: (START + timedelta(seconds=s)).isoformat() for k, s in zip(keys, seconds)}}


def _texts(svg: str):
    root = ET.fromstring(svg)
    width, height = float(root.get("width")), float(root.get("height"))
    for node in root.iter(f"{SVG}text"):
        size = float(node.get("font-size", 12))
        x, y, text = float(node.get("x")), float(node.get("y")), "".join(node.itertext())
        w = text_width(text, size)
        anchor = node.get("text-anchor", "start")
        left = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        yield text, (left, y - size, left + w, y + size * 0.3), (width, height)


CASES = {
    "seconds against 4 h (the sandbox)": (_incident(2, 3, 5, 31), timedelta(hours=4)),
    "hours, within the RTO": (_incident(600, 700, 3000, 9000), timedelta(hours=4)),
    "RTO missed": (_incident(3600, 7200, 14000, 18000), timedelta(hours=4)),
    "every event at once": (_incident(0, 0, 0, 0), timedelta(hours=4)),
    "no objective": (_incident(10, 20, 30, 40), None),
    "only the end": ({"start": START.isoformat(), "validated": (START + timedelta(hours=3, minutes=59)).isoformat()},
                     timedelta(hours=4)),
}


@pytest.mark.parametrize("incident, rto", CASES.values(), ids=CASES.keys())
def test_rto_timeline_labels_every_event_inside_the_picture(incident, rto):
    svg = rto_timeline_svg(incident, rto)
    outside = [f"{text!r} at {box}" for text, box, (w, h) in _texts(svg)
               if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h]
    assert not outside, "text outside the picture: " + "; ".join(outside)
    labels = [t for t, _, _ in _texts(svg)]
    for event in ("incident start", "validated"):
        assert any(t.startswith(event + " +") for t in labels), labels
    if rto is not None:
        assert any(t.startswith("RTO 4 h") for t in labels), labels


def test_a_short_recovery_is_drawn_at_its_own_scale_with_the_rto_off_scale():
    svg = rto_timeline_svg(_incident(2, 3, 5, 31), timedelta(hours=4))
    circles = [float(c.get("cx")) for c in ET.fromstring(svg).iter(f"{SVG}circle")]
    assert circles[-1] - circles[0] > 400, f"a 31 s recovery squeezed into {circles[-1] - circles[0]:.0f} px"
    assert "RTO 4 h 00 min 00 s (off scale)" in svg and "(0.2 %)" in svg


def test_a_missed_rto_is_marked_on_the_axis():
    svg = rto_timeline_svg(_incident(3600, 7200, 14000, 18000), timedelta(hours=4))
    root = ET.fromstring(svg)
    dashed = [float(l.get("x1")) for l in root.iter(f"{SVG}line") if l.get("stroke") == "#c0392b"]
    last = max(float(c.get("cx")) for c in root.iter(f"{SVG}circle"))
    assert dashed and dashed[0] < last, "the RTO line must sit before the late validation"
    assert "#f8d7da" in svg  # red band: over the objective


def test_rpo_picture_keeps_text_inside():
    svg = rpo_gap_svg({"database": 30.0, "agent-state": 400.0}, 900.0)
    assert not [t for t, box, (w, h) in _texts(svg) if box[0] < 0 or box[2] > w or box[3] > h]
    assert re.search(r"RPO objective 15 min", svg)
