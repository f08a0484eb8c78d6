"""Degenerate inputs for the VAL-* HTTP checks: empty bodies, missing fields, None values."""

from datetime import datetime, timezone

import httpx

from pytest_kosmos_dr.checks import validation

INCIDENT = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def _client(routes: dict) -> httpx.Client:
    """``routes``: path -> (status, json body | raw text); anything else answers 404."""

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = routes.get(request.url.path, (404, {"error": "not found"}))
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://api.test")


def _health(body, status=200):
    return validation.api_health(_client({"/health": (status, body)}), region="us-west-2", incident_start=INCIDENT)


def _grafana(routes):
    return validation.grafana_health(_client(routes))


def _smoke(routes, **kwargs):
    return validation.api_smoke(_client(routes), **kwargs)


def _probe(body, status=200):
    return validation.agent_routing(_client({"/v1/agents/zeus-orchestrator/probe": (status, body)}), "zeus-orchestrator",
                                    pod="zeus-orchestrator-0", namespace="kosmos", region="us-west-2")


CASES = {
    "validation.api_health": [
        ("empty object", lambda: _health({})),
        ("status degraded, no components", lambda: _health({"status": "degraded"})),
        ("status ok, no components", lambda: _health({"status": "ok", "region": "us-west-2"})),
        ("components empty", lambda: _health({"status": "ok", "region": "us-west-2", "components": {}})),
        ("component status None", lambda: _health({"status": "ok", "region": "us-west-2",
                                                    "components": {"database": {"status": None}}})),
        ("no status", lambda: _health({"region": "us-west-2", "components": {"database": {"status": "ok"}}})),
        ("null body", lambda: _health(None)),
        ("not JSON", lambda: _health("<html>ok</html>")),
    ],
    "validation.grafana_health": [
        ("empty object", lambda: _grafana({"/api/health": (200, {})})),
        ("database None", lambda: _grafana({"/api/health": (200, {"database": None, "version": "11"})})),
        ("no data source", lambda: _grafana({"/api/health": (200, {"database": "ok", "version": "11"})})),
        ("data source status missing", lambda: _grafana({
            "/api/health": (200, {"database": "ok", "version": "11"}),
            "/api/datasources/uid/prometheus/health": (200, {})})),
        ("no current sample", lambda: _grafana({
            "/api/health": (200, {"database": "ok", "version": "11"}),
            "/api/datasources/uid/prometheus/health": (200, {"status": "OK"}),
            "/api/datasources/proxy/uid/prometheus/api/v1/query": (200, {"status": "success",
                                                                         "data": {"result": []}})})),
    ],
    "validation.api_smoke": [
        ("empty item lists", lambda: _smoke({"/v1/agents": (200, {"items": []}),
                                             "/v1/conversations": (200, {"items": []})})),
        ("items missing", lambda: _smoke({"/v1/agents": (200, {}), "/v1/conversations": (200, {})})),
        ("None fields", lambda: _smoke({"/v1/agents": (200, {"items": [{"id": None}]}),
                                        "/v1/conversations": (200, {"items": [{"id": None, "agent_id": None,
                                                                               "created_at": None}]})})),
        ("no messages", lambda: _smoke({
            "/v1/agents": (200, {"items": [{"id": "zeus-orchestrator"}]}),
            "/v1/conversations": (200, {"items": [{"id": 1, "agent_id": "zeus-orchestrator",
                                                   "created_at": "2026-01-10T08:59:00Z"}]}),
            "/v1/conversations/1/messages": (200, {"items": []})}, agents=("zeus-orchestrator",))),
        ("null bodies", lambda: _smoke({"/v1/agents": (200, None), "/v1/conversations": (200, None)})),
    ],
    "validation.agent_routing": [
        ("empty object", lambda: _probe({})),
        ("agent None", lambda: _probe({"agent": None})),
        ("only the agent's name", lambda: _probe({"agent": "zeus-orchestrator"})),
        ("fields None", lambda: _probe({"agent": "zeus-orchestrator", "pod": None, "namespace": None, "region": None,
                                        "nonce": None})),
        ("null body", lambda: _probe(None)),
    ],
}
