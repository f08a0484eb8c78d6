"""The DR scorecard: one verdict for the run, RTO/RPO against the objectives, per-section counts,
coverage of the plan's criteria, and each failed or unverified criterion with its reason.

Built on the controller from test reports only (so it works the same under pytest-xdist): each
report carries ``dr_criteria`` (IDs) and, for the call phase, ``dr_results`` (serialized
CheckResults, see ``serialize_result``); ``dr_outcome`` comes from ``outcomes.classify_report``.
"""

from __future__ import annotations

import textwrap

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..catalog import catalog
from ..evidence import format_value, precise_duration
from ..redaction import redact
from ..timeparse import isoformat

STATUSES = ("passed", "failed", "broken", "not verified", "not run")
# worse first: a criterion takes the worst status of its tests
_RANK = {"failed": 0, "broken": 1, "not verified": 2, "passed": 3, "not run": 4}
# The words of every output (terminal, scorecard text, Allure, docs). The JSON keys stay as they were
# (CI gates read them): status ``broken`` is "could not verify" (we tried to look and could not:
# unreachable, credentials, timeout); status ``not verified`` is "not verified" (nothing to judge it
# by: no evidence or input, or its only source is a lost region); verdict ``not verified`` (some
# criterion could not be verified) is COULD NOT VERIFY.
STATUS_WORDS = {"passed": "passed", "failed": "failed", "broken": "could not verify",
                "not verified": "not verified", "not run": "not run"}
VERDICT_WORDS = {"passed": "PASSED", "failed": "FAILED", "not verified": "COULD NOT VERIFY", "partial": "PARTIAL",
                 "interrupted": "INTERRUPTED", "nothing verified": "NOTHING VERIFIED"}
VERDICT_TEXT = {
    "passed": "PASSED: every gate criterion of the plan passed (preparedness ones of a lost region named), and "
              "every other criterion that ran",
    "failed": "FAILED: the DR environment does not meet the plan",
    "not verified": "COULD NOT VERIFY: nothing failed, but some criteria could not be verified (we could not look)",
    "partial": "PARTIAL: what ran passed, but not every gate criterion of the plan was verified",
    "interrupted": "INTERRUPTED: the run did not finish; nothing unfinished counts as passed",
    "nothing verified": "NOTHING VERIFIED: no DR criterion ran",
}
# What a test that never finished its call (Ctrl-C, a killed worker) is: never a pass.
UNFINISHED = "not run: interrupted before its check finished"
REGION_DOWN = "not verifiable while"  # the reason of a criterion whose only source is a lost region


# -- values that travel from xdist workers ---------------------------------------------------------
def json_value(value: Any) -> Any:
    """A measured value or limit as JSON: durations as {'seconds', 'text'}, the rest as-is or text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds(), "text": precise_duration(value.total_seconds())}
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_value(v) for v in value]
    return redact(format_value(value))


def serialize_result(result) -> dict[str, Any]:
    return {
        "criterion": result.criterion,
        "passed": bool(result.passed),
        "summary": redact(result.summary or ""),
        "measured": json_value(result.measured),
        "limit": json_value(result.limit),
        "offenders": [redact(str(o)) for o in result.offenders][:50],
        "provenance": redact(getattr(result, "provenance", "") or ""),
    }


def seconds_of(value: Any) -> float | None:
    """Seconds from a json_value duration (or a plain number of seconds)."""
    if isinstance(value, dict) and isinstance(value.get("seconds"), (int, float)):
        return float(value["seconds"])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


# -- collecting reports ---------------------------------------------------------------------------
@dataclass
class TestOutcome:
    nodeid: str
    criteria: list[str]
    status: str = "pending"  # until its call finished: only a finished, passing call is a pass
    reason: str = ""
    results: list[dict] = field(default_factory=list)
    finished: float | None = None  # epoch seconds of the call phase's end
    target: str | None = None  # with several targets: which one


class ScorecardCollector:
    """Fed with every test report (``add``), then ``build`` the scorecard."""

    def __init__(self) -> None:
        self.tests: dict[str, TestOutcome] = {}
        self.incidents: dict[str | None, dict[str, Any]] = {}  # per target (None: the only one)

    def add(self, report) -> None:
        criteria = list(getattr(report, "dr_criteria", None) or
                        [v for k, v in getattr(report, "user_properties", []) if k == "dr_criterion"])
        target = next((v for k, v in getattr(report, "user_properties", []) if k == "dr_target"), None)
        incident = getattr(report, "dr_incident", None)
        if isinstance(incident, dict):
            self.incidents.setdefault(target, {}).update({k: v for k, v in incident.items() if v})
        if not criteria:
            return
        test = self.tests.setdefault(report.nodeid, TestOutcome(report.nodeid, list(dict.fromkeys(criteria)),
                                                                target=target))
        test.results += list(getattr(report, "dr_results", None) or [])
        if report.when == "call":
            test.finished = getattr(report, "stop", None)
        if report.failed:
            status = "broken" if getattr(report, "dr_outcome", None) == "broken" or report.when != "call" else "failed"
            if getattr(report, "dr_outcome", None) == "failed":
                status = "failed"
            if test.status in ("pending", "passed"):
                test.status, test.reason = status, _reason(report)
        elif report.skipped and test.status == "pending":
            # "not verified: ..." (no evidence) vs skipped by choice (e.g. a drill without permission)
            test.reason = _skip_reason(report)
            test.status = "not verified" if test.reason.startswith("not verified") else "not run"
        elif report.passed and report.when == "call" and test.status == "pending":
            test.status = "passed"

    def finished_tests(self) -> list[TestOutcome]:
        """Every test with its final status; a test whose call never finished is not run, never passed."""
        for test in self.tests.values():
            if test.status == "pending":
                test.status, test.reason = "not run", UNFINISHED
        return list(self.tests.values())


def _reason(report) -> str:
    from ..outcomes import one_line_reason

    return one_line_reason(report)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return redact(str(longrepr[2]).removeprefix("Skipped: "))
    return redact(str(longrepr or "skipped"))


# -- the scorecard --------------------------------------------------------------------------------
def build(tests, target, exitstatus=None, objectives=None, incident=None, interrupted: bool = False) -> dict[str, Any]:
    known = catalog()
    tests = [t if t.status != "pending" else TestOutcome(t.nodeid, t.criteria, "not run", UNFINISHED, t.results,
                                                         t.finished, t.target) for t in tests]
    per_criterion: dict[str, list[TestOutcome]] = {}
    for test in tests:
        for cid in test.criteria:
            per_criterion.setdefault(cid, []).append(test)

    criteria_rows = []
    problems = []
    for cid, crit in known.items():
        ran = per_criterion.get(cid, [])
        # a test not verifiable because its region is down does not count against another test of the
        # same criterion that verified it from the DR region (e.g. the cross-region restore)
        judged = [t for t in ran if not (t.status == "not verified" and REGION_DOWN in t.reason)]
        if any(t.status == "passed" for t in judged):
            ran = judged
        status = min((t.status for t in ran), key=_RANK.__getitem__) if ran else "not run"
        row = {"id": cid, "section": crit.section, "kind": crit.kind, "title": crit.title,
               "status": status, "tests": [t.nodeid for t in ran]}
        sources = sorted({r["provenance"] for t in ran for r in t.results
                          if r.get("criterion") == cid and r.get("provenance")})
        if sources:
            row["evidence_source"] = "; ".join(sources)
        if status in ("failed", "broken", "not verified") or (ran and status == "not run"):
            worst = next(t for t in ran if t.status == status)
            row["reason"] = worst.reason
            if status in ("failed", "broken"):
                problems.append({"criterion": cid, "status": status, "title": crit.title,
                                 "test": worst.nodeid, "reason": worst.reason})
        criteria_rows.append(row)
    for cid in per_criterion.keys() - known.keys():  # not in the catalog (should not happen)
        criteria_rows.append({"id": cid, "section": "unknown", "kind": "", "title": "",
                              "status": min((t.status for t in per_criterion[cid]), key=_RANK.__getitem__),
                              "tests": [t.nodeid for t in per_criterion[cid]]})

    sections: dict[str, dict[str, int]] = {}
    for row in criteria_rows:
        counts = sections.setdefault(row["section"], {s: 0 for s in STATUSES})
        counts[row["status"]] += 1
    totals = {s: sum(c[s] for c in sections.values()) for s in STATUSES}
    test_totals = {s: sum(1 for t in tests if t.status == s) for s in STATUSES}

    roles = {cid: crit.role for cid, crit in known.items()}
    region_down = [r["id"] for r in criteria_rows if r["kind"] == "gate" and roles.get(r["id"]) == "preparedness"
                   and r["status"] == "not verified" and REGION_DOWN in (r.get("reason") or "")]
    # every gate criterion must pass; a preparedness one whose region is down is named, not required
    gate_unverified = [r["id"] for r in criteria_rows if r["kind"] == "gate" and r["status"] != "passed"
                       and r["id"] not in region_down]
    if interrupted:
        verdict = "interrupted"
    elif totals["failed"]:
        verdict = "failed"
    elif totals["broken"]:
        verdict = "not verified"
    elif not totals["passed"]:
        verdict = "nothing verified"
    elif gate_unverified:
        verdict = "partial"
    else:
        verdict = "passed"

    not_run = [r["id"] for r in criteria_rows if r["status"] == "not run"]
    return {
        "schema": 1,
        "generated_at": isoformat(datetime.now(timezone.utc)),
        "target": {"name": target.name, "kind": target.kind, "production": bool(target.production)},
        "verdict": verdict,
        "verdict_text": VERDICT_TEXT[verdict],
        "gate_not_verified": gate_unverified,
        "not_verifiable_region_down": region_down,
        "pytest_exit_status": exitstatus,
        "incident": {k: redact(str(v)) for k, v in (incident or {}).items()},
        "objectives": {
            "rto": _objective("OBJ-RTO", per_criterion, objectives.rto if objectives else None),
            "rpo": _objective("OBJ-RPO", per_criterion, objectives.rpo if objectives else None),
        },
        "totals": {"criteria": totals, "tests": test_totals},
        "sections": [{"section": name, **counts} for name, counts in sections.items()],
        "coverage": {
            "criteria_in_plan": len(known),
            "criteria_run": len(known) - len(not_run),
            "not_run": not_run,
        },
        "problems": problems,
        "criteria": criteria_rows,
    }


def _objective(cid: str, per_criterion: dict[str, list[TestOutcome]], objective: timedelta | None) -> dict | None:
    """RTO/RPO measured vs limit, from the criterion's CheckResult (None when it did not run)."""
    tests = per_criterion.get(cid)
    if not tests:
        return None
    results = [r for t in tests for r in t.results if r.get("criterion") == cid]
    status = min((t.status for t in tests), key=_RANK.__getitem__)
    out: dict[str, Any] = {"criterion": cid, "status": status}
    if objective is not None:
        out["objective"] = json_value(objective)
    if results:
        last = results[-1]
        out.update(measured=last["measured"], limit=last["limit"], summary=last["summary"], passed=last["passed"])
        measured_s = seconds_of(last["measured"])
        limit_s = seconds_of(last["limit"]) or (objective.total_seconds() if objective else None)
        if measured_s is not None and limit_s is not None:
            out["within"] = measured_s <= limit_s
            out["margin"] = json_value(timedelta(seconds=limit_s - measured_s))
    else:
        out["reason"] = tests[0].reason
    return out


# -- output ---------------------------------------------------------------------------------------
def write(card: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = redact(json.dumps(card, indent=2, ensure_ascii=False))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _objective_line(name: str, obj: dict | None) -> str:
    if obj is None:
        return f"{name}: not measured (its criterion did not run)"
    if "measured" not in obj:
        return f"{name}: {obj['status']} - {obj.get('reason') or 'no measurement'}"
    within = obj.get("within")
    mark = "within" if within else ("MISSED" if within is False else obj["status"])
    if obj.get("summary"):
        return f"{name}: {mark.upper() if mark == 'MISSED' else mark} - {obj['summary']}"
    return f"{name}: {format_json_value(obj['measured'])} (objective {format_json_value(obj['limit'])}) - {mark}"


def format_json_value(value: Any) -> str:
    if isinstance(value, dict) and "text" in value:
        return str(value["text"])
    if isinstance(value, dict):
        return ", ".join(f"{k}: {format_json_value(v)}" for k, v in value.items())
    return format_value(value)


def terminal_lines(card: dict[str, Any], path: Path | None) -> list[str]:
    """The scorecard as the last lines of the terminal summary."""
    t = card["totals"]["criteria"]
    lines = [
        f"target {card['target']['name']} ({card['target']['kind']}): {card['verdict_text']}",
        *([f"gate criteria not verified in this run ({len(card['gate_not_verified'])}): "
           + ", ".join(card["gate_not_verified"])] if card.get("gate_not_verified") and card["verdict"] != "passed"
          else []),
        _objective_line("RTO", card["objectives"]["rto"]),
        _objective_line("RPO", card["objectives"]["rpo"]),
        f"criteria: {t['passed']} passed, {t['failed']} failed, {t['broken']} could not verify, "
        f"{t['not verified']} not verified (no evidence), {t['not run']} not run "
        f"(of {card['coverage']['criteria_in_plan']} in the plan)",
    ]
    width = max(len(s["section"]) for s in card["sections"]) if card["sections"] else 0
    for s in card["sections"]:
        cells = "  ".join(f"{s[k]:>2} {STATUS_WORDS[k]}" for k in STATUSES)
        lines.append(f"  {s['section']:<{width}}  {cells}")
    for status in STATUSES:  # coverage: every criterion of the plan with its outcome
        ids = [row["id"] for row in card["criteria"] if row["status"] == status]
        if ids:
            lines += textwrap.wrap(", ".join(ids), width=100, break_on_hyphens=False,
                                   initial_indent=f"  {STATUS_WORDS[status]} ({len(ids)}): ",
                                   subsequent_indent="      ")
    if card.get("not_verifiable_region_down"):
        lines += textwrap.wrap(", ".join(card["not_verifiable_region_down"]), width=100, break_on_hyphens=False,
                               initial_indent=f"  not verifiable while a region is down "
                                              f"({len(card['not_verifiable_region_down'])}, preparedness): ",
                               subsequent_indent="      ")
    # each failed or could-not-verify test was printed once above it (pytest's FAILURES, the "could not
    # verify" section): the scorecard names the criteria by status, the JSON keeps each reason (problems)
    for row in card["criteria"]:
        if row.get("evidence_source"):
            lines.append(f"evidence {row['id']} ({row['status']}): {row['evidence_source']}")
    if path is not None:
        lines.append(f"scorecard: {path}")
    return [redact(line) for line in lines]
