"""The kill-switch drill on plain data: the target's contract (method, path, probe path, codes, wait), the
guard inside the code that sends, the engagement recorded before it is made, cleanup's release."""

import json
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from pytest_kosmos_dr.checks import kill_switch
from pytest_kosmos_dr.drills import changes
from pytest_kosmos_dr.drills.guard import DrillRefused
from pytest_kosmos_dr.drills.kill_switch import KillSwitchControl, reason_of, release_recorded
from pytest_kosmos_dr.target import KillSwitch

from degenerate_kill_switch import run

ALTERNATE = KillSwitch(method="POST", path="/api/admin/kill-switch", probe_path="/api/agents/{agent}/work",
                       engaged_codes=(503,), wait=timedelta(seconds=0.5))


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):
    """The retries and polls still happen, without their pauses: an engaged switch's 503 is retried as
    transient by ``clients.http.get`` (1 s of backoff per probe) and a refusal is polled for the whole wait."""
    from pytest_kosmos_dr.clients import http

    monkeypatch.setattr(http, "RETRY_BACKOFF_S", (0.0, 0.0))
    monkeypatch.setattr(kill_switch, "POLL_FIRST_S", 0.01)
    monkeypatch.setattr(kill_switch, "POLL_MAX_S", 0.05)


class FakeApi:
    """A KOSMOS API that keeps a switch behind ``contract`` and refuses agent work with ``code`` while engaged."""

    def __init__(self, contract: KillSwitch, code: int = 503, engaged: bool = False, reason: str | None = None):
        self.contract, self.code = contract, code
        self.state = {"engaged": engaged, "reason": reason}
        self.requests: list[tuple[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if request.url.path == self.contract.path:
            if request.method == "GET":
                return httpx.Response(200, json=self.state)
            if request.method != self.contract.method:
                return httpx.Response(405)
            body = json.loads(request.content)
            self.state = {"engaged": body["engaged"], "reason": body["reason"]}
            return httpx.Response(200, json=self.state)
        if request.url.path == self.contract.probe_path.format(agent="zeus-orchestrator"):
            return httpx.Response(self.code if self.state["engaged"] else 200, json={})
        return httpx.Response(404)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler), base_url="http://api.test")

    def mutations(self) -> list:
        return [r for r in self.requests if r[0] != "GET"]


def test_the_drill_follows_the_targets_contract():
    api = FakeApi(ALTERNATE)
    result = kill_switch.drill(KillSwitchControl(api.client(), run(), ALTERNATE), "zeus-orchestrator")
    assert result.passed, result.summary
    assert api.mutations() == [("POST", "/api/admin/kill-switch")] * 2
    assert ("GET", "/api/agents/zeus-orchestrator/work") in api.requests and api.state["engaged"] is False


def test_a_refusal_code_outside_the_contract_is_no_refusal():
    contract = replace(ALTERNATE, wait=timedelta(seconds=0.05))  # refused never comes: polled for the whole wait
    api = FakeApi(contract, code=423)  # the alternate contract says 503 only
    result = kill_switch.drill(KillSwitchControl(api.client(), run(), contract), "zeus-orchestrator")
    assert not result.passed
    assert "agent work still answered with the switch engaged" in result.summary and "expected HTTP 503" in result.summary
    assert api.state["engaged"] is False  # released all the same


@pytest.mark.parametrize("drill_run", [run(allow=False), run(production=True), None],
                         ids=["no allow-restore", "production unconfirmed", "no run"])
def test_without_permission_nothing_is_sent(drill_run):
    api = FakeApi(KillSwitch())
    control = KillSwitchControl(api.client(), drill_run, KillSwitch())
    with pytest.raises(DrillRefused, match="could not verify: drill refused: "):
        kill_switch.drill(control, "zeus-orchestrator")
    with pytest.raises(DrillRefused):  # nor by calling the change itself
        control.engage({"engaged": False}, [])
    assert api.requests == [] and api.state["engaged"] is False


def test_the_engagement_is_recorded_before_it_is_sent_and_closed_when_released(tmp_path):
    the_run = run()
    the_run.run_dir = tmp_path
    seen_at_engage = []

    class Recording(FakeApi):
        def handler(self, request):
            if request.method == "PUT" and json.loads(request.content)["engaged"]:
                seen_at_engage.append(changes.pending(the_run.run_dir))
            return super().handler(request)

    api = Recording(KillSwitch(wait=timedelta(seconds=0.5)))
    assert kill_switch.drill(KillSwitchControl(api.client(), the_run, api.contract), "zeus-orchestrator").passed
    [[entry]] = seen_at_engage
    assert entry["kind"] == changes.KILL_SWITCH and entry["reason"] == reason_of("deg")
    assert "engaged by run deg" in entry["note"] and entry["found"] == {"engaged": False, "reason": None}
    assert changes.pending(the_run.run_dir) == []  # released: nothing left for cleanup


def test_cleanup_releases_only_a_switch_showing_the_runs_own_engagement():
    entry = {"id": "x", "run_id": "deg", "reason": reason_of("deg"), "at": "2025-12-13T09:12:00Z"}
    ours = FakeApi(KillSwitch(), engaged=True, reason=reason_of("deg"))
    done, line = release_recorded(ours.client(), ours.contract, entry)
    assert done and "released" in line and ours.state["engaged"] is False
    incident = FakeApi(KillSwitch(), engaged=True, reason="security incident SEC-42")
    done, line = release_recorded(incident.client(), incident.contract, entry)
    assert done and "left engaged" in line and incident.state["engaged"] is True and incident.mutations() == []
    dry = FakeApi(KillSwitch(), engaged=True, reason=reason_of("deg"))
    done, line = release_recorded(dry.client(), dry.contract, entry, dry_run=True)
    assert not done and line.startswith("would release") and dry.mutations() == []


def test_put_back_never_releases_a_switch_found_engaged():
    api = FakeApi(KillSwitch(), engaged=True, reason="incident")
    control = KillSwitchControl(api.client(), run(), KillSwitch())
    assert control.put_back({"engaged": True, "reason": "incident"}) is None
    assert api.mutations() == []
    assert control.put_back("GET answered HTTP 404") is None


def test_contract_constants_are_not_in_the_logic():
    import inspect

    from pytest_kosmos_dr.drills import kill_switch as drills_kill_switch

    for module in (kill_switch, drills_kill_switch):
        source = inspect.getsource(module)
        for literal in ("/v1/admin/kill-switch", "(423, 503)", "/probe"):
            assert literal not in source, f"{module.__name__} hard-codes {literal}"
    assert replace(KillSwitch()).path == "/v1/admin/kill-switch"  # the documented default lives in target.py
