"""The drill ledger: an append-only, hash-chained JSON-lines record of DR exercises.

The testing-schedule criteria (SCH-*) are judged against it. Each line is one entry::

    {"seq": 3, "kind": "restore", "at": "2025-12-01T09:30:00Z", "target": "dr-cluster",
     "result": "passed", "criteria": ["REC-DB-PITR"], "note": "...", "report_sha256": "...",
     "recorded_at": "...", "recorded_by": "...", "prev": "<hash of entry 2>", "hash": "<sha256>"}

``hash`` is the SHA-256 of the entry's canonical JSON (sorted keys, no spaces, UTF-8) without
``hash``; ``prev`` is the previous entry's ``hash`` ("0" * 64 for the first). Editing an entry
breaks its hash; removing, inserting or reordering entries breaks ``seq`` and ``prev``. Removing
the *newest* entries (or rewriting the whole chain) is only detectable against a head hash kept
elsewhere: ``kosmos-dr ledger show`` prints it, ``kosmos-dr ledger verify --head HASH`` checks it.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from .errors import DRConfigError
from .timeparse import isoformat, parse_instant, utcnow

KINDS = ("restore", "agent-drill", "failover", "full-dr", "tabletop")
RESULTS = ("passed", "failed")
GENESIS = "0" * 64
REQUIRED = ("seq", "kind", "at", "target", "result", "criteria", "note", "prev", "hash")
CLOCK_SKEW = timedelta(minutes=5)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# Which passing criteria make which drill (see record_passing_drills).
RESTORE_CRITERIA = ("REC-DB-PITR", "REC-DB-SNAPSHOT", "SCN-DATA-CORRUPTION")
AGENT_DRILL_CRITERIA = ("REC-AGENT-STATE",)
FAILOVER_CRITERIA = ("SCN-REGIONAL-OUTAGE", "REC-DNS")


class LedgerError(Exception):
    """The ledger cannot be read or extended (one line, naming the file and line)."""


@dataclass(frozen=True)
class Ledger:
    """A ledger as read: every entry that parsed (with its line number) and every problem found."""

    path: Path
    entries: tuple[tuple[int, dict], ...]
    problems: tuple[str, ...]

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def head(self) -> str:
        return self.entries[-1][1].get("hash", GENESIS) if self.entries else GENESIS


def canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(entry: dict) -> str:
    """SHA-256 of the entry's canonical JSON without its ``hash`` field."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


# -- writing -------------------------------------------------------------------------------------

def _validated(entry: dict, now: datetime) -> dict:
    """The caller's fields, checked and normalised (DRConfigError naming the field)."""
    unknown = set(entry) - {"kind", "at", "target", "result", "criteria", "note", "report_sha256",
                            "recorded_by"}
    if unknown:
        raise DRConfigError(f"ledger entry: unknown field {sorted(unknown)[0]!r}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise DRConfigError(f"ledger entry: kind {kind!r} is not one of {', '.join(KINDS)}")
    result = entry.get("result", "passed")
    if result not in RESULTS:
        raise DRConfigError(f"ledger entry: result {result!r} is not one of {', '.join(RESULTS)}")
    raw_at = entry.get("at")
    try:
        at = raw_at if isinstance(raw_at, datetime) else parse_instant(raw_at)
    except ValueError as exc:
        raise DRConfigError(f"ledger entry: at: {exc}") from None
    if at > now + CLOCK_SKEW:
        raise DRConfigError(f"ledger entry: at {isoformat(at)} is in the future (now {isoformat(now)})")
    target = entry.get("target")
    if not isinstance(target, str) or not target.strip():
        raise DRConfigError("ledger entry: target: expected a target name")
    criteria = entry.get("criteria", [])
    if not isinstance(criteria, (list, tuple)) or not all(isinstance(c, str) for c in criteria):
        raise DRConfigError("ledger entry: criteria: expected a list of criterion IDs")
    note = entry.get("note", "")
    if not isinstance(note, str):
        raise DRConfigError("ledger entry: note: expected text")
    clean = {"kind": kind, "at": isoformat(at), "target": target.strip(), "result": result,
             "criteria": sorted(set(criteria)), "note": note}
    sha = entry.get("report_sha256")
    if sha is not None:
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise DRConfigError("ledger entry: report_sha256: expected 64 lowercase hex digits")
        clean["report_sha256"] = sha
    clean["recorded_at"] = isoformat(now)
    clean["recorded_by"] = entry.get("recorded_by") or _user()
    return clean


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still record something
        return "unknown"


def append(path: str | Path, entry: dict, now: datetime | None = None) -> dict:
    """Append ``entry`` (kind, at, target, result, criteria, note, report_sha256?) under a file lock.

    Fills in seq, prev and hash, writes one line, fsyncs, and returns the stored entry. Refuses
    (LedgerError) to extend a ledger whose last line is not a valid entry.
    """
    path = Path(path)
    now = now or utcnow()
    clean = _validated(entry, now)
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
            seq, prev = 1, GENESIS
            numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
            if numbered:
                number, last_line = numbered[-1]
                try:
                    last = json.loads(last_line)
                    seq, prev = int(last["seq"]) + 1, str(last["hash"])
                except (ValueError, KeyError, TypeError):
                    raise LedgerError(f"drill ledger {path}: line {number} is not a valid entry; refusing to "
                                      f"extend it (see `kosmos-dr ledger verify --ledger {path}`)") from None
            stored = {"seq": seq, **clean, "prev": prev}
            stored["hash"] = entry_hash(stored)
            handle.seek(0, os.SEEK_END)
            if handle.tell() and lines and not _ends_with_newline(handle):
                handle.write(b"\n")
            handle.write(canonical(stored) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    if created:
        _fsync_dir(path.parent)
    return stored


def _ends_with_newline(handle) -> bool:
    handle.seek(-1, os.SEEK_END)
    last = handle.read(1)
    handle.seek(0, os.SEEK_END)
    return last == b"\n"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- reading and verifying ---------------------------------------------------------------------------

def load(path: str | Path, expected_head: str | None = None, now: datetime | None = None) -> Ledger:
    """Read every line and check the chain; raises LedgerError only when the file cannot be read."""
    path = Path(path)
    now = now or utcnow()
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise LedgerError(f"no drill ledger at {path}") from None
    except OSError as exc:
        raise LedgerError(f"drill ledger {path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LedgerError(f"drill ledger {path}: not UTF-8 text") from None
    entries: list[tuple[int, dict]] = []
    problems: list[str] = []
    expected_seq, expected_prev = 1, GENESIS
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            problems.append(f"line {number}: empty line (a ledger line was blanked)")
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})")
            expected_prev = None  # the next entry's link cannot be checked
            expected_seq = None
            continue
        if not isinstance(entry, dict):
            problems.append(f"line {number}: not a JSON object")
            expected_prev = expected_seq = None
            continue
        missing = [f for f in REQUIRED if f not in entry]
        if missing:
            problems.append(f"line {number}: missing field {', '.join(missing)}")
        if "hash" in entry and entry["hash"] != entry_hash(entry):
            problems.append(f"line {number}: hash does not match the entry's content (entry edited)")
        seq = entry.get("seq")
        if expected_seq is not None and seq != expected_seq:
            problems.append(f"line {number}: seq {seq}, expected {expected_seq} "
                            f"(an entry was removed, inserted or reordered)")
        if expected_prev is not None and entry.get("prev") != expected_prev:
            problems.append(f"line {number}: prev does not match the hash of the entry before it "
                            f"(an entry was removed, inserted or reordered)")
        problems += [f"line {number}: {p}" for p in _field_problems(entry, now)]
        entries.append((number, entry))
        expected_seq = seq + 1 if isinstance(seq, int) else None
        expected_prev = entry.get("hash")
    if expected_head is not None:
        head = entries[-1][1].get("hash") if entries else GENESIS
        if head != expected_head:
            problems.append(f"head is {head}, expected {expected_head} (newest entries removed or ledger replaced)")
    return Ledger(path, tuple(entries), tuple(problems))


def _field_problems(entry: dict, now: datetime) -> list[str]:
    problems = []
    if "kind" in entry and entry["kind"] not in KINDS:
        problems.append(f"unknown kind {entry['kind']!r}")
    if "result" in entry and entry["result"] not in RESULTS:
        problems.append(f"unknown result {entry['result']!r}")
    if "at" in entry:
        try:
            if parse_instant(entry["at"]) > now + CLOCK_SKEW:
                problems.append(f"at {entry['at']} is in the future")
        except ValueError:
            problems.append(f"at {entry['at']!r} is not an ISO-8601 time")
    return problems


def read(path: str | Path) -> list[dict]:
    """Every entry, in file order; raises LedgerError on a line that is not a JSON object."""
    ledger = load(path)
    bad = [p for p in ledger.problems if "not valid JSON" in p or "not a JSON object" in p]
    if bad:
        raise LedgerError(f"drill ledger {ledger.path}: {bad[0]}")
    return [entry for _, entry in ledger.entries]


def verify(path: str | Path, expected_head: str | None = None) -> list[str]:
    """Problems found (broken chain, edited/removed/reordered entry, bad JSON), each with its line number."""
    try:
        return list(load(path, expected_head).problems)
    except LedgerError as exc:
        return [str(exc)]


def newest_passing(ledger: Ledger, kind: str, target: str, now: datetime | None = None) -> tuple[int, dict] | None:
    """The newest passing entry of ``kind`` for ``target`` (by its ``at``), with its line number."""
    now = now or utcnow()
    best = None
    for number, entry in ledger.entries:
        if entry.get("kind") != kind or entry.get("target") != target or entry.get("result") != "passed":
            continue
        try:
            at = parse_instant(entry.get("at"))
        except ValueError:
            continue
        if at > now + CLOCK_SKEW:
            continue
        if best is None or at > best[0]:
            best = (at, number, entry)
    return None if best is None else (best[1], best[2])


# -- drills recorded by a run ------------------------------------------------------------------------

def drills_in(passed_criteria: Iterable[str], allow_restore: bool) -> list[tuple[str, list[str]]]:
    """Which drills (kind, criteria) a run's passing criteria make.

    * restore: REC-DB-PITR, REC-DB-SNAPSHOT or SCN-DATA-CORRUPTION passed;
    * agent-drill: REC-AGENT-STATE passed;
    * failover: SCN-REGIONAL-OUTAGE and REC-DNS passed on a run with --dr-allow-restore;
    * full-dr: every gate and drill criterion of the catalog passed in this one run.
    """
    from .catalog import catalog

    passed = set(passed_criteria)
    drills = []
    restore = [c for c in RESTORE_CRITERIA if c in passed]
    if restore:
        drills.append(("restore", restore))
    if set(AGENT_DRILL_CRITERIA) <= passed:
        drills.append(("agent-drill", list(AGENT_DRILL_CRITERIA)))
    if allow_restore and set(FAILOVER_CRITERIA) <= passed:
        drills.append(("failover", list(FAILOVER_CRITERIA)))
    operational = [cid for cid, c in catalog().items() if c.kind in ("gate", "drill")]
    if set(operational) <= passed:
        drills.append(("full-dr", operational))
    return drills


def record_passing_drills(ledger_path: str | Path | None, target_name: str, passed_criteria: set[str],
                          report_sha256: str | None = None, *, allow_restore: bool = False,
                          now: datetime | None = None) -> list[dict]:
    """Append one entry per drill this run passed (see ``drills_in``); returns the entries written.

    ``ledger_path`` None (e.g. a sandbox that published no ledger) records nothing.
    """
    if ledger_path is None:
        return []
    now = now or utcnow()
    written = []
    for kind, criteria in drills_in(passed_criteria, allow_restore):
        entry = {"kind": kind, "at": now, "target": target_name, "result": "passed", "criteria": criteria,
                 "note": "recorded by pytest-kosmos-dr at the end of a run that passed " + ", ".join(sorted(criteria))
                 if kind != "full-dr" else "recorded by pytest-kosmos-dr: every gate and drill criterion passed"}
        if report_sha256:
            entry["report_sha256"] = report_sha256
        written.append(append(ledger_path, entry, now))
    return written


def ledger_path_for_run(run, sandbox_state=None) -> Path | None:
    """The ledger a run reads and records to.

    ``--dr-ledger`` / ini ``dr_ledger`` when given; else, for the sandbox target, the ledger the
    sandbox published (None when it published none: nothing is read or recorded, and the
    repository's ledger is never touched by sandbox runs); else ``reports/drill-ledger.jsonl``.
    ``sandbox_state`` is the sandbox's state, or a callable returning it (called only when needed);
    when not given, the state of the sandbox this run already used is taken (none is started).
    """
    from .incident_record import sandbox_evidence_path

    explicit = run.config.getoption("dr_ledger") or run.config.getini("dr_ledger")
    if explicit or not run.target.is_sandbox:
        return run.options.ledger_path
    if callable(sandbox_state):
        sandbox_state = sandbox_state()
    if sandbox_state is None:
        running = getattr(run, "_sandbox", None)  # the sandbox this run used, if any (never starts one)
        sandbox_state = running.state if running is not None else None
    return sandbox_evidence_path(sandbox_state, "ledger")


def parse_when(raw: Any) -> datetime:
    """``--date`` for manual entries: a date (midnight UTC) or an ISO-8601 time."""
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise DRConfigError(f"--date: {exc}") from None
