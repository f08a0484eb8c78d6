"""Degenerate inputs for the kill-switch drill: no switch, a switch state without fields, a probe that never
answers, a contract with no refusal codes, a run that may not drill."""

import atexit
import shutil
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx

from pytest_kosmos_dr.checks import kill_switch
from pytest_kosmos_dr.drills.kill_switch import KillSwitchControl
from pytest_kosmos_dr.target import KillSwitch, Target

CONTRACT = KillSwitch(wait=timedelta(seconds=0))


_FOLDER: list[Path] = []


def run(allow: bool = True, production: bool = False):
    """A run as the drills see it (one scratch run folder per session for what the drill records)."""
    if not _FOLDER:
        _FOLDER.append(Path(tempfile.mkdtemp(prefix="kosmos-dr-degenerate-")))
        atexit.register(shutil.rmtree, _FOLDER[0], ignore_errors=True)  # the test process leaves no folder behind
    folder = _FOLDER[0]
    return SimpleNamespace(options=SimpleNamespace(allow_restore=allow, confirmed_targets=set()),
                           target=Target("t", production=production), run_id="deg", run_dir=folder, owner_pid=0)


def _drill(switch_body, probe_status=200, switch_status=200, contract=CONTRACT, drill_run=None):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == contract.path:
            if request.method != "GET":
                return httpx.Response(200, json={})
            return httpx.Response(switch_status, json=switch_body)
        return httpx.Response(probe_status, json={})

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://api.test")
    control = KillSwitchControl(client, drill_run or run(), contract)
    return kill_switch.drill(control, "zeus-orchestrator")


CASES = {
    "kill_switch.drill": [
        ("empty state", lambda: _drill({})),
        ("engaged None", lambda: _drill({"engaged": None})),
        ("null body", lambda: _drill(None)),
        ("no switch endpoint", lambda: _drill({"error": "not found"}, switch_status=404)),
        ("switch acknowledges nothing, agent work never refused", lambda: _drill({"engaged": False})),
        ("no refusal codes in the contract", lambda: _drill({"engaged": False},
                                                            contract=replace(CONTRACT, engaged_codes=()))),
        ("run without --dr-allow-restore", lambda: _drill({"engaged": False}, drill_run=run(allow=False))),
    ],
}
