"""The gate board: when each gate test of the run finished, and how, shared by xdist workers.

OBJ-RTO is the time from the incident start until every gate criterion had passed, so its test
waits (bounded) until every other collected gate test has a verdict on the board.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from .timeparse import isoformat

BOARD = "gate-board.jsonl"
EXPECTED = "gate-expected.json"
RTO_CRITERION = "OBJ-RTO"


def write_expected(run_dir: Path, nodeids: list[str], not_selected: list[str]) -> None:
    """The gate tests this run will run, and the gate criteria of the catalog it left out."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (EXPECTED + f".{os.getpid()}")
    tmp.write_text(json.dumps({"tests": sorted(nodeids), "gate_not_selected": sorted(not_selected)}))
    os.replace(tmp, run_dir / EXPECTED)


def expected(run_dir: Path) -> tuple[list[str], list[str]]:
    """(gate test nodeids, gate criteria not selected) as written at collection."""
    path = run_dir / EXPECTED
    if not path.exists():
        return [], []
    data = json.loads(path.read_text())
    return list(data.get("tests", [])), list(data.get("gate_not_selected", []))


def gate_criteria_not_selected(selected_criteria: set[str]) -> list[str]:
    """Recovery gate criteria of the catalog (OBJ-RTO aside) that no selected test verifies."""
    from .catalog import recovery_gate

    return [cid for cid in recovery_gate() if cid != RTO_CRITERION and cid not in selected_criteria]


def post(run_dir: Path, nodeid: str, criteria: list[str], outcome: str) -> None:
    """Append one verdict (a single small write: atomic on POSIX with O_APPEND)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"nodeid": nodeid, "criteria": criteria, "outcome": outcome,
                       "at": isoformat(datetime.now(timezone.utc), ms=True)}) + "\n"
    fd = os.open(run_dir / BOARD, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def verdicts(run_dir: Path) -> dict[str, dict]:
    path = run_dir / BOARD
    if not path.exists():
        return {}
    return {v["nodeid"]: v for v in map(json.loads, path.read_text().splitlines())}


def wait_for_all(run_dir: Path, budget_s: float, poll_s: float = 0.2) -> tuple[list[dict], list[str]]:
    """(verdicts, missing nodeids) once every expected gate test reported, or when the budget ends."""
    tests, _ = expected(run_dir)
    deadline = time.monotonic() + budget_s
    while True:
        seen = verdicts(run_dir)
        missing = [n for n in tests if n not in seen]
        if not missing or time.monotonic() >= deadline:
            return [seen[n] for n in tests if n in seen], missing
        time.sleep(poll_s)
