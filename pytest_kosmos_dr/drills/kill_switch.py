"""The kill switch's changes (SCN-SECURITY-BREACH): engage and release, guarded and recorded.

The contract is the target's ``kill_switch`` table: ``GET <path>`` reads ``{"engaged", "reason", ...}``
and ``<method> <path>`` with ``{"engaged": true|false, "reason": "..."}`` changes it. Every change
first checks the run's drill permission (``guard.check``): without it nothing is sent, whatever
called us. Before engaging, the change is written to the run folder ("kill switch engaged by run X
at T, found released"), so ``kosmos-dr cleanup`` can release a switch a killed run left engaged,
and only while the switch still shows this run's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..clients import http as http_client
from ..errors import DRUnverifiable
from ..results import Evidence, trim
from ..target import KillSwitch
from . import changes, guard

if TYPE_CHECKING:
    import httpx


def reason_of(run_id: str) -> str:
    """The reason the drill engages with: names the run, so cleanup can tell the engagement is ours."""
    return f"DR drill SCN-SECURITY-BREACH by pytest-kosmos-dr run {run_id}: engaged and released within seconds"


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None


def show(answer) -> str:
    if isinstance(answer, str):
        return answer
    return f"HTTP {answer.status_code}\n{trim(answer.text, 600)}"


def shell(api: httpx.Client, method: str, path: str, body: dict | None = None) -> str:
    """The request to the KOSMOS API as shown in the evidence (and the curl a person would type)."""
    return http_client.as_curl(api, path, method=method, token_env="KOSMOS_API_TOKEN", body=body, quoted=False)


def request(api: httpx.Client, method: str, path: str, what: str, body: dict | None = None):
    """The response, or a one-line reason it did not answer (credentials rejected: DRUnverifiable)."""
    if method == "GET":
        return http_client.get(api, path, what)
    import httpx

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


def read(api: httpx.Client, contract: KillSwitch, evidence: list[Evidence] | None = None,
         title: str = "kill switch as found") -> dict | str:
    """The switch's state (a dict with a true/false ``engaged``), or a one-line reason why there is none."""
    answer = request(api, "GET", contract.path, "KOSMOS API kill switch")
    if evidence is not None:
        evidence.append(Evidence(title, shell(api, "GET", contract.path), show(answer)))
    if isinstance(answer, str):
        return f"GET {contract.path} did not answer: {answer}"
    body = _json(answer)
    if answer.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("engaged"), bool):
        return f"GET {contract.path} answered HTTP {answer.status_code}" + (
            "" if answer.status_code != 200 else " without an 'engaged' true/false")
    return body


def _send(api: httpx.Client, contract: KillSwitch, engaged: bool, reason: str, evidence: list[Evidence],
          title: str) -> str | None:
    """Change the switch; None when the API acknowledged the new state, else what went wrong."""
    method = contract.method.upper()
    body = {"engaged": engaged, "reason": reason}
    answer = request(api, method, contract.path, "KOSMOS API kill switch", body)
    evidence.append(Evidence(title, shell(api, method, contract.path, body), show(answer)))
    if isinstance(answer, str):
        return f"{method} {contract.path} did not answer: {answer}"
    if answer.status_code not in (200, 201, 202, 204):
        return f"{method} {contract.path} answered HTTP {answer.status_code}"
    state = _json(answer)
    if isinstance(state, dict) and state.get("engaged") not in (None, engaged):
        return f"{method} {contract.path} answered engaged={state.get('engaged')!r}"
    return None


@dataclass
class KillSwitchControl:
    """The kill switch of one run's target: every change guarded by the run's drill permission."""

    api: httpx.Client
    run: Any  # the run (its options, target, run id and folder)
    contract: KillSwitch
    engaged_record: dict | None = field(default=None, init=False)

    @classmethod
    def of(cls, api: httpx.Client, run) -> "KillSwitchControl":
        return cls(api, run, run.target.kill_switch)

    @property
    def reason(self) -> str:
        return reason_of(self.run.run_id)

    def read(self, evidence: list[Evidence] | None = None, title: str = "kill switch as found") -> dict | str:
        return read(self.api, self.contract, evidence, title)

    def engage(self, found: dict, evidence: list[Evidence]) -> str | None:
        """Engage a switch ``found`` released: guard, record, then send. None when acknowledged."""
        guard.check(self.run, f"engage the kill switch ({self.contract.method.upper()} {self.contract.path})")
        self.engaged_record = changes.record(
            self.run.run_dir, changes.KILL_SWITCH, target=self.run.target.name, run_id=self.run.run_id,
            api=str(self.api.base_url), path=self.contract.path, method=self.contract.method.upper(),
            reason=self.reason, found={"engaged": found.get("engaged"), "reason": found.get("reason")},
            note=f"kill switch engaged by run {self.run.run_id}, found released")
        return _send(self.api, self.contract, True, self.reason, evidence, "engage")

    def release(self, evidence: list[Evidence], why: str, title: str = "release") -> str | None:
        """Release the switch this run engaged. None when acknowledged (the record is then closed)."""
        guard.check(self.run, f"release the kill switch ({self.contract.method.upper()} {self.contract.path})")
        problem = _send(self.api, self.contract, False, why, evidence, title)
        if problem is None and self.engaged_record is not None:
            after = self.read()
            if isinstance(after, dict) and after.get("engaged") is False:
                changes.mark_undone(self.run.run_dir, self.engaged_record)
                self.engaged_record = None
        return problem

    def put_back(self, found: dict | str) -> str | None:
        """Teardown: a switch found released and engaged now is released (never one found engaged).
        Returns what it did (None when nothing was needed); raises when it could not."""
        if not isinstance(found, dict) or found.get("engaged") is not False:
            return None  # no switch, or found engaged: never touched
        now = self.read()
        if isinstance(now, dict) and now.get("engaged") is False:
            return None
        evidence: list[Evidence] = []
        problem = self.release(evidence, "DR drill teardown: back to how it was found (released)", "teardown release")
        if problem:
            raise RuntimeError(f"the kill switch could not be released after the drill ({problem}): release it by "
                               f"hand: {self.contract.method.upper()} {self.api.base_url}{self.contract.path} "
                               "{\"engaged\": false}")
        return "released the kill switch the drill had left engaged"


def release_recorded(api: httpx.Client, contract: KillSwitch, entry: dict, dry_run: bool = False) -> tuple[bool, str]:
    """``kosmos-dr cleanup``: release the switch a killed run engaged, only while it still shows that
    run's engagement (its reason). (done, one line saying what happened); done is False when the
    switch may still be engaged by that run."""
    run_id, reason = entry.get("run_id"), entry.get("reason")
    now = read(api, contract)
    if isinstance(now, str):
        return False, f"kill switch engaged by run {run_id}: could not read it ({now}); release it by hand"
    if now.get("engaged") is False:
        return True, f"kill switch engaged by run {run_id} at {entry.get('at')}: already released"
    if not reason or now.get("reason") != reason:
        return True, (f"kill switch engaged by run {run_id} at {entry.get('at')}: left engaged, it now shows "
                      f"another engagement (reason: {now.get('reason') or '-'})")
    if dry_run:
        return False, f"would release the kill switch run {run_id} engaged at {entry.get('at')} (found released)"
    evidence: list[Evidence] = []
    problem = _send(api, contract, False, f"kosmos-dr cleanup: releasing what DR drill run {run_id} engaged "
                    f"at {entry.get('at')} (it was found released)", evidence, "cleanup release")
    if problem:
        return False, f"kill switch engaged by run {run_id}: NOT released: {problem}"
    return True, f"kill switch engaged by run {run_id} at {entry.get('at')}: released (as it was found)"
