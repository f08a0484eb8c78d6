"""Testing Schedule (SCH-*): the drill ledger shows each exercise passed within its window.

Only evidence that was measured counts: for the restore, agent-state, failover and full-DR
schedules an entry recorded by the run that performed the drill (run id, passed criteria, SHA-256
of its scorecard); for the tabletop a manual entry naming who ran it and a reference. Entries the
sandbox seeded never count. A ledger that fails verification (edited, removed or reordered entries,
bad JSON, a bad HMAC, a head kept outside the file that is no longer in the chain) fails every
SCH criterion: a record that may have been tampered with proves nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from ..ledger import Ledger, counts_for, newest_passing
from ..results import CheckResult, Evidence
from ..target import Schedule
from ..timeparse import parse_instant, utcnow
from .communication import NotVerified, human

# criterion -> (ledger kind, the target's schedule.<key> holding its window, what the plan calls it)
SCHEDULE = {
    "SCH-RESTORE-MONTHLY": ("restore", "backup_restore", "restore drill"),
    "SCH-AGENT-DRILL-WEEKLY": ("agent-drill", "agent_drill", "agent-state drill"),
    "SCH-FAILOVER-QUARTERLY": ("failover", "failover_drill", "failover drill"),
    "SCH-FULL-DR-ANNUAL": ("full-dr", "full_simulation", "full DR simulation"),
    "SCH-TABLETOP-BIANNUAL": ("tabletop", "tabletop", "tabletop exercise"),
}


def window_of(criterion: str, windows: Schedule | None = None) -> timedelta:
    """How long the criterion's exercises may be apart: the target's ``schedule`` (None: its defaults)."""
    return getattr(windows if windows is not None else Schedule(), SCHEDULE[criterion][1])
COUNTING = {"restore": "run-recorded", "agent-drill": "run-recorded", "failover": "run-recorded",
            "full-dr": "run-recorded", "tabletop": "manual (with --by and --ref)"}


def chain_provenance(ledger: Ledger) -> str:
    """How far the chain itself was checked."""
    signed = ("every entry's HMAC verified with KOSMOS_DR_LEDGER_KEY" if ledger.key_checked
              else "HMAC not checked (KOSMOS_DR_LEDGER_KEY not set)")
    head = ("head kept outside the file found in the chain" if ledger.expected_head
            else "no head kept outside the file given (--dr-ledger-head)")
    return f"chain intact, {signed}, {head}"


def entry_provenance(ledger: Ledger, number: int, entry: dict) -> str:
    """Where one counting entry came from, for the scorecard and Allure."""
    seq = entry.get("seq", "?")
    if entry.get("source") == "run":
        sha = str(entry.get("scorecard_sha256", ""))
        what = (f"run-recorded ledger entry #{seq} (run {entry.get('run_id')}, scorecard sha256 {sha}, "
                f"{'signed' if 'hmac' in entry else 'unsigned'})")
    else:
        what = (f"manual ledger entry #{seq} by {entry.get('by')}, ref {entry.get('ref')} "
                f"(typed by hand, recorded by {entry.get('recorded_by', '?')} at {entry.get('recorded_at', '?')})")
    return f"{what} in {ledger.path} line {number}; {chain_provenance(ledger)}"


def drill_recency(criterion: str, ledger: Ledger, target: str, now: datetime | None = None, *,
                  windows: Schedule | None = None) -> CheckResult:
    """The newest counting passing entry of the criterion's kind, for ``target`` (its name), is within
    its window, read from ``windows`` (the target's ``schedule``; None: its defaults).

    Raises ``NotVerified`` when the target's only entries of the kind are the sandbox's seeded
    stand-ins (no drill was run: nothing to judge, never a pass). The result names ``criterion``: the
    ledger kind and window were looked up by it, so ``dr_check`` refuses it under another marker.
    """
    kind, _, what = SCHEDULE[criterion]
    window = window_of(criterion, windows)
    if window is None or window <= timedelta(0):
        return CheckResult(False, f"no window for the {what}: schedule.{SCHEDULE[criterion][1]} is "
                           f"{window!r} (expected a positive duration)", measured=None, limit=window,
                           criterion=criterion)
    now = now or utcnow()
    asked = (f"drill ledger {ledger.path}: newest {COUNTING[kind]} entry with kind={kind}, target={target}, "
             f"result=passed\n(shell: kosmos-dr ledger show --ledger {ledger.path})")
    if ledger.problems:
        shown = "; ".join(ledger.problems[:3]) + (f"; ... {len(ledger.problems) - 3} more"
                                                   if len(ledger.problems) > 3 else "")
        return CheckResult(False, f"ledger tampered: {shown} (expected an intact hash chain)",
                           measured=f"{len(ledger.problems)} problem(s)", limit="intact hash chain",
                           offenders=list(ledger.problems),
                           evidence=[Evidence("ledger verification", f"kosmos-dr ledger verify --ledger {ledger.path}",
                                              "\n".join(ledger.problems))],
                           provenance=f"drill ledger {ledger.path}: fails verification", criterion=criterion)
    found = newest_passing(ledger, kind, target, now)
    if found is None:
        ignored = Counter(counts_for(e, kind) for _, e in ledger.entries
                          if e.get("kind") == kind and e.get("target") == target and e.get("result") == "passed")
        ignored.pop(None, None)  # counting entries that are in the future
        listed = "; ".join(f"{n} ignored: {why}" for why, n in sorted(ignored.items()))
        seeded_only = bool(ignored) and all(why.startswith("sandbox-seeded") for why in ignored)
        provenance = f"drill ledger {ledger.path} ({len(ledger.entries)} entries; {listed or 'none of this kind'})"
        if seeded_only:
            raise NotVerified(f"no {COUNTING[kind]} {what} for target {target} in {ledger.path}: its only entries "
                              f"of this kind are sandbox-seeded stand-ins (no drill was run), which never count")
        return CheckResult(False, f"no {COUNTING[kind]} passing {what} for target {target} in "
                           f"{ledger.path} ({len(ledger.entries)} entries{'; ' + listed if listed else ''}), "
                           f"limit one within {human(window)}", measured=None, limit=window,
                           evidence=[Evidence(f"newest {kind}", asked, "none"),
                                     Evidence("where the evidence came from", "drill ledger", provenance)],
                           provenance=provenance, criterion=criterion)
    number, entry = found
    age = now - parse_instant(entry["at"])
    provenance = entry_provenance(ledger, number, entry)
    answer = f"line {number}: {entry['at']} {entry['kind']} {entry['result']} seq {entry['seq']}" \
             f" - {entry.get('note', '')}"
    ok = age <= window
    source = "run-recorded" if entry.get("source") == "run" else "manual"
    return CheckResult(ok, f"newest {source} passing {what} {human(age)} ago ({entry['at']}, ledger line "
                       f"{number}){'' if ok else ' (overdue)'}, limit {human(window)}", measured=age, limit=window,
                       evidence=[Evidence(f"newest {kind}", asked, answer),
                                 Evidence("where the evidence came from", "drill ledger", provenance)],
                       provenance=provenance, criterion=criterion)
