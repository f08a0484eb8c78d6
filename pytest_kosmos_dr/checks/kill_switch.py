"""Security breach scenario (SCN-SECURITY-BREACH): the kill switch exists and works (a drill).

The switch's contract comes from the target's ``kill_switch`` table (method, path, probe_path,
engaged_codes, wait): ``GET <path>`` -> ``{"engaged": bool, "reason", ...}``; ``<method> <path>`` with
``{"engaged": true|false, "reason": "..."}``. Engaged, agent work (``probe_path``) is refused with one
of ``engaged_codes``; released, it is served again.

The drill: read the switch as found; a probe to the agent must be answered first (else a refusal
would prove nothing); engage; agent work must be refused within ``wait``; release; agent work
must be answered again within ``wait``; the switch must read released. Each poll is recorded.
Changes go through ``drills.kill_switch`` (guarded by the run's drill permission, recorded in the
run folder before they are made). A switch found engaged (a real incident, or someone's decision)
is left alone and the drill is not run (DRUnverifiable: could not verify).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Callable

from ..clients import http as http_client
from ..drills import guard
from ..drills.kill_switch import KillSwitchControl, shell, show
from ..errors import DRUnverifiable
from ..evidence import attempt
from ..results import CheckResult, Evidence, trim

if TYPE_CHECKING:
    import httpx

POLL_FIRST_S = 0.2  # first pause between polls; doubles up to POLL_MAX_S
POLL_MAX_S = 2.0


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _eventually(api: httpx.Client, path: str, wait: float, done: Callable[[object], bool], label: str,
                evidence: list[Evidence], title: str) -> tuple[bool, float, list[str], str]:
    """Probe ``path`` until ``done(answer)`` or ``wait`` s have passed; every attempt is recorded.

    Returns (done, seconds taken, the attempts, the last answer in short)."""
    started = time.monotonic()
    pause = POLL_FIRST_S
    attempts: list[str] = []
    while True:
        number = len(attempts) + 1
        with attempt(f"{label}: try {number}: GET {path}"):
            answer = http_client.get(api, path, f"agent probe {path}")
        elapsed = time.monotonic() - started
        shown = answer if isinstance(answer, str) else f"HTTP {answer.status_code} {trim(answer.text, 160)}"
        attempts.append(f"try {number} at {elapsed:.1f} s: {shown}")
        ok = done(answer)
        if ok or elapsed >= wait:
            evidence.append(Evidence(title, shell(api, "GET", path) + f"\n(polled every {POLL_FIRST_S:g}-"
                                     f"{POLL_MAX_S:g} s for at most {wait:g} s)", "\n".join(attempts)))
            return ok, elapsed, attempts, _short(answer)
        time.sleep(min(pause, wait - elapsed))  # the last try comes at the end of the wait
        pause = min(pause * 2, POLL_MAX_S)


def _short(answer) -> str:
    if isinstance(answer, str):
        return answer
    body = _json(answer)
    error = body.get("error") if isinstance(body, dict) else None
    return f"HTTP {answer.status_code}" + (f" ({error})" if error else "")


def _tries(n: int) -> str:
    return f"{n} try" if n == 1 else f"{n} tries"


def _served(answer) -> bool:
    return not isinstance(answer, str) and answer.status_code == 200


def drill(control: KillSwitchControl, agent: str) -> CheckResult:
    """SCN-SECURITY-BREACH: engaged, the kill switch stops agent work; released, service returns."""
    api, contract = control.api, control.contract
    codes = tuple(contract.engaged_codes)
    wait_s = contract.wait.total_seconds()
    limit = f"refused (HTTP {' or '.join(map(str, codes))}), then served again, each within {wait_s:g} s"
    evidence: list[Evidence] = []
    guard.check(control.run, "the kill switch drill")  # refused before anything is asked or sent
    found = control.read(evidence)
    if isinstance(found, str):
        return CheckResult(False, f"no usable kill switch: {found}", measured=found, limit="GET 200 "
                           "{engaged: true|false}", evidence=evidence)
    if found["engaged"]:
        raise DRUnverifiable("kill switch", f"found engaged since {found.get('since') or '?'} "
                             f"(reason: {found.get('reason') or '-'}); drill not run, the switch is left engaged",
                             "release it deliberately (or wait for whoever engaged it), then run the drill again")
    if not codes:
        return CheckResult(False, "kill_switch.engaged_codes is empty: a refusal could not be recognised",
                           measured=[], limit=">= 1 HTTP code", evidence=evidence)
    path = contract.probe_path.format(agent=agent)
    baseline = http_client.get(api, path, f"agent probe {agent}")
    evidence.append(Evidence("agent work before the drill", shell(api, "GET", path), show(baseline)))
    if not _served(baseline):
        raise DRUnverifiable(f"agent probe {agent}", f"not served before the drill ({show(baseline).splitlines()[0]})",
                             "a refusal would prove nothing; fix agent routing (VAL-AGENT-ROUTING) first")

    def refused(answer) -> bool:
        return not isinstance(answer, str) and answer.status_code in codes

    problem = control.engage(found, evidence)
    if problem:
        # it may have been engaged all the same: release it (harmless when it was not)
        control.release(evidence, "DR drill: engaging failed, releasing", "release after the failed engage")
        return CheckResult(False, f"could not engage the kill switch: {problem}", measured=problem,
                           limit=limit, evidence=evidence)
    guard.pause_point("kill-switch-engaged")
    was_refused, refused_after, tries, last = _eventually(api, path, wait_s, refused, "engaged", evidence,
                                                          "agent work while engaged")
    release_problem = control.release(evidence, "DR drill over: releasing")
    back, back_after, back_tries, back_last = (False, 0.0, [], "")
    if release_problem is None:
        back, back_after, back_tries, back_last = _eventually(api, path, wait_s, _served, "released", evidence,
                                                              "agent work after release")
    after = control.read()
    evidence.append(Evidence("kill switch after the drill", shell(api, "GET", contract.path),
                             json.dumps(after) if isinstance(after, dict) else after))
    left_released = isinstance(after, dict) and after.get("engaged") is False

    problems = []
    if not was_refused:
        problems.append(f"agent work still answered with the switch engaged: probe to {agent} answered "
                        f"{last} on all {_tries(len(tries))} over {refused_after:.1f} s "
                        f"(expected HTTP {' or '.join(map(str, codes))} within {wait_s:g} s)")
    if release_problem:
        problems.append(f"could not release the kill switch: {release_problem}")
    elif not back:
        problems.append(f"service did not come back within {wait_s:g} s after the release: probe to {agent} "
                        f"answered {back_last} on all {_tries(len(back_tries))}"
                        + (" (the switch reads released)" if left_released else ""))
    if not left_released:
        shown = json.dumps(after) if isinstance(after, dict) else after
        problems.append(f"the switch is not left released as found: {shown}")
    measured = {"refused after": f"{refused_after:.1f} s" if was_refused else "never",
                "served again after": f"{back_after:.1f} s" if back else "never"}
    if problems:
        return CheckResult(False, "kill switch drill: " + "; ".join(problems), measured=measured, limit=limit,
                           offenders=problems, evidence=evidence)
    return CheckResult(True, f"kill switch drill: engaged -> agent work refused after {refused_after:.1f} s "
                       f"({_tries(len(tries))}); released -> served again after {back_after:.1f} s "
                       f"({_tries(len(back_tries))}); limit {wait_s:g} s each; left released as found",
                       measured=measured, limit=limit, evidence=evidence)
