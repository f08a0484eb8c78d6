"""Recovery Validation (VAL-*): the plan's health checks and smoke tests.

What the checks read, all from the target (``docs/configuration.md``):

* VAL-API-HEALTH: ``GET <health.path>`` answers 200 with a JSON body whose ``health.status_field``
  (a dotted path) is one of ``health.ok_values``; every component under ``health.components_field``
  is healthy (its own status field, named like the last part of ``status_field``, one of the OK
  values) and ``health.required_components`` are among them; the answer names the DR region under
  ``health.region_field`` (when set) and is fresh: ``health.checked_at_field`` (when set) after the
  incident and within ``HEALTH_MAX_AGE``, and an HTTP ``Age`` header from a cache no older than that.
* VAL-SMOKE and VAL-AGENT-ROUTING: the plan's own commands (``smoke.smoke_command``,
  ``smoke.routing_command``) run in the KOSMOS checkout (``smoke.checkout``); see ``plan_commands``.
  Exit 0 with tests that ran passes; anything else fails with what the output says.
* VAL-MONITORING: Grafana's documented HTTP API: ``GET /api/health`` -> ``{"database": "ok",
  "version": ...}``; ``GET /api/datasources/uid/<monitoring.datasource>/health`` -> ``{"status": "OK"}``;
  the data-source proxy answers Prometheus's HTTP API (``/api/v1/query``) with a current sample of
  ``avg(<monitoring.availability_series>)``.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode
from typing import TYPE_CHECKING

from .. import plan_commands
from ..clients import http as http_client
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence, trim
from ..target import Health, Monitoring, SmokeTests
from ..timeparse import format_duration, isoformat

if TYPE_CHECKING:
    import httpx

ROUTING_AT_ONCE = 4  # the plan's routing script, for this many agents at once
HEALTH_MAX_AGE = timedelta(minutes=5)  # a health answer older than this is a cached one
_ABSENT = object()


def _json(response: httpx.Response) -> object | None:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def _instant(value: object) -> datetime | None:
    """An ISO-8601 time (a naive one taken as UTC), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def field_value(body: object, dotted: str) -> object:
    """The value at the dotted path ``dotted`` (``details.region``) of a JSON body, or ``_ABSENT``."""
    value = body
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _healthy(status: object, ok_values: tuple[str, ...]) -> bool:
    return isinstance(status, str) and status.strip().lower() in {v.lower() for v in ok_values}


def _components(raw: object) -> dict | None:
    """``{name: detail}`` from a mapping or a list of ``{"name": ..}`` entries; None when neither."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, list) and raw and all(isinstance(c, dict) and c.get("name") for c in raw):
        return {c["name"]: c for c in raw}
    return None


def _freshness(answer: httpx.Response, body: dict, health: Health, incident_start: datetime | None,
               now: datetime) -> list[str]:
    """Why the answer is not a fresh one (a cache's Age header, an old, pre-incident or missing time)."""
    problems = []
    age = answer.headers.get("age")
    if age is not None:
        try:
            seconds = float(age)
        except ValueError:
            seconds = None
        if seconds is not None and seconds > HEALTH_MAX_AGE.total_seconds():
            problems.append(f"served from a cache (Age: {format_duration(seconds)} > {format_duration(HEALTH_MAX_AGE)})")
    name = health.checked_at_field
    if not name:
        return problems
    raw = field_value(body, name)
    if raw is _ABSENT:
        problems.append(f"no {name} in the answer (health.checked_at_field): cannot tell a fresh answer from a "
                        f"cached one")
        return problems
    checked = _instant(raw)
    if checked is None:
        problems.append(f"{name} {raw!r} is not an ISO-8601 time")
    elif incident_start is not None and checked < incident_start:
        problems.append(f"{name} {isoformat(checked)} is before the incident start {isoformat(incident_start)} "
                        f"(a cached answer from before the disaster)")
    elif now - checked > HEALTH_MAX_AGE:
        problems.append(f"{name} {isoformat(checked)} is {format_duration(now - checked)} old "
                        f"(a cached answer; limit {format_duration(HEALTH_MAX_AGE)})")
    return problems


def api_health(api: httpx.Client, health: Health | None = None, *, region: str | None = None,
               incident_start: datetime | None = None, now: datetime | None = None) -> CheckResult:
    """VAL-API-HEALTH: ``GET <health.path>`` is 200, its status one of the OK values, every component
    healthy (the required ones among them), answered fresh by the DR ``region`` (when the body names one)."""
    health = health or Health()
    if health.required_components and not health.components_field:
        raise DRUnverifiable("health contract", f"health.required_components {list(health.required_components)} "
                             "are set but health.components_field is empty", "name the body's components field, "
                             "or set required_components = []")
    path, ok_values = health.path, tuple(health.ok_values)
    component_status = health.status_field.rsplit(".", 1)[-1]
    expect_region = region if health.region_field else None
    limit = (f"HTTP 200, {health.status_field} in {list(ok_values)}"
             + (f", every component ok ({', '.join(health.required_components)} among them)"
                if health.components_field else "")
             + (f", {health.region_field} {expect_region}" if expect_region else ""))
    started = time.monotonic()
    answer = http_client.get(api, path, f"KOSMOS API {path}")
    elapsed = time.monotonic() - started
    asked = http_client.as_curl(api, path)
    if isinstance(answer, str):
        return CheckResult(False, f"{api.base_url}{path} did not answer: {answer}",
                           measured=answer, limit=limit, evidence=[Evidence("health request", asked, answer)])
    body = _json(answer)
    age = f" (Age: {answer.headers['age']})" if "age" in answer.headers else ""
    evidence = [Evidence("health request", asked,
                         f"HTTP {answer.status_code} in {elapsed * 1000:.0f} ms{age}\n{trim(answer.text)}")]
    problems: list[str] = []
    offenders: list[str] = []
    if answer.status_code != 200:
        problems.append(f"HTTP {answer.status_code}")
    if not isinstance(body, dict):
        problems.append("body is not a JSON object")
        body = {}
    elif not body:
        problems.append("empty answer {}")
    status = field_value(body, health.status_field)
    if body and not _healthy(status, ok_values):
        problems.append(f"overall {health.status_field} {status!r}" if status is not _ABSENT
                        else f"no overall {health.status_field} in the answer")
    components: dict = {}
    if health.components_field:
        found = _components(field_value(body, health.components_field))
        if body and not found:
            problems.append(f"no components reported under {health.components_field}")
        components = found or {}
        unhealthy = []
        for name, detail in components.items():
            state = detail.get(component_status) if isinstance(detail, dict) else detail
            if not _healthy(state, ok_values):
                extra = detail.get("error") if isinstance(detail, dict) else None
                unhealthy.append(f"{name}={state}" + (f" ({extra})" if extra else ""))
        if unhealthy:
            problems.append("unhealthy components: " + ", ".join(unhealthy))
            offenders += unhealthy
        missing = [name for name in health.required_components if components and name not in components]
        if missing:
            problems.append(f"component(s) {', '.join(missing)} not reported (a health answer that does not check "
                            f"them says nothing about them)")
            offenders += [f"{name}: not reported" for name in missing]
    answered = field_value(body, health.region_field) if health.region_field else _ABSENT
    if expect_region and body and answered != expect_region:
        problems.append(f"answered by region {answered!r}, not the DR region {expect_region!r}"
                        if answered not in (_ABSENT, None, "")
                        else f"the answer does not say which region answered (no {health.region_field}; "
                             f"expected {expect_region!r})")
    if body:
        problems += _freshness(answer, body, health, incident_start, now or datetime.now(timezone.utc))
    shown_status = None if status is _ABSENT else status
    if problems:
        return CheckResult(False, f"{path}: {'; '.join(problems)} (expected {limit})",
                           measured=f"HTTP {answer.status_code}, status {shown_status!r}, {len(components)} components",
                           limit=limit, offenders=offenders, evidence=evidence)
    where = f" from {answered}" if answered not in (_ABSENT, None, "") else ""
    parts = f", {len(components)} components ok ({', '.join(components)})" if health.components_field else \
        " (the body lists no components: health.components_field is empty)"
    return CheckResult(True, f"{path}: HTTP 200 in {elapsed * 1000:.0f} ms{where}, {health.status_field} "
                       f"{shown_status}{parts}", measured=f"HTTP 200, {len(components)} components ok", limit=limit,
                       evidence=evidence)


def grafana_health(grafana: httpx.Client, monitoring: Monitoring | None = None) -> CheckResult:
    """VAL-MONITORING: Grafana's ``/api/health`` is 200 with its database ok, its availability data source
    answers (``/api/datasources/uid/<uid>/health``), and that data source has a current sample of the
    availability series (monitoring that is up but sees nothing is not monitoring)."""
    from .availability import live_query

    monitoring = monitoring or Monitoring()
    uid, query = monitoring.datasource, live_query(monitoring.availability_series)
    limit = f"HTTP 200 database ok; data source {uid} OK; a current sample of {query}"
    answer = http_client.get(grafana, "/api/health", "Grafana /api/health")
    asked = f"GET {grafana.base_url}/api/health\n(shell: curl -sS {grafana.base_url}/api/health)"
    if isinstance(answer, str):
        return CheckResult(False, f"Grafana {grafana.base_url}/api/health did not answer: {answer}",
                           measured=answer, limit=limit, evidence=[Evidence("health", asked, answer)])
    body = _json(answer)
    body = body if isinstance(body, dict) else {}
    database, version = body.get("database"), body.get("version")
    evidence = [Evidence("health", asked, f"HTTP {answer.status_code}\n{trim(answer.text)}")]
    if answer.status_code != 200 or database != "ok" or not version:
        missing = "" if version else ", no version (not Grafana's health answer)"
        return CheckResult(False, f"Grafana /api/health: HTTP {answer.status_code}, database={database!r}{missing} "
                           f"(expected HTTP 200, database 'ok')", measured=database, limit="ok", evidence=evidence)
    problems = []
    # the data source the availability series is read from
    path = f"/api/datasources/uid/{uid}/health"
    checked = http_client.get(grafana, path, f"Grafana data source {uid} health")
    shown = f"GET {grafana.base_url}{path}\n(shell: curl -sS -H \"Authorization: Bearer $GRAFANA_TOKEN\" {grafana.base_url}{path})"
    if isinstance(checked, str):
        problems.append(f"data source {uid} health did not answer: {checked}")
        evidence.append(Evidence("data source health", shown, checked))
    else:
        evidence.append(Evidence("data source health", shown, f"HTTP {checked.status_code}\n{trim(checked.text)}"))
        state = _json(checked)
        state = state if isinstance(state, dict) else {}
        if checked.status_code == 404:
            problems.append(f"Grafana has no data source with uid {uid!r} (not provisioned in the DR region)")
        elif checked.status_code != 200 or str(state.get("status", "")).upper() != "OK":
            problems.append(f"data source {uid}: HTTP {checked.status_code}, status {state.get('status')!r}"
                            + (f" ({trim(str(state['message']), 200)})" if state.get("message") else ""))
    if not problems:  # the data source answers: does it see the API now?
        path = f"/api/datasources/proxy/uid/{uid}/api/v1/query?{urlencode({'query': query})}"
        shown = (f"GET {grafana.base_url}{path}\n(shell: curl -sS -H \"Authorization: Bearer $GRAFANA_TOKEN\" "
                 f"'{grafana.base_url}{path}')")
        live = http_client.get(grafana, path, f"Prometheus query via Grafana ({uid})")
        if isinstance(live, str):
            problems.append(f"query {query} did not answer: {live}")
            evidence.append(Evidence("current sample", shown, live))
        else:
            evidence.append(Evidence("current sample", shown, f"HTTP {live.status_code}\n{trim(live.text, 800)}"))
            data = _json(live)
            result = data.get("data", {}).get("result") if isinstance(data, dict) and isinstance(data.get("data"), dict) else None
            if live.status_code != 200 or not isinstance(data, dict) or data.get("status") != "success":
                problems.append(f"query {query}: HTTP {live.status_code}, not a Prometheus success answer")
            elif not isinstance(result, list) or not result:
                problems.append(f"no current sample of {query}: the monitoring does not see the KOSMOS API "
                                f"(probes stopped or aimed elsewhere)")
    if problems:
        return CheckResult(False, f"Grafana {version} is up (database ok) but " + "; ".join(problems),
                           measured="; ".join(problems), limit=limit, offenders=problems, evidence=evidence)
    return CheckResult(True, f"Grafana {version}: HTTP 200, database ok; data source {uid} OK with a current "
                       f"sample of the availability series", measured="ok", limit=limit, evidence=evidence)


def _command_evidence(title: str, run: plan_commands.CommandRun) -> Evidence:
    status = "killed on timeout" if run.timed_out else f"exit {run.exit_code}"
    junit = ""
    if run.junit is not None:
        junit = f"\nJUnit {run.junit_path}: {run.junit.describe()}" + "".join(f"\n  {f}" for f in run.junit.failed[:10])
    elif run.pytest_like:
        junit = f"\nJUnit {run.junit_path}: not written"
    asked = f"{run.shown}\n(in {run.cwd}; shell: cd {run.cwd} && {run.shown})"
    return Evidence(title, asked, f"{status} in {format_duration(run.seconds)}{junit}\noutput ({run.output_path}):\n"
                    + trim(run.tail(60), 6000))


def smoke_tests(smoke: SmokeTests, env: dict[str, str], run_folder: Path) -> CheckResult:
    """VAL-SMOKE: the plan's smoke tests (``smoke.smoke_command``, ``pytest tests/integration/smoke_tests.py``)
    run in the KOSMOS checkout against the DR API, and pass with at least one test run."""
    checkout = plan_commands.resolve_checkout(smoke.checkout)
    run = plan_commands.run_command(smoke.smoke_command, checkout=checkout, env=env, timeout=smoke.timeout,
                                    run_folder=run_folder, name="smoke-tests")
    passed, reason = plan_commands.verdict(run, smoke.cannot_verify_exit_codes)
    evidence = [_command_evidence("plan smoke tests", run)]
    measured = run.junit.describe() if run.junit else f"exit {run.exit_code}"
    limit = "exit 0 with at least one test run and none failed"
    offenders = list(run.junit.failed) if run.junit and not passed else ([] if passed else [run.last_line()[:300]])
    return CheckResult(passed, f"smoke tests {run.shown!r} in {run.cwd}: {reason}", measured=measured,
                       limit=limit, offenders=offenders, evidence=evidence)


def agent_routing(smoke: SmokeTests, agents: tuple[str, ...], env: dict[str, str], run_folder: Path) -> CheckResult:
    """VAL-AGENT-ROUTING: the plan's routing script (``smoke.routing_command``, ``python
    scripts/test_agent_routing.py --agent {agent}``) passes for every agent of the target."""
    if not agents:
        raise DRUnverifiable("agent routing", "the target lists no agents to route to",
                             "list the plan's agents under [targets.NAME.agents]")
    checkout = plan_commands.resolve_checkout(smoke.checkout)
    evidence, failed, passed_agents = [], [], []

    def route(agent: str) -> plan_commands.CommandRun:
        return plan_commands.run_command(smoke.routing_command, checkout=checkout, env=env, timeout=smoke.timeout,
                                         run_folder=run_folder, name="agent-routing", agent=agent)

    # the agents' runs are independent: run together (a handful at most), judged in the target's order;
    # one at a time when the command names its own JUnit file (the runs would overwrite it)
    at_once = 1 if plan_commands.names_its_junit(smoke.routing_command) else min(len(agents), ROUTING_AT_ONCE)
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        runs = list(pool.map(route, agents))
    for agent, run in zip(agents, runs):
        ok, reason = plan_commands.verdict(run, smoke.cannot_verify_exit_codes)
        evidence.append(_command_evidence(f"routing {agent}", run))
        (passed_agents if ok else failed).append(f"{agent}: {reason}")
    script = f"{smoke.routing_command!r} in {checkout}"
    limit = f"exit 0 for every agent ({', '.join(agents)})"
    if failed:
        names = ", ".join(line.split(":", 1)[0] for line in failed)
        return CheckResult(False, f"routing script {script} failed for {names}: " + "; ".join(failed),
                           measured=f"{len(failed)} of {len(agents)} agents failed", limit=limit, offenders=failed,
                           evidence=evidence)
    return CheckResult(True, f"routing script {script} passed for {len(agents)} agent(s): "
                       + "; ".join(passed_agents), measured=f"{len(agents)}/{len(agents)} agents", limit=limit,
                       evidence=evidence)
