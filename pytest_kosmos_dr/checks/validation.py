"""Recovery Validation (VAL-*): the plan's health checks and smoke tests."""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx

from ..clients import http as http_client
from ..results import CheckResult, Evidence, trim

HEALTHY = {"ok", "healthy", "up", "pass", "green"}
# The KOSMOS API's documented read endpoints (GET, no side effects): path -> required item fields.
READ_ENDPOINTS = {
    "/v1/agents": ("id",),
    "/v1/conversations?limit=5": ("id", "agent_id", "created_at"),
}
MESSAGES_ENDPOINT = "/v1/conversations/{id}/messages"


def _curl(client: httpx.Client, path: str, auth: bool = False) -> str:
    header = ' -H "Authorization: Bearer $KOSMOS_API_TOKEN"' if auth else ""
    return f"GET {client.base_url}{path}\n(shell: curl -sS{header} {client.base_url}{path})"


def _json(response: httpx.Response) -> object | None:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def api_health(api: httpx.Client) -> CheckResult:
    """VAL-API-HEALTH: ``GET /health`` is 200 and every component it lists is healthy."""
    cid = "VAL-API-HEALTH"
    started = time.monotonic()
    answer = http_client.get(api, "/health", "KOSMOS API /health")
    elapsed = time.monotonic() - started
    asked = _curl(api, "/health")
    if isinstance(answer, str):
        return CheckResult(cid, False, f"{api.base_url}/health did not answer: {answer}",
                           measured=answer, limit="HTTP 200", evidence=[Evidence("health request", asked, answer)])
    body = _json(answer)
    evidence = [Evidence("health request", asked, f"HTTP {answer.status_code} in {elapsed * 1000:.0f} ms\n{trim(answer.text)}")]
    components = body.get("components", {}) if isinstance(body, dict) else {}
    unhealthy = []
    for name, detail in components.items():
        status = detail.get("status") if isinstance(detail, dict) else detail
        if str(status).lower() not in HEALTHY:
            extra = detail.get("error") if isinstance(detail, dict) else None
            unhealthy.append(f"{name}={status}" + (f" ({extra})" if extra else ""))
    if answer.status_code != 200 or unhealthy or not isinstance(body, dict):
        reasons = [f"HTTP {answer.status_code}"]
        if unhealthy:
            reasons.append("unhealthy components: " + ", ".join(unhealthy))
        if not isinstance(body, dict):
            reasons.append("body is not a JSON object")
        return CheckResult(cid, False, f"/health: {'; '.join(reasons)} (expected HTTP 200, all components ok)",
                           measured=answer.status_code, limit=200, offenders=unhealthy, evidence=evidence)
    return CheckResult(cid, True, f"/health: HTTP 200 in {elapsed * 1000:.0f} ms, {len(components)} components ok",
                       measured=answer.status_code, limit=200, evidence=evidence)


def grafana_health(grafana: httpx.Client) -> CheckResult:
    """VAL-MONITORING: ``GET /api/health`` is 200 and Grafana's database is ok."""
    cid = "VAL-MONITORING"
    answer = http_client.get(grafana, "/api/health", "Grafana /api/health")
    asked = f"GET {grafana.base_url}/api/health\n(shell: curl -sS {grafana.base_url}/api/health)"
    if isinstance(answer, str):
        return CheckResult(cid, False, f"Grafana {grafana.base_url}/api/health did not answer: {answer}",
                           measured=answer, limit="HTTP 200, database ok", evidence=[Evidence("health", asked, answer)])
    body = _json(answer)
    database = body.get("database") if isinstance(body, dict) else None
    evidence = [Evidence("health", asked, f"HTTP {answer.status_code}\n{trim(answer.text)}")]
    if answer.status_code != 200 or database != "ok":
        return CheckResult(cid, False, f"Grafana /api/health: HTTP {answer.status_code}, database={database!r} "
                           f"(expected HTTP 200, database 'ok')", measured=database, limit="ok", evidence=evidence)
    version = body.get("version", "?")
    return CheckResult(cid, True, f"Grafana {version}: HTTP 200, database ok", measured=database, limit="ok",
                       evidence=evidence)


def api_smoke(api: httpx.Client) -> CheckResult:
    """VAL-SMOKE: the documented read endpoints answer 200 with well-formed items."""
    cid = "VAL-SMOKE"
    problems: list[str] = []
    evidence: list[Evidence] = []
    conversation_id = None
    paths = list(READ_ENDPOINTS.items())
    for path, required in paths:
        problem, items = _read_items(api, path, required, evidence)
        if problem:
            problems.append(problem)
        elif path.startswith("/v1/conversations") and items:
            conversation_id = items[0]["id"]
            for item in items:
                try:
                    datetime.fromisoformat(str(item["created_at"]).replace("Z", "+00:00"))
                except ValueError:
                    problems.append(f"{path}: created_at {item['created_at']!r} is not an ISO-8601 time")
                    break
    if conversation_id is not None:
        path = MESSAGES_ENDPOINT.format(id=conversation_id)
        problem, _ = _read_items(api, path, ("id", "role", "body"), evidence)
        if problem:
            problems.append(problem)
    checked = len(evidence)
    if problems:
        return CheckResult(cid, False, "API read endpoints: " + "; ".join(problems),
                           measured=f"{checked - len(problems)}/{checked} endpoints ok", limit="all ok",
                           offenders=problems, evidence=evidence)
    return CheckResult(cid, True, f"API read endpoints: {checked}/{checked} answered well-formed data",
                       measured=f"{checked}/{checked}", limit="all ok", evidence=evidence)


def _read_items(api: httpx.Client, path: str, required: tuple[str, ...], evidence: list[Evidence]):
    answer = http_client.get(api, path, f"KOSMOS API {path}")
    if isinstance(answer, str):
        evidence.append(Evidence(path, _curl(api, path, auth=True), answer))
        return f"{path} did not answer: {answer}", None
    evidence.append(Evidence(path, _curl(api, path, auth=True), f"HTTP {answer.status_code}\n{trim(answer.text, 1500)}"))
    if answer.status_code != 200:
        return f"{path} answered HTTP {answer.status_code}", None
    body = _json(answer)
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return f"{path} did not answer a JSON object with an 'items' list", None
    items = body["items"]
    if not items:
        return f"{path} answered no items", None
    for item in items:
        missing = [f for f in required if not isinstance(item, dict) or item.get(f) in (None, "")]
        if missing:
            return f"{path}: an item lacks {', '.join(missing)}", None
    return None, items


def agent_routing(api: httpx.Client, agent: str) -> CheckResult:
    """VAL-AGENT-ROUTING: a probe routed to ``agent`` is answered by that agent."""
    cid = "VAL-AGENT-ROUTING"
    path = f"/v1/agents/{agent}/probe"
    answer = http_client.get(api, path, f"agent probe {agent}")
    asked = _curl(api, path, auth=True)
    if isinstance(answer, str):
        return CheckResult(cid, False, f"probe to {agent} did not answer: {answer}", measured=answer, limit=agent,
                           evidence=[Evidence("probe", asked, answer)])
    body = _json(answer)
    evidence = [Evidence("probe", asked, f"HTTP {answer.status_code}\n{trim(answer.text)}")]
    answered_by = body.get("agent") if isinstance(body, dict) else None
    if answer.status_code != 200 or answered_by != agent:
        return CheckResult(cid, False, f"probe to {agent}: HTTP {answer.status_code}, answered by {answered_by!r} "
                           f"(expected {agent!r})", measured=answered_by, limit=agent,
                           offenders=[str(answered_by)], evidence=evidence)
    where = body.get("pod", "?")
    return CheckResult(cid, True, f"probe to {agent} answered by {answered_by} (pod {where})",
                       measured=answered_by, limit=agent, evidence=evidence)
