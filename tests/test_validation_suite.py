"""VAL-*: the Recovery Validation suite passes on a healthy sandbox, and each check fails,
alone and with a message naming what is wrong, when the sandbox is broken the way it guards against.
VAL-SMOKE and VAL-AGENT-ROUTING run the plan's own commands in the sandbox's KOSMOS checkout
(pytest_kosmos_dr/sandbox/kosmos_checkout/), which exercise the stand-in API over HTTP."""

from datetime import datetime
from fnmatch import fnmatch

import pytest

from conftest import run_suite

SUITE = "test_recovery_validation.py"
SMOKE = "test_plan_smoke_tests_pass_against_the_dr_api"
ROUTING = "test_plan_agent_routing_script_passes_for_every_agent"


def test_validation_suite_passes_against_a_healthy_sandbox(sandbox, pytester):
    result = run_suite(pytester, SUITE, "-v", "-rA")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_api_health_reports_every_component_healthy PASSED*"])
    result.stdout.fnmatch_lines([f"*{SMOKE} PASSED*"])


@pytest.mark.parametrize(
    ("fault_name", "failing_test", "message"),
    [
        ("api-health-503", "test_api_health_reports_every_component_healthy",
         "*VAL-API-HEALTH: /health: HTTP 503; overall status 'degraded'; unhealthy components: queue=down*"),
        ("grafana-database-down", "test_grafana_health_reports_database_ok",
         "*VAL-MONITORING: Grafana /api/health: HTTP 503, database='failing'*"),
        ("agent-misrouted", ROUTING,
         "*VAL-AGENT-ROUTING: routing script '{python} scripts/test_agent_routing.py --agent {agent}' in "
         "*kosmos_checkout failed for zeus-orchestrator: zeus-orchestrator: exit 1; output ends: FAIL: request for "
         "zeus-orchestrator: answered by agent 'athena-analyst', not 'zeus-orchestrator'*"),
        # a fault that breaks the API's reads fails the plan's smoke tests, naming the test and what it saw
        ("api-read-malformed", SMOKE,
         "*VAL-SMOKE: smoke tests '* -m pytest * tests/integration/smoke_tests.py*' in *kosmos_checkout: exit 1; "
         "4 test(s): 2 passed, 0 failed, 2 error(s), 0 skipped: test_recent_conversations_are_served: failed on setup "
         "with \"AssertionError: GET /v1/conversations?limit=5: not a JSON object with an 'items' list*"),
    ],
)
def test_fault_fails_exactly_its_validation_check(sandbox, fault, pytester, fault_name, failing_test, message):
    fault(fault_name)
    result = run_suite(pytester, SUITE, "-rf")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([message, f"FAILED *::{failing_test}*"])
    result.stdout.no_fnmatch_line("*BROKEN*")


# -- the alternate layout's contracts: the stand-ins serve them, the checks read them from the target --------

import asyncio  # noqa: E402
import threading  # noqa: E402

import httpx  # noqa: E402

from pytest_kosmos_dr import plan_commands
from pytest_kosmos_dr.checks import availability, validation
from pytest_kosmos_dr.config import load_config
from pytest_kosmos_dr.sandbox import AGENTS
from pytest_kosmos_dr.sandbox.component import SandboxContext
from pytest_kosmos_dr.sandbox.layout import ALTERNATE, target_toml


class LoopThread:
    """An asyncio loop in a thread: the stand-ins serve while this thread's checks call them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def alternate_target(tmp_path):
    path = tmp_path / "kosmos-dr.toml"
    path.write_text(target_toml(ALTERNATE))
    return load_config(tmp_path, str(path)).target("sandbox-alternate")


@pytest.fixture
def sandbox_smoke(tmp_path):
    """The built-in sandbox target's smoke settings (the shipped checkout; the same for every layout)."""
    return load_config(tmp_path).target("sandbox").smoke


@pytest.fixture
def alternate_api(sandbox, tmp_path):
    """The KOSMOS API stand-in in the alternate layout, over the sandbox's DR database."""
    from pytest_kosmos_dr.sandbox.kosmos_api import KosmosApiComponent

    ctx = SandboxContext(state_dir=tmp_path, data_dir=tmp_path, layout=ALTERNATE,
                         state={"agents": list(AGENTS), "database": sandbox.state["database"],
                                "incident": sandbox.state["incident"]})
    loop, api = LoopThread(), KosmosApiComponent()
    loop.run(api.start(ctx))
    try:
        yield api, ctx, loop
    finally:
        loop.run(api.stop())
        loop.close()


@pytest.fixture
def alternate_grafana(tmp_path):
    from pytest_kosmos_dr.sandbox.grafana import GrafanaComponent

    ctx = SandboxContext(state_dir=tmp_path, data_dir=tmp_path, layout=ALTERNATE)
    loop, grafana = LoopThread(), GrafanaComponent()
    loop.run(grafana.start(ctx))
    try:
        yield grafana, ctx, loop
    finally:
        loop.run(grafana.stop())
        loop.close()


def test_alternate_health_shape_passes_its_contract_and_its_faults_fail_it(alternate_api, alternate_target):
    api, ctx, loop = alternate_api
    faults = {f.name: f for f in api.faults()}
    with httpx.Client(base_url=ctx.state["api"]["url"], timeout=10) as client:
        body = client.get("/actuator/health").json()
        assert body["status"] == "UP" and body["components"]["db"]["status"] == "UP", body
        assert body["details"]["region"] == "eu-central-1"
        healthy = validation.api_health(client, alternate_target.health, region="eu-central-1")
        assert healthy.passed, healthy.summary
        for name, reason in [("api-health-503", "overall status 'DOWN'; unhealthy components: queue=DOWN"),
                             ("api-health-primary-region", "answered by region 'eu-west-1', not the DR region "
                                                           "'eu-central-1'"),
                             ("api-health-no-database", "component(s) db not reported"),
                             ("api-health-cached", "details.time * is before the incident start")]:
            loop.run(faults[name].apply())
            try:
                result = validation.api_health(client, alternate_target.health, region="eu-central-1",
                                               incident_start=datetime.fromisoformat(
                                                   ctx.state["incident"]["start"].replace("Z", "+00:00")))
            finally:
                loop.run(faults[name].revert())
            assert not result.passed and fnmatch(result.summary, f"*{reason}*"), (name, result.summary)
        assert validation.api_health(client, alternate_target.health, region="eu-central-1").passed


def test_alternate_kill_switch_path_method_and_code(alternate_api):
    api, ctx, loop = alternate_api
    headers = {"Authorization": f"Bearer {ctx.state['api']['token']}"}
    with httpx.Client(base_url=ctx.state["api"]["url"], timeout=10, headers=headers) as client:
        assert client.put("/v1/admin/kill-switch", json={"engaged": True, "reason": "x"}).status_code in (404, 405)
        assert client.post("/api/admin/kill-switch", json={"engaged": True, "reason": "drill"}).json()["engaged"]
        try:
            assert client.get("/v1/agents/zeus-orchestrator/probe").status_code == 503  # layout.kill_switch_codes[0]
            assert client.get("/api/admin/kill-switch").json()["engaged"] is True
        finally:
            client.post("/api/admin/kill-switch", json={"engaged": False})
        assert client.get("/v1/agents/zeus-orchestrator/probe").status_code == 200


def test_plan_commands_pass_against_the_alternate_api_and_routing_sees_its_faults(alternate_api, alternate_target,
                                                                                 sandbox_smoke, tmp_path):
    api, ctx, loop = alternate_api
    incident = datetime.fromisoformat(ctx.state["incident"]["start"].replace("Z", "+00:00"))
    env = plan_commands.command_environment(
        api_url=ctx.state["api"]["url"], api_token=ctx.state["api"]["token"],
        token_env=alternate_target.endpoints.api_token_env,
        context=plan_commands.dr_context(alternate_target, incident))
    assert env["KOSMOS_DR_HEALTH_PATH"] == "/actuator/health" and env["KOSMOS_DR_NAMESPACE"] == "kosmos-dr"
    smoke = validation.smoke_tests(sandbox_smoke, env, tmp_path / "run")
    assert smoke.passed, smoke.summary
    agents = tuple(a.name for a in alternate_target.agents)
    routing = validation.agent_routing(sandbox_smoke, agents, env, tmp_path / "run")
    assert routing.passed and "(namespace kosmos-dr, region eu-central-1)" in routing.summary, routing.summary
    fault = next(f for f in api.faults() if f.name == "agent-probe-from-primary")
    loop.run(fault.apply())
    try:
        routing = validation.agent_routing(sandbox_smoke, agents[:1], env, tmp_path / "run")
    finally:
        loop.run(fault.revert())
    assert not routing.passed and "region 'eu-west-1', expected 'eu-central-1'" in routing.summary, routing.summary


def test_alternate_grafana_serves_its_data_source_and_series(alternate_grafana, alternate_target):
    grafana, ctx, loop = alternate_grafana
    headers = {"Authorization": f"Bearer {ctx.state['grafana']['token']}"}
    with httpx.Client(base_url=ctx.state["grafana"]["url"], timeout=30, headers=headers) as client:
        result = validation.grafana_health(client, alternate_target.monitoring)
        assert result.passed and "data source kosmos-metrics OK" in result.summary, result.summary
        assert not validation.grafana_health(client).passed  # the default data source "prometheus" is not there
        objective = alternate_target.objectives
        result = availability.availability(client, objective=objective.availability, window=objective.availability_window,
                                           monitoring=alternate_target.monitoring)
        assert result.passed, result.summary
        breach = next(f for f in grafana.faults() if f.name == "availability-breach")
        loop.run(breach.apply())
        try:
            result = availability.availability(client, objective=objective.availability,
                                               window=objective.availability_window,
                                               monitoring=alternate_target.monitoring)
        finally:
            loop.run(breach.revert())
        assert not result.passed and "< objective 99.9 %" in result.summary, result.summary
        fault = next(f for f in grafana.faults() if f.name == "grafana-datasource-primary-region")
        loop.run(fault.apply())
        try:
            result = validation.grafana_health(client, alternate_target.monitoring)
        finally:
            loop.run(fault.revert())
        assert not result.passed and "prometheus.eu-west-1.kosmos.internal" in result.summary, result.summary
