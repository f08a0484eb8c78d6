"""VAL-* HTTP checks on plain data (httpx.MockTransport): what passes, what fails and why, for the
health contracts a target can describe (the default body and Spring Boot actuator's) and for the
monitoring data source a target names. VAL-SMOKE and VAL-AGENT-ROUTING: tests/test_plan_commands.py."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from pytest_kosmos_dr.checks import validation
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.sandbox.layout import ALTERNATE
from pytest_kosmos_dr.target import Health, Monitoring

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
    ({**HEALTHY, "status": "fine"}, "overall status 'fine'"),
    ({**HEALTHY, "status": "degraded"}, "overall status 'degraded'"),
    ({k: v for k, v in HEALTHY.items() if k != "status"}, "no overall status"),
    ({**HEALTHY, "components": {}}, "no components reported under components"),
    ({k: v for k, v in HEALTHY.items() if k != "checked_at"}, "no checked_at in the answer"),
    ({**HEALTHY, "components": {"queue": {"status": "ok"}}}, "component(s) database not reported"),
    ({**HEALTHY, "components": {"database": {"status": "down", "error": "timeout"}}},
     "unhealthy components: database=down (timeout)"),
    ({**HEALTHY, "region": "us-east-1"}, "answered by region 'us-east-1', not the DR region 'us-west-2'"),
    ({k: v for k, v in HEALTHY.items() if k != "region"}, "does not say which region answered (no region"),
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


# -- the health contract from the target: other shapes, fields and OK values ------------------

SPRING = Health(path="/actuator/health", status_field="status", ok_values=("UP",), region_field="details.region",
                components_field="components", required_components=("db",), checked_at_field="details.time")
SPRING_HEALTHY = {"status": "UP", "components": {"db": {"status": "UP", "details": {"database": "PostgreSQL"}},
                                                  "diskSpace": {"status": "UP"}},
                  "details": {"region": "eu-central-1", "time": "2026-01-10T11:59:58Z"}}


def spring(body, status=200, contract=SPRING):
    return validation.api_health(client({"/actuator/health": (status, body)}), contract, region="eu-central-1",
                                 incident_start=INCIDENT, now=NOW)


def test_spring_actuator_shape_passes_with_its_own_ok_value_and_dotted_fields():
    result = spring(SPRING_HEALTHY)
    assert result.passed, result.summary
    assert result.summary.startswith("/actuator/health: HTTP 200") and "from eu-central-1" in result.summary
    assert "2 components ok (db, diskSpace)" in result.summary


def test_the_layouts_health_shape_is_the_contract_of_its_target():
    shape = ALTERNATE.health
    contract = Health(path=ALTERNATE.health_path, status_field=shape.status_field, ok_values=(shape.ok_value,),
                      region_field=shape.region_field, components_field=shape.components_field,
                      required_components=(shape.database_component,), checked_at_field=shape.checked_at_field)
    assert spring(SPRING_HEALTHY, contract=contract).passed


@pytest.mark.parametrize(("body", "reason"), [
    ({**SPRING_HEALTHY, "status": "DOWN"}, "overall status 'DOWN'"),
    ({**SPRING_HEALTHY, "components": {"db": {"status": "DOWN"}, "diskSpace": {"status": "UP"}}},
     "unhealthy components: db=DOWN"),
    ({**SPRING_HEALTHY, "components": {"diskSpace": {"status": "UP"}}}, "component(s) db not reported"),
    ({**SPRING_HEALTHY, "details": {"time": "2026-01-10T11:59:58Z"}}, "no details.region; expected 'eu-central-1'"),
    ({**SPRING_HEALTHY, "details": {"region": "eu-west-1", "time": "2026-01-10T11:59:58Z"}},
     "answered by region 'eu-west-1', not the DR region 'eu-central-1'"),
    ({**SPRING_HEALTHY, "details": {"region": "eu-central-1"}}, "no details.time in the answer"),
    ({**SPRING_HEALTHY, "details": {"region": "eu-central-1", "time": "2026-01-10T09:00:00Z"}},
     "details.time 2026-01-10T09:00:00Z is before the incident start"),
    ({**SPRING_HEALTHY, "details": "eu-central-1"}, "no details.region"),
])
def test_spring_shape_fails_and_says_why(body, reason):
    result = spring(body)
    assert not result.passed
    assert reason in result.summary, result.summary


def test_the_default_shapes_ok_is_not_healthy_where_the_target_says_up():
    result = spring({**SPRING_HEALTHY, "status": "ok", "components": {"db": {"status": "ok"}}})
    assert not result.passed
    assert "overall status 'ok'" in result.summary and "unhealthy components: db=ok" in result.summary


def test_ok_values_are_compared_without_case():
    assert spring({**SPRING_HEALTHY, "status": "up"}).passed


def test_a_nested_status_field_is_read_by_its_dotted_path():
    contract = Health(status_field="health.state", ok_values=("green",), region_field="", components_field="health.checks",
                      required_components=("database",), checked_at_field="")
    body = {"health": {"state": "green", "checks": [{"name": "database", "state": "green"}]}}
    result = validation.api_health(client({"/health": (200, body)}), contract, region="us-west-2", now=NOW)
    assert result.passed, result.summary
    failing = {"health": {"state": "green", "checks": [{"name": "database", "state": "red"}]}}
    result = validation.api_health(client({"/health": (200, failing)}), contract, region="us-west-2", now=NOW)
    assert not result.passed and "unhealthy components: database=red" in result.summary


def test_without_a_region_field_the_region_is_not_required():
    contract = Health(region_field="")
    body = {k: v for k, v in HEALTHY.items() if k != "region"}
    result = validation.api_health(client({"/health": (200, body)}), contract, region="us-west-2",
                                   incident_start=INCIDENT, now=NOW)
    assert result.passed, result.summary


def test_without_a_components_field_only_the_status_is_judged_and_said_so():
    contract = Health(components_field="", required_components=(), checked_at_field="", region_field="")
    result = validation.api_health(client({"/health": (200, {"status": "ok"})}), contract, now=NOW)
    assert result.passed and "health.components_field is empty" in result.summary


def test_required_components_without_a_components_field_cannot_be_verified():
    with pytest.raises(DRUnverifiable, match="health.required_components"):
        validation.api_health(client({"/health": (200, HEALTHY)}), Health(components_field=""), now=NOW)


# -- the monitoring data source and series from the target ---------------------------------------

def test_grafana_asks_the_targets_data_source_for_the_targets_series():
    monitoring = Monitoring(datasource="kosmos-metrics", availability_series='probe_success{job="blackbox-kosmos-api"}')
    asked = []

    def answer(request):
        asked.append(request.url.params.get("query"))
        return 200, {"status": "success", "data": {"result": [{"metric": {}, "value": [1, "1"]}]}}

    routes = {"/api/health": GRAFANA_OK["/api/health"],
              "/api/datasources/uid/kosmos-metrics/health": (200, {"status": "OK"}),
              "/api/datasources/proxy/uid/kosmos-metrics/api/v1/query": answer}
    result = validation.grafana_health(client(routes), monitoring)
    assert result.passed, result.summary
    assert asked == ['avg(probe_success{job="blackbox-kosmos-api"})']
    assert not validation.grafana_health(client(routes)).passed  # the default data source is not there
