"""Testing Schedule (SCH-*): the drill ledger shows each exercise passed within its window.

A ledger that fails verification (edited, removed or reordered entries, bad JSON) fails every
SCH criterion: a record that may have been tampered with proves nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..ledger import Ledger, newest_passing
from ..results import CheckResult, Evidence
from ..timeparse import parse_instant, utcnow
from .communication import human

# criterion -> (ledger kind, window, what the plan calls it)
SCHEDULE = {
    "SCH-RESTORE-MONTHLY": ("restore", timedelta(days=31), "restore drill"),
    "SCH-AGENT-DRILL-WEEKLY": ("agent-drill", timedelta(days=7), "agent-state drill"),
    "SCH-FAILOVER-QUARTERLY": ("failover", timedelta(days=92), "failover drill"),
    "SCH-FULL-DR-ANNUAL": ("full-dr", timedelta(days=366), "full DR simulation"),
    "SCH-TABLETOP-BIANNUAL": ("tabletop", timedelta(days=183), "tabletop exercise"),
}


def drill_recency(criterion: str, ledger: Ledger, target: str, now: datetime | None = None) -> CheckResult:
    """The newest passing entry of the criterion's kind, for ``target``, is within its window."""
    kind, window, what = SCHEDULE[criterion]
    now = now or utcnow()
    asked = (f"drill ledger {ledger.path}: newest entry with kind={kind}, target={target}, result=passed\n"
             f"(shell: kosmos-dr ledger show --ledger {ledger.path})")
    if ledger.problems:
        shown = "; ".join(ledger.problems[:3]) + (f"; ... {len(ledger.problems) - 3} more"
                                                   if len(ledger.problems) > 3 else "")
        return CheckResult(criterion, False, f"ledger tampered: {shown} (expected an intact hash chain)",
                           measured=f"{len(ledger.problems)} problem(s)", limit="intact hash chain",
                           offenders=list(ledger.problems),
                           evidence=[Evidence("ledger verification", f"kosmos-dr ledger verify --ledger {ledger.path}",
                                              "\n".join(ledger.problems))])
    found = newest_passing(ledger, kind, target, now)
    if found is None:
        return CheckResult(criterion, False, f"no passing {what} for target {target} in {ledger.path} "
                           f"({len(ledger.entries)} entries), limit one within {human(window)}",
                           measured=None, limit=window,
                           evidence=[Evidence(f"newest {kind}", asked, "none")])
    number, entry = found
    age = now - parse_instant(entry["at"])
    answer = f"line {number}: {entry['at']} {entry['kind']} {entry['result']} seq {entry['seq']}" \
             f" - {entry.get('note', '')}"
    ok = age <= window
    return CheckResult(criterion, ok, f"newest passing {what} {human(age)} ago ({entry['at']}, ledger line {number})"
                       f"{'' if ok else ' (overdue)'}, limit {human(window)}", measured=age, limit=window,
                       evidence=[Evidence(f"newest {kind}", asked, answer)])
