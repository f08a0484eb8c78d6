"""VAL-* HTTP checks on plain data (httpx.MockTransport): what passes, what fails and why."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from pytest_kosmos_dr.checks import validation

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
INCIDENT = NOW - timedelta(hours=2)
HEALTHY = {"status": "ok", "region": "us-west-2", "checked_at": "2026-01-10T11:59:50Z",
           "components": {"database": {"status": "ok"}, "queue": {"status": "ok"}}}


def client(routes: dict, headers: dict | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = routes.get(request.url.path)
        if answer is None:
            return httpx.Response(404, json={"error": "not found"})
        status, body = answer(request) if callable(answer) else answer
        return httpx.Response(status, json=body, headers=headers or {})

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://api.test")


def health(body, status=200, headers=None):
    return validation.api_health(client({"/health": (status, body)}, headers), region="us-west-2",
                                 incident_start=INCIDENT, now=NOW)


# -- VAL-API-HEALTH ---------------------------------------------------------------------------

def test_health_passes_when_fresh_from_the_dr_region_with_every_component_ok():
    result = health(HEALTHY)
    assert result.passed, result.summary
    assert "2 components ok (database, queue)" in result.summary


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "empty answer {}"),
    ({"status": "degraded"}, "overall status 'degraded'"),
    ({**HEALTHY, "status": "degraded"}, "overall status 'degraded'"),
    ({k: v for k, v in HEALTHY.items() if k != "status"}, "no overall status"),
    ({**HEALTHY, "components": {}}, "no components reported"),
    ({**HEALTHY, "components": {"queue": {"status": "ok"}}}, "component(s) database not reported"),
    ({**HEALTHY, "components": {"database": {"status": "down", "error": "timeout"}}},
     "unhealthy components: database=down (timeout)"),
    ({**HEALTHY, "region": "us-east-1"}, "answered by region 'us-east-1', not the DR region 'us-west-2'"),
    ({k: v for k, v in HEALTHY.items() if k != "region"}, "does not say which region answered"),
    ({**HEALTHY, "checked_at": "2026-01-10T09:40:00Z"}, "before the incident start"),
    ({**HEALTHY, "checked_at": "2026-01-10T11:30:00Z"}, "is 30 min old (a cached answer"),
    ({**HEALTHY, "checked_at": "yesterday"}, "is not an ISO-8601 time"),
])
def test_health_fails_and_says_why(body, reason):
    result = health(body)
    assert not result.passed
    assert reason in result.summary, result.summary


def test_health_served_from_a_cache_fails_on_its_age_header():
    result = health(HEALTHY, headers={"Age": "7200"})
    assert not result.passed and "served from a cache (Age: 2 h 00 min > 5 min)" in result.summary


def test_health_503_fails():
    result = health({**HEALTHY, "status": "degraded"}, status=500)
    assert not result.passed and result.summary.startswith("/health: HTTP 500")


# -- VAL-MONITORING ---------------------------------------------------------------------------

GRAFANA_OK = {
    "/api/health": (200, {"commit": "abc", "database": "ok", "version": "11.3.0"}),
    "/api/datasources/uid/prometheus/health": (200, {"status": "OK", "message": "Successfully queried the Prometheus API."}),
    "/api/datasources/proxy/uid/prometheus/api/v1/query": (200, {"status": "success", "data": {
        "resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]}}),
}


def test_grafana_passes_with_database_data_source_and_a_current_sample():
    result = validation.grafana_health(client(GRAFANA_OK))
    assert result.passed, result.summary


@pytest.mark.parametrize(("change", "reason"), [
    ({"/api/health": (200, {"database": "failing", "version": "11"})}, "database='failing'"),
    ({"/api/health": (200, {"database": "ok"})}, "no version"),
    ({"/api/datasources/uid/prometheus/health": (400, {"status": "ERROR", "message": "dial tcp: no such host"})},
     "data source prometheus: HTTP 400, status 'ERROR' (dial tcp: no such host)"),
    ({"/api/datasources/uid/prometheus/health": (404, {"message": "Data source not found"})},
     "no data source with uid 'prometheus'"),
    ({"/api/datasources/proxy/uid/prometheus/api/v1/query": (200, {"status": "success", "data": {"result": []}})},
     "no current sample of avg(probe_success"),
])
def test_grafana_fails_and_says_why(change, reason):
    result = validation.grafana_health(client({**GRAFANA_OK, **change}))
    assert not result.passed
    assert reason in result.summary, result.summary


# -- VAL-SMOKE --------------------------------------------------------------------------------

def smoke_routes(agents=("zeus-orchestrator",), created="2026-01-10T09:58:30Z", message_of=7):
    return {
        "/v1/agents": (200, {"items": [{"id": a} for a in agents]}),
        "/v1/conversations": (200, {"items": [{"id": 7, "agent_id": "zeus-orchestrator", "created_at": created}]}),
        "/v1/conversations/7/messages": (200, {"items": [{"id": 1, "conversation_id": message_of, "role": "user",
                                                          "body": "hi"}]}),
    }


def smoke(routes):
    return validation.api_smoke(client(routes), agents=("zeus-orchestrator",),
                                newest_not_before=INCIDENT - timedelta(minutes=15))


def test_smoke_passes_on_current_data_of_the_right_environment():
    result = smoke(smoke_routes())
    assert result.passed, result.summary


@pytest.mark.parametrize(("routes", "reason"), [
    (smoke_routes(agents=("staging-echo",)), "/v1/agents does not list zeus-orchestrator"),
    (smoke_routes(created="2026-01-09T20:00:00Z"), "the API serves a stale copy of the data"),
    (smoke_routes(created="not a time"), "is not an ISO-8601 time"),
    (smoke_routes(message_of=1), "answered messages of conversation(s) 1, not 7"),
    ({**smoke_routes(), "/v1/agents": (200, {"items": []})}, "/v1/agents answered no items"),
])
def test_smoke_fails_and_says_why(routes, reason):
    result = smoke(routes)
    assert not result.passed
    assert reason in result.summary, result.summary


# -- VAL-AGENT-ROUTING ------------------------------------------------------------------------

def probe(change=None, echo=True):
    def answer(request):
        body = {"agent": "zeus-orchestrator", "pod": "zeus-orchestrator-0", "namespace": "kosmos", "region": "us-west-2",
                "nonce": request.url.params.get("nonce") if echo else "0ld"}
        return 200, {**body, **(change or {})}

    return validation.agent_routing(client({"/v1/agents/zeus-orchestrator/probe": answer}), "zeus-orchestrator",
                                    pod="zeus-orchestrator-0", namespace="kosmos", region="us-west-2")


def test_routing_passes_when_the_agent_itself_answers_our_probe():
    result = probe()
    assert result.passed, result.summary


@pytest.mark.parametrize(("change", "echo", "reason"), [
    ({"agent": "athena-analyst"}, True, "answered by 'athena-analyst'"),
    ({"region": "us-east-1"}, True, "region 'us-east-1', expected 'us-west-2'"),
    ({"namespace": "kosmos-staging"}, True, "namespace 'kosmos-staging', expected 'kosmos'"),
    ({"pod": None}, True, "does not name its pod"),
    (None, False, "a cached or replayed answer"),
])
def test_routing_fails_and_says_why(change, echo, reason):
    result = probe(change, echo)
    assert not result.passed
    assert reason in result.summary, result.summary
