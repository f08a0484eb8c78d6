"""The sandbox's own evidence: an incident record of its incident and a seeded drill ledger.

Written into the state folder when the sandbox starts (``write_evidence``) and published in
``sandbox.json`` as ``state["evidence"]``; the COM-* and SCH-* suites read them when no
``--dr-evidence`` / ``--dr-ledger`` is given for the sandbox target.

What is honest here (docs/evidence.md, "The sandbox's evidence"):

* The sandbox's incident started seconds before the record is written, so the record holds only
  what has happened by then: declared in #incidents and paged, the first update and the customer
  email, all at the moment the sandbox finished playing the incident. Nothing is dated in the
  future, and the incident is *ongoing* (``resolution: null``): the sandbox's DR environment stays
  failed over while it runs. COM-RESOLUTION-EMAIL and COM-POSTMORTEM-48H are therefore
  "not verified" on the sandbox, never passed.
* While the sandbox runs, ``post_update_if_due`` (called from the daemon's loop) adds an update
  every 20 minutes, as an incident's communications lead would; if nobody calls it the record
  honestly goes stale and COM-UPDATES-30MIN fails after 30 minutes.
* The sandbox only publishes where its drill ledger lives (``drill-ledger.jsonl`` in its state
  folder, not created here). The run that first finds it empty seeds it
  (``ledger.seed_sandbox_history``) with a stand-in drill history (restore 12 d ago, agent-state
  drill 3 d ago, failover 40 d ago, full DR 200 d ago, tabletop 90 d ago) so the ledger has
  something to show; every seeded entry is marked ``"source": "sandbox-seed"`` and says so in its
  note. Seeded entries never satisfy a schedule criterion: on a fresh sandbox every SCH-* criterion
  is "not verified". Drills the runs against the sandbox pass are appended to this ledger (as
  run-recorded entries, which do count), not to the repository's; each run keeps a copy of it under
  ``reports/evidence/<run id>/`` (the sandbox deletes its own when it stops).
* ``previous-incident-record.json`` is the resolved record of the seeded failover drill, 40 days
  old. It is a different incident from the sandbox's ongoing one: given as ``--dr-evidence`` to a
  run about the sandbox's incident, the COM-* evidence criteria are "not verified" on it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

from ..timeparse import isoformat, parse_instant, utcnow

RECORD_FILE = "incident-record.json"
PREVIOUS_RECORD_FILE = "previous-incident-record.json"
LEDGER_FILE = "drill-ledger.jsonl"
UPDATE_EVERY = timedelta(minutes=20)



def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _regions(layout) -> tuple[str, str]:
    """(primary, secondary) region of the sandbox layout (the default layout's when none is given)."""
    if layout is None:
        from .layout import DEFAULT as layout
    return layout.primary_region, layout.secondary_region


def resolved_drill_record(started: datetime, layout=None) -> dict:
    """The record of the quarterly failover drill seeded in the ledger (40 days ago): a complete,
    resolved incident, for the COM-* criteria that an ongoing incident cannot show yet."""
    _, secondary = _regions(layout)

    def at(minutes: float) -> str:
        return isoformat(started + timedelta(minutes=minutes))

    return {
        "version": 1,
        "incident_id": "DRILL-" + started.strftime("%Y%m%dT%H%M%SZ"),
        "started_at": isoformat(started),
        "declared": {"at": at(4), "channel": "#incidents",
                     "paging": {"system": "PagerDuty", "incident_id": "PDRILL", "at": at(4)}},
        "updates": [{"at": at(m), "channel": "#incidents", "text": text} for m, text in (
            (6, "Investigating: primary region unreachable; failover runbook started."),
            (31, f"DNS switched to {secondary}; validating the DR cluster."),
            (58, "Gate checks green; monitoring recovery metrics."),
            (85, "Backlog drained; preparing resolution."))],
        "customer_email": {"sent_at": at(11), "audience": "all customers"},
        "resolution": {"resolved_at": at(104), "email": {"sent_at": at(109), "to": "all-hands"}},
        "postmortem": {"published_at": at(104 + 26 * 60), "url": "https://wiki.kosmos.internal/postmortems/failover-drill"},
        "notes": "Seeded by the KOSMOS DR sandbox: the record of the quarterly failover drill in its ledger.",
    }


def incident_record(incident_start: datetime, now: datetime, layout=None) -> dict:
    """The sandbox's incident as communicated up to ``now``: declared, paged, told, not resolved."""
    primary, secondary = _regions(layout)
    start = isoformat(incident_start)
    at = isoformat(max(now, incident_start))
    return {
        "version": 1,
        "incident_id": "SANDBOX-" + incident_start.strftime("%Y%m%dT%H%M%SZ"),
        "started_at": start,
        "declared": {"at": at, "channel": "#incidents",
                     "paging": {"system": "PagerDuty", "incident_id": "PSANDBOX", "at": at}},
        "updates": [{"at": at, "channel": "#incidents",
                     "text": f"Investigating: API unavailable in {primary}; failing over to {secondary}."}],
        "customer_email": {"sent_at": at, "audience": "all customers"},
        "resolution": None,
        "postmortem": None,
        "notes": "Written by the KOSMOS DR sandbox: its incident is ongoing while it runs (see docs/evidence.md).",
    }


def write_evidence(state_dir: str | Path, incident_start: datetime | str, target: str = "sandbox",
                   now: datetime | None = None, layout=None) -> dict:
    """Write ``incident-record.json`` and ``previous-incident-record.json`` into ``state_dir`` and name
    the (empty) drill ledger there: the run seeds it (``ledger.seed_sandbox_history``).

    ``layout`` (sandbox/layout.py) names the regions; ``target`` is the target that describes it (the
    run against that target seeds the ledger in its name).

    Returns ``{"incident_record": path, "previous_incident_record": path, "ledger": path}`` (strings,
    for ``sandbox.json``).
    """
    state_dir = Path(state_dir)
    now = now or utcnow()
    start = parse_instant(incident_start) if isinstance(incident_start, str) else incident_start
    record_path = state_dir / RECORD_FILE
    _write_atomic(record_path, json.dumps(incident_record(start, now, layout), indent=2) + "\n")
    ledger_path = state_dir / LEDGER_FILE
    ledger_path.unlink(missing_ok=True)  # a new sandbox, a new history (its drills were of the old one)
    previous_path = state_dir / PREVIOUS_RECORD_FILE
    _write_atomic(previous_path, json.dumps(resolved_drill_record(now - timedelta(days=40), layout), indent=2) + "\n")
    return {"incident_record": str(record_path), "previous_incident_record": str(previous_path),
            "ledger": str(ledger_path)}


def post_update_if_due(record_path: str | Path, now: datetime | None = None, every: timedelta = UPDATE_EVERY,
                       layout=None) -> bool:
    """Add a status update to the sandbox's (ongoing) incident when the last one is ``every`` old.

    Cheap enough to call every second from the daemon's loop; returns True when it posted one.
    """
    path = Path(record_path)
    now = now or utcnow()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record.get("resolution") is not None:
        return False
    times = [parse_instant(u["at"]) for u in record.get("updates", [])]
    if record.get("declared"):
        times.append(parse_instant(record["declared"]["at"]))
    if times and now - max(times) < every:
        return False
    _, secondary = _regions(layout)
    record.setdefault("updates", []).append({
        "at": isoformat(now), "channel": "#incidents",
        "text": f"Update: serving from {secondary} while recovery is validated; next update within 30 min.",
    })
    _write_atomic(path, json.dumps(record, indent=2) + "\n")
    return True


def remove_evidence(state_dir: str | Path) -> None:
    """Remove the files ``write_evidence`` wrote (when the sandbox stops)."""
    for name in (RECORD_FILE, PREVIOUS_RECORD_FILE, LEDGER_FILE):
        (Path(state_dir) / name).unlink(missing_ok=True)
