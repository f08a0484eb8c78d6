"""The drill ledger: an append-only, hash-chained JSON-lines record of DR exercises.

The testing-schedule criteria (SCH-*) are judged against it. Each line is one entry::

    {"seq": 3, "kind": "restore", "at": "2025-12-01T09:30:00Z", "target": "dr-cluster",
     "result": "passed", "source": "run", "run_id": "1a2b3c4d", "scorecard_sha256": "...",
     "criteria": ["REC-DB-PITR", ...], "note": "...", "recorded_at": "...", "recorded_by": "...",
     "hmac": "<optional>", "prev": "<hash of entry 2>", "hash": "<sha256>"}

Where an entry comes from is its ``source``:

* ``run``: written by the run that performed the drill (``record_run``), with the run id, the
  criteria that passed and the SHA-256 of that run's scorecard. Only these count for the restore,
  agent-state drill, failover and full-DR schedules.
* ``manual``: typed by hand (``kosmos-dr ledger record``); only a tabletop exercise, with who ran
  it (``by``) and a reference such as a ticket (``ref``).
* ``sandbox-seed``: the sandbox's stand-in history; it never satisfies a schedule criterion.

``hash`` is the SHA-256 of the entry's canonical JSON (sorted keys, no spaces, UTF-8) without
``hash``; ``prev`` is the previous entry's ``hash`` ("0" * 64 for the first). Editing an entry
breaks its hash; removing, inserting or reordering entries breaks ``seq`` and ``prev``. A whole
rewritten chain is caught two ways: with ``KOSMOS_DR_LEDGER_KEY`` set every entry carries
``hmac`` (HMAC-SHA256 over the entry without ``hash`` and ``hmac``) and verification requires a
valid one on every entry; and against a head hash kept outside the file (``--head``,
``--dr-ledger-head``), which must be the hash of an entry of the chain.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import hmac as hmac_lib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import DRConfigError
from .timeparse import isoformat, parse_instant, utcnow

KINDS = ("restore", "agent-drill", "failover", "full-dr", "tabletop")
RUN_KINDS = ("restore", "agent-drill", "failover", "full-dr")  # only a run that performed them records them
MANUAL_KINDS = ("tabletop",)  # the only exercise no test can see
RESULTS = ("passed", "failed")
SOURCES = ("run", "manual", "sandbox-seed")
GENESIS = "0" * 64
REQUIRED = ("seq", "kind", "at", "target", "result", "criteria", "note", "prev", "hash")
CLOCK_SKEW = timedelta(minutes=5)
KEY_VARIABLE = "KOSMOS_DR_LEDGER_KEY"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FROM_ENV: Any = object()  # key argument default: read KOSMOS_DR_LEDGER_KEY

# Which passing criteria make which drill (see record_run).
RESTORE_CRITERIA = ("REC-DB-PITR", "REC-DB-SNAPSHOT", "SCN-DATA-CORRUPTION")
AGENT_DRILL_CRITERIA = ("REC-AGENT-STATE",)


class LedgerError(Exception):
    """The ledger cannot be read or extended (one line, naming the file and line)."""


@dataclass(frozen=True)
class Ledger:
    """A ledger as read: every entry that parsed (with its line number) and every problem found."""

    path: Path
    entries: tuple[tuple[int, dict], ...]
    problems: tuple[str, ...]
    key_checked: bool = False  # every entry's HMAC was verified with KOSMOS_DR_LEDGER_KEY
    expected_head: str | None = None  # the head kept outside the file it was checked against

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


def entry_hmac(entry: dict, key: bytes) -> str:
    """HMAC-SHA256 with ``key`` over the entry's canonical JSON without ``hash`` and ``hmac``."""
    body = canonical({k: v for k, v in entry.items() if k not in ("hash", "hmac")})
    return hmac_lib.new(key, body, hashlib.sha256).hexdigest()


def signing_key(key: Any = _FROM_ENV) -> bytes | None:
    """The signing key: ``key`` when given, else ``$KOSMOS_DR_LEDGER_KEY`` (None when unset or empty)."""
    if key is _FROM_ENV:
        key = os.environ.get(KEY_VARIABLE) or None
    if key is None or key == b"" or key == "":
        return None
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


# -- writing -------------------------------------------------------------------------------------

_CONTROL = ("\u2028", "\u2029", "\x85", "\x7f")  # Unicode line separators and DEL
MAX_TEXT = 2000  # a name, a reference or a note: a few words, not a document


def _plain_text(field: str, value: str) -> str:
    """Text that prints as itself: no line breaks, terminal escapes or other control characters
    (a note could otherwise forge lines in `ledger show` or the report)."""
    if any(ord(ch) < 32 or ch in _CONTROL for ch in value):
        raise DRConfigError(f"ledger entry: {field}: contains a line break or control character")
    if len(value) > MAX_TEXT:
        raise DRConfigError(f"ledger entry: {field}: longer than {MAX_TEXT} characters")
    return value


def _text(entry: dict, field: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DRConfigError(f"ledger entry: {field}: expected a non-empty text")
    return _plain_text(field, value.strip())


def _validated(entry: dict, now: datetime) -> dict:
    """The caller's fields, checked and normalised (DRConfigError naming the field)."""
    unknown = set(entry) - {"kind", "at", "target", "result", "criteria", "note", "source", "run_id",
                            "scorecard_sha256", "by", "ref", "recorded_by"}
    if unknown:
        raise DRConfigError(f"ledger entry: unknown field {sorted(unknown)[0]!r}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise DRConfigError(f"ledger entry: kind {kind!r} is not one of {', '.join(KINDS)}")
    source = entry.get("source")
    if source not in SOURCES:
        raise DRConfigError(f"ledger entry: source {source!r} is not one of {', '.join(SOURCES)}")
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
    _plain_text("target", target)
    criteria = entry.get("criteria", [])
    if not isinstance(criteria, (list, tuple, set, frozenset)) or not all(isinstance(c, str) for c in criteria):
        raise DRConfigError("ledger entry: criteria: expected a list of criterion IDs")
    note = entry.get("note", "")
    if not isinstance(note, str):
        raise DRConfigError("ledger entry: note: expected text")
    _plain_text("note", note)
    clean = {"kind": kind, "at": isoformat(at), "target": target.strip(), "result": result, "source": source,
             "criteria": sorted(set(criteria)), "note": note}
    if source == "run":
        if kind not in RUN_KINDS:
            raise DRConfigError(f"ledger entry: a run records {', '.join(RUN_KINDS)}, not {kind}")
        clean["run_id"] = _text(entry, "run_id")
        sha = entry.get("scorecard_sha256")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise DRConfigError("ledger entry: scorecard_sha256: expected 64 lowercase hex digits")
        clean["scorecard_sha256"] = sha
        if not clean["criteria"]:
            raise DRConfigError("ledger entry: criteria: a run-recorded entry names the criteria that passed")
    elif source == "manual":
        if kind not in MANUAL_KINDS:
            raise DRConfigError(f"ledger entry: only a {' or '.join(MANUAL_KINDS)} exercise can be recorded by "
                                f"hand; a {kind} entry is recorded by the run that performed it")
        clean["by"] = _text(entry, "by")
        clean["ref"] = _text(entry, "ref")
    clean["recorded_at"] = isoformat(now)
    clean["recorded_by"] = entry.get("recorded_by") or _user()
    return clean


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still record something
        return "unknown"


class _Locked:
    """The ledger file opened for appending under an exclusive ``flock`` (one per append or seeding)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.created = not self.path.exists()
        self.handle = open(self.path, "a+b")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self.handle

    def __exit__(self, *exc) -> None:
        try:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
        finally:
            self.handle.close()
        if self.created:
            _fsync_dir(self.path.parent)


def _lines(handle) -> list[str]:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace").splitlines()


def _append_locked(handle, path: Path, clean: dict, secret: bytes | None) -> dict:
    lines = _lines(handle)
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
    if secret is not None:
        stored["hmac"] = entry_hmac(stored, secret)
    stored["hash"] = entry_hash(stored)
    handle.seek(0, os.SEEK_END)
    if handle.tell() and lines and not _ends_with_newline(handle):
        handle.write(b"\n")
    handle.write(canonical(stored) + b"\n")
    handle.flush()
    os.fsync(handle.fileno())
    return stored


def append(path: str | Path, entry: dict, now: datetime | None = None, *, key: Any = _FROM_ENV) -> dict:
    """Append ``entry`` (kind, at, target, result, source, criteria, note, ...) under a file lock.

    Fills in seq, prev, hmac (when a signing key is set) and hash, writes one line, fsyncs, and
    returns the stored entry. Refuses (LedgerError) to extend a ledger whose last line is not a
    valid entry.
    """
    path = Path(path)
    now = now or utcnow()
    secret = signing_key(key)
    clean = _validated(entry, now)
    with _Locked(path) as handle:
        return _append_locked(handle, path, clean, secret)


# -- the sandbox's stand-in history ---------------------------------------------------------------------

SEEDED_NOTE = "seeded by the sandbox at start: a stand-in drill history, no drill was run"
# kind, how long ago, criteria it stands for (oldest first, so the ledger reads chronologically);
# None: every gate and drill criterion of the catalog (a full DR exercise)
SEEDED_DRILLS = (
    ("full-dr", timedelta(days=200), None),
    ("tabletop", timedelta(days=90), ()),
    ("failover", timedelta(days=40), ("OBJ-RTO",)),
    ("restore", timedelta(days=12), RESTORE_CRITERIA),
    ("agent-drill", timedelta(days=3), AGENT_DRILL_CRITERIA),
)


def seed_sandbox_history(path: str | Path, now: datetime | None = None, target: str = "sandbox", *,
                         key: Any = _FROM_ENV) -> list[dict]:
    """Seed the empty (or missing) ledger a sandbox published with its stand-in drill history.

    Idempotent and safe between processes (xdist workers): under the ledger's file lock, a ledger
    that already holds a line is left alone. Every seeded entry is ``"source": "sandbox-seed"``
    (it never counts for a schedule; see ``counts_for``). Returns the entries written ([] if none).
    """
    from .catalog import catalog

    path = Path(path)
    now = now or utcnow()
    secret = signing_key(key)
    with _Locked(path) as handle:
        if any(line.strip() for line in _lines(handle)):
            return []
        written = []
        for kind, ago, criteria in SEEDED_DRILLS:
            if criteria is None:
                criteria = [cid for cid, c in catalog().items() if c.kind in ("gate", "drill")]
            clean = _validated({"kind": kind, "at": now - ago, "target": target, "result": "passed",
                                "criteria": list(criteria), "source": "sandbox-seed", "note": SEEDED_NOTE,
                                "recorded_by": "kosmos-dr sandbox"}, now)
            written.append(_append_locked(handle, path, clean, secret))
        return written


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

def load(path: str | Path, expected_head: str | None = None, now: datetime | None = None, *,
         key: Any = _FROM_ENV) -> Ledger:
    """Read every line and check the chain; raises LedgerError only when the file cannot be read.

    With a signing key (``key`` or ``$KOSMOS_DR_LEDGER_KEY``) every entry must carry a valid
    ``hmac``. ``expected_head`` (kept outside the file) must be the hash of an entry of the chain:
    entries appended after it are fine, a chain that no longer holds it was cut or rewritten.
    """
    path = Path(path)
    now = now or utcnow()
    secret = signing_key(key)
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
        if secret is not None:
            if not isinstance(entry.get("hmac"), str):
                problems.append(f"line {number}: no HMAC ({KEY_VARIABLE} is set: every entry must be signed)")
            elif not hmac_lib.compare_digest(entry["hmac"], entry_hmac(entry, secret)):
                problems.append(f"line {number}: HMAC does not match (not written with this key, or rewritten)")
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
        hashes = [e.get("hash") for _, e in entries]
        if expected_head != GENESIS and expected_head not in hashes:
            head = hashes[-1] if hashes else GENESIS
            problems.append(f"head {expected_head} kept outside the file is not in the chain (its head is {head}): "
                            f"the newest entries were removed or the ledger was rewritten")
    return Ledger(path, tuple(entries), tuple(problems), key_checked=secret is not None,
                  expected_head=expected_head)


def _field_problems(entry: dict, now: datetime) -> list[str]:
    problems = []
    if "kind" in entry and entry["kind"] not in KINDS:
        problems.append(f"unknown kind {entry['kind']!r}")
    if "result" in entry and entry["result"] not in RESULTS:
        problems.append(f"unknown result {entry['result']!r}")
    if "source" in entry and entry["source"] not in SOURCES:
        problems.append(f"unknown source {entry['source']!r}")
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


def verify(path: str | Path, expected_head: str | None = None, *, key: Any = _FROM_ENV) -> list[str]:
    """Problems found (broken chain, edited/removed/reordered entry, bad JSON, HMAC), each with its line."""
    try:
        return list(load(path, expected_head, key=key).problems)
    except LedgerError as exc:
        return [str(exc)]


def head_of(path: str | Path | None) -> str | None:
    """The hash of the newest entry (GENESIS for an empty ledger), to keep outside the file;
    None when there is no readable ledger."""
    if path is None:
        return None
    try:
        return load(path, key=None).head
    except LedgerError:
        return None


# -- which entries count ------------------------------------------------------------------------------

def counts_for(entry: dict, kind: str) -> str | None:
    """Why ``entry`` cannot count for a schedule of ``kind`` (None: it counts, if recent and passed)."""
    source = entry.get("source")
    if source == "sandbox-seed":
        return "sandbox-seeded (a stand-in, no drill was run)"
    if kind in RUN_KINDS:
        if source != "run":
            return "not recorded by a run (typed by hand or written before runs recorded their drills)"
        criteria = entry.get("criteria") if isinstance(entry.get("criteria"), list) else []
        sha = entry.get("scorecard_sha256")
        if not isinstance(entry.get("run_id"), str) or not entry["run_id"].strip():
            return "run-recorded entry without a run id"
        if not isinstance(sha, str) or not _SHA256.match(sha):
            return "run-recorded entry without the SHA-256 of its scorecard"
        needed = {"restore": RESTORE_CRITERIA, "agent-drill": AGENT_DRILL_CRITERIA,
                  "failover": ("OBJ-RTO",), "full-dr": ("OBJ-RTO",)}[kind]
        if not set(needed) & set(criteria):
            return f"run-recorded entry whose passed criteria include none of {', '.join(needed)}"
        return None
    if source != "manual":
        return "not a manual entry (a tabletop is recorded by hand with --by and --ref)"
    if not all(isinstance(entry.get(f), str) and entry[f].strip() for f in ("by", "ref")):
        return "manual entry without who ran it (by) and a reference (ref)"
    return None


def newest_passing(ledger: Ledger, kind: str, target: str, now: datetime | None = None) -> tuple[int, dict] | None:
    """The newest passing entry of ``kind`` for ``target`` (by its ``at``) that counts for the
    schedule (see ``counts_for``), with its line number."""
    now = now or utcnow()
    best = None
    for number, entry in ledger.entries:
        if entry.get("kind") != kind or entry.get("target") != target or entry.get("result") != "passed":
            continue
        if counts_for(entry, kind) is not None:
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

def record_run(path: str | Path | None, *, run_id: str, target: str, passed_criteria: set[str],
               scorecard_sha256: str, failover: bool, now: datetime | None = None) -> list[dict]:
    """Append one run-recorded entry per drill this completed run performed and passed; returns them.

    * restore: REC-DB-PITR, REC-DB-SNAPSHOT or SCN-DATA-CORRUPTION passed;
    * agent-drill: REC-AGENT-STATE passed;
    * failover: ``failover`` (the run had an explicit incident start and its whole gate catalog
      passed within the RTO; the caller judges it);
    * full-dr: failover, and every gate and drill criterion of the catalog passed in this run.

    Each entry carries the run id, the target, every criterion that passed and the SHA-256 of the
    run's scorecard. ``path`` None records nothing. Refuses (LedgerError) to extend a ledger that
    fails verification.
    """
    from .catalog import catalog

    if path is None:
        return []
    passed = set(passed_criteria)
    kinds = []
    if passed & set(RESTORE_CRITERIA):
        kinds.append("restore")
    if set(AGENT_DRILL_CRITERIA) <= passed:
        kinds.append("agent-drill")
    if failover:
        kinds.append("failover")
        operational = {cid for cid, c in catalog().items() if c.kind in ("gate", "drill")}
        if operational <= passed:
            kinds.append("full-dr")
    if not kinds:
        return []
    if Path(path).exists():
        problems = verify(path)
        if problems:
            raise LedgerError(f"drill ledger {path} fails verification ({problems[0]}); not extending it")
    now = now or utcnow()
    notes = {"restore": "a restore drill passed", "agent-drill": "the agent-state restore drill passed",
             "failover": "failover: the whole gate passed within the RTO of the given incident start",
             "full-dr": "full DR: failover, and every gate and drill criterion passed"}
    return [append(path, {"kind": kind, "at": now, "target": target, "result": "passed", "source": "run",
                          "run_id": run_id, "scorecard_sha256": scorecard_sha256, "criteria": sorted(passed),
                          "note": f"recorded by pytest-kosmos-dr run {run_id}: {notes[kind]}"}, now)
            for kind in kinds]


def ledger_path_for_run(run, sandbox_state=None, *, live: bool = False) -> Path | None:
    """The ledger a target's run (``run.TargetRun``) reads and cites.

    ``--dr-ledger`` / ini ``dr_ledger`` when given; else, for the sandbox target, the ledger the
    sandbox published (None when it published none: nothing is read or recorded, and the
    repository's ledger is never touched by sandbox runs); else ``reports/drill-ledger.jsonl``.

    The sandbox's ledger lives in its state folder, which goes when the sandbox stops: the run seeds it
    when empty (``seed_sandbox_history``) and reads and cites its copy kept in the run's evidence folder
    (``reports/evidence/<run id>/drill-ledger.jsonl``); ``live=True`` gives the sandbox's own file (where
    the run records its drills before refreshing the copy).
    ``sandbox_state`` is the sandbox's ``SandboxState``, or a callable returning it (called only when
    needed); when not given, the state of the sandbox this run already used is taken (none is started).
    """
    from .incident_record import published_evidence_path

    explicit = run.config.getoption("dr_ledger") or run.config.getini("dr_ledger")
    if explicit or not run.target.is_sandbox:
        return run.options.ledger_path
    if callable(sandbox_state):
        sandbox_state = sandbox_state()
    if sandbox_state is None:
        running = run.running_sandbox  # the sandbox this target's run used, if any (never starts one)
        if running is not None:
            from .sandbox.state import SandboxState

            sandbox_state = SandboxState.of(running)
    published = published_evidence_path(sandbox_state, "ledger")
    if published is None:
        return None
    seed_sandbox_history(published, target=run.target.name)
    if live:
        return published
    from .evidence import keep

    return keep(published, run.evidence_dir)


def kept_ledgers(reports: str | Path) -> list[Path]:
    """The ledgers sandbox runs kept under ``reports/evidence/<run id>/``, newest first."""
    found = [p for p in Path(reports).glob("evidence/*/drill-ledger.jsonl") if p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def parse_when(raw: Any) -> datetime:
    """``--date`` for manual entries: a date (midnight UTC) or an ISO-8601 time."""
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise DRConfigError(f"--date: {exc}") from None
