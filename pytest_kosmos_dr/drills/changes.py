"""What a drill changed, written durably to the run folder *before* the change is made.

One JSON line per change (``changes.jsonl``, fsynced): the kill switch engaged, a scratch folder
made in an agent's pod, the drill lease taken. When the drill undoes a change it appends an
``undone`` line. A run killed with SIGKILL leaves its pending changes for ``kosmos-dr cleanup``,
which undoes each one only after checking the environment still shows it as this run's.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from ..timeparse import isoformat, utcnow

CHANGES = "changes.jsonl"
KILL_SWITCH, SCRATCH, LEASE = "kill-switch", "agent-state-scratch", "drill-lease"


def record(run_dir: Path, kind: str, **fields) -> dict:
    """Append a change (before making it); returns the entry (its ``id`` marks it undone later)."""
    entry = {"id": secrets.token_hex(6), "kind": kind, "at": isoformat(utcnow()), **fields}
    _append(Path(run_dir), entry)
    return entry


def mark_undone(run_dir: Path, entry: dict) -> None:
    _append(Path(run_dir), {"id": secrets.token_hex(6), "kind": "undone", "of": entry["id"],
                            "at": isoformat(utcnow())})


def pending(run_dir: Path) -> list[dict]:
    """The changes recorded in ``run_dir`` that were not undone (oldest first)."""
    path = Path(run_dir) / CHANGES
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut short by SIGKILL: nothing was changed after it
            continue
        if isinstance(entry, dict) and entry.get("kind"):
            entries.append(entry)
    undone = {e.get("of") for e in entries if e["kind"] == "undone"}
    return [e for e in entries if e["kind"] != "undone" and e.get("id") not in undone]


def _append(run_dir: Path, entry: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / CHANGES, "a") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
