"""Degenerate inputs for the kill-switch drill: no switch, a switch state without fields, a probe that never answers."""

from datetime import timedelta

import httpx

from pytest_kosmos_dr.checks import kill_switch


def _drill(switch_body, probe_status=200, switch_status=200):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == kill_switch.PATH:
            if request.method == "PUT":
                return httpx.Response(200, json={})
            return httpx.Response(switch_status, json=switch_body)
        return httpx.Response(probe_status, json={})

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://api.test")
    return kill_switch.drill(client, "zeus-orchestrator", timedelta(seconds=0))


CASES = {
    "kill_switch.drill": [
        ("empty state", lambda: _drill({})),
        ("engaged None", lambda: _drill({"engaged": None})),
        ("null body", lambda: _drill(None)),
        ("no switch endpoint", lambda: _drill({"error": "not found"}, switch_status=404)),
        ("switch acknowledges nothing, agent work never refused", lambda: _drill({"engaged": False})),
    ],
}
