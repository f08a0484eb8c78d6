"""Security breach scenario (SCN-SECURITY-BREACH): the kill switch exists and works (a drill).

The KOSMOS API's kill switch: ``GET /v1/admin/kill-switch`` -> ``{"engaged": bool, "since", "reason"}``,
``PUT /v1/admin/kill-switch`` with ``{"engaged": true|false, "reason": "..."}``. Engaged, the API
refuses agent work (HTTP 503 or 423 on per-agent endpoints); released, agent work is served again.

The drill: read the switch as found; a probe to the agent must be answered first (else a refusal
would prove nothing); engage; agent work must be refused within ``wait``; release; agent work
must be answered again within ``wait``; the switch must read released. Each poll is recorded.
It only ever *releases* a switch it engaged itself: a switch found engaged (a real incident, or
someone's decision) is left alone and the drill is not run (DRUnverifiable: could not verify).
``restore`` is for a fixture's teardown: it puts the switch back as found, whatever happened.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Callable

import httpx

from ..clients import http as http_client
from ..errors import DRUnverifiable
from ..evidence import attempt
from ..results import CheckResult, Evidence, trim

PATH = "/v1/admin/kill-switch"
PROBE = "/v1/agents/{agent}/probe"
REFUSED = (423, 503)  # what the API answers agent work with while the switch is engaged
REASON = "DR drill SCN-SECURITY-BREACH (pytest-kosmos-dr): engaged and released within seconds"
POLL_FIRST_S = 0.2  # first pause between polls; doubles up to POLL_MAX_S
POLL_MAX_S = 2.0


def _curl(api: httpx.Client, method: str, path: str, body: dict | None = None) -> str:
    data = f" -H 'Content-Type: application/json' -d '{json.dumps(body)}'" if body is not None else ""
    shown = f"{method} {api.base_url}{path}" + (f" {json.dumps(body)}" if body is not None else "")
    return (f"{shown}\n(shell: curl -sS -X {method} -H \"Authorization: Bearer $KOSMOS_API_TOKEN\"{data} "
            f"{api.base_url}{path})")


def _json(response: httpx.Response):
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def _request(api: httpx.Client, method: str, path: str, what: str, body: dict | None = None):
    """Like ``clients.http.get`` for any method: the response, or a one-line reason it did not answer."""
    if method == "GET":
        return http_client.get(api, path, what)
    try:
        response = api.request(method, path, json=body)
    except httpx.HTTPError as exc:
        if http_client.is_cannot_look(exc):
            raise DRUnverifiable(what, http_client.describe_error(exc), "check the URL, DNS and CA bundle") from None
        return http_client.describe_error(exc)
    if response.status_code in (401, 403):
        raise DRUnverifiable(what, f"HTTP {response.status_code}: credentials rejected",
                             "the drill needs a token allowed to operate the kill switch")
    return response


def _show(answer) -> str:
    if isinstance(answer, str):
        return answer
    return f"HTTP {answer.status_code}\n{trim(answer.text, 600)}"


def read_state(api: httpx.Client, evidence: list[Evidence] | None = None) -> dict | str:
    """The switch's state (a dict with ``engaged``), or a one-line reason why there is none."""
    answer = _request(api, "GET", PATH, "KOSMOS API kill switch")
    if evidence is not None:
        evidence.append(Evidence("kill switch as found", _curl(api, "GET", PATH), _show(answer)))
    if isinstance(answer, str):
        return f"GET {PATH} did not answer: {answer}"
    body = _json(answer)
    if answer.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("engaged"), bool):
        return f"GET {PATH} answered HTTP {answer.status_code}" + (
            "" if answer.status_code != 200 else " without an 'engaged' true/false")
    return body


def _set(api: httpx.Client, engaged: bool, reason: str, evidence: list[Evidence], title: str) -> str | None:
    """PUT the switch; None when the API acknowledged the new state, else what went wrong."""
    body = {"engaged": engaged, "reason": reason}
    answer = _request(api, "PUT", PATH, "KOSMOS API kill switch", body)
    evidence.append(Evidence(title, _curl(api, "PUT", PATH, body), _show(answer)))
    if isinstance(answer, str):
        return f"PUT {PATH} did not answer: {answer}"
    state = _json(answer)
    if answer.status_code not in (200, 202, 204):
        return f"PUT {PATH} answered HTTP {answer.status_code}"
    if isinstance(state, dict) and state.get("engaged") not in (None, engaged):
        return f"PUT {PATH} answered engaged={state.get('engaged')!r}"
    return None


def _eventually(api: httpx.Client, agent: str, wait: float, done: Callable[[object], bool], label: str,
                evidence: list[Evidence], title: str) -> tuple[bool, float, list[str], str]:
    """Probe ``agent`` until ``done(answer)`` or ``wait`` s have passed; every attempt is recorded.

    Returns (done, seconds taken, the attempts, the last answer in short)."""
    path = PROBE.format(agent=agent)
    started = time.monotonic()
    pause = POLL_FIRST_S
    attempts: list[str] = []
    while True:
        number = len(attempts) + 1
        with attempt(f"{label}: try {number}: GET {path}"):
            answer = http_client.get(api, path, f"agent probe {agent}")
        elapsed = time.monotonic() - started
        shown = answer if isinstance(answer, str) else f"HTTP {answer.status_code} {trim(answer.text, 160)}"
        attempts.append(f"try {number} at {elapsed:.1f} s: {shown}")
        ok = done(answer)
        if ok or elapsed >= wait:
            evidence.append(Evidence(title, _curl(api, "GET", path) + f"\n(polled every {POLL_FIRST_S:g}-"
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


def _refused(answer) -> bool:
    return not isinstance(answer, str) and answer.status_code in REFUSED


def drill(api: httpx.Client, agent: str, wait: timedelta) -> CheckResult:
    """SCN-SECURITY-BREACH: engaged, the kill switch stops agent work; released, service returns."""
    cid = "SCN-SECURITY-BREACH"
    wait_s = wait.total_seconds()
    limit = f"refused, then served again, each within {wait_s:g} s"
    evidence: list[Evidence] = []
    found = read_state(api, evidence)
    if isinstance(found, str):
        return CheckResult(cid, False, f"no usable kill switch: {found}", measured=found, limit="GET 200 "
                           "{engaged: true|false}", evidence=evidence)
    if found["engaged"]:
        raise DRUnverifiable("kill switch", f"found engaged since {found.get('since') or '?'} "
                             f"(reason: {found.get('reason') or '-'}); drill not run, the switch is left engaged",
                             "release it deliberately (or wait for whoever engaged it), then run the drill again")
    path = PROBE.format(agent=agent)
    baseline = http_client.get(api, path, f"agent probe {agent}")
    evidence.append(Evidence("agent work before the drill", _curl(api, "GET", path), _show(baseline)))
    if not _served(baseline):
        raise DRUnverifiable(f"agent probe {agent}", f"not served before the drill ({_show(baseline).splitlines()[0]})",
                             "a refusal would prove nothing; fix agent routing (VAL-AGENT-ROUTING) first")

    problem = _set(api, True, REASON, evidence, "engage")
    if problem:
        # it may have been engaged all the same: release it (harmless when it was not)
        _set(api, False, "DR drill: engaging failed, releasing", evidence, "release after the failed engage")
        return CheckResult(cid, False, f"could not engage the kill switch: {problem}", measured=problem,
                           limit=limit, evidence=evidence)
    refused, refused_after, tries, last = _eventually(api, agent, wait_s, _refused, "engaged", evidence,
                                                "agent work while engaged")
    release_problem = _set(api, False, "DR drill over: releasing", evidence, "release")
    back, back_after, back_tries, back_last = (False, 0.0, [], "")
    if release_problem is None:
        back, back_after, back_tries, back_last = _eventually(api, agent, wait_s, _served, "released", evidence,
                                                   "agent work after release")
    after = read_state(api)
    evidence.append(Evidence("kill switch after the drill", _curl(api, "GET", PATH),
                             json.dumps(after) if isinstance(after, dict) else after))
    left_released = isinstance(after, dict) and after.get("engaged") is False

    problems = []
    if not refused:
        problems.append(f"agent work still answered with the switch engaged: probe to {agent} answered "
                        f"{last} on all {_tries(len(tries))} over {refused_after:.1f} s "
                        f"(expected HTTP {' or '.join(map(str, REFUSED))} within {wait_s:g} s)")
    if release_problem:
        problems.append(f"could not release the kill switch: {release_problem}")
    elif not back:
        problems.append(f"service did not come back within {wait_s:g} s after the release: probe to {agent} "
                        f"answered {back_last} on all {_tries(len(back_tries))}"
                        + (" (the switch reads released)" if left_released else ""))
    if not left_released:
        shown = json.dumps(after) if isinstance(after, dict) else after
        problems.append(f"the switch is not left released as found: {shown}")
    measured = {"refused after": f"{refused_after:.1f} s" if refused else "never",
                "served again after": f"{back_after:.1f} s" if back else "never"}
    if problems:
        return CheckResult(cid, False, "kill switch drill: " + "; ".join(problems), measured=measured, limit=limit,
                           offenders=problems, evidence=evidence)
    return CheckResult(cid, True, f"kill switch drill: engaged -> agent work refused after {refused_after:.1f} s "
                       f"({_tries(len(tries))}); released -> served again after {back_after:.1f} s "
                       f"({_tries(len(back_tries))}); limit {wait_s:g} s each; left released as found",
                       measured=measured, limit=limit, evidence=evidence)


def restore(api: httpx.Client, found: dict | str) -> str | None:
    """Put the switch back as ``found`` (fixture teardown). Only ever *releases*, and only a switch found
    released. Returns what it did (None when nothing was needed); raises when it could not."""
    if not isinstance(found, dict) or found.get("engaged") is not False:
        return None  # no switch, or found engaged: never touched
    now = read_state(api)
    if isinstance(now, dict) and now.get("engaged") is False:
        return None
    answer = _request(api, "PUT", PATH, "KOSMOS API kill switch",
                      {"engaged": False, "reason": "DR drill teardown: back to how it was found (released)"})
    if isinstance(answer, str) or answer.status_code not in (200, 202, 204):
        raise RuntimeError(f"the kill switch could not be released after the drill ({_show(answer).splitlines()[0]}): "
                           f"release it by hand: PUT {api.base_url}{PATH} {{\"engaged\": false}}")
    return "released the kill switch the drill had left engaged"
