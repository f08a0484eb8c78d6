"""Recovery Validation (VAL-*): the plan's health checks and smoke tests.

The KOSMOS API's contract as these checks read it:

* ``GET /health`` -> ``{"status", "region", "checked_at", "components": {name: {"status", ...}}}``;
  the overall status and every component must be healthy, the components must include the ones
  the API cannot serve without (the database), the answer must come from the DR region, and it
  must be fresh (``checked_at`` after the incident and within ``HEALTH_MAX_AGE``; an HTTP ``Age``
  header from a cache no older than that either).
* ``GET /v1/agents``, ``GET /v1/conversations?limit=5``, ``GET /v1/conversations/{id}/messages``
  -> ``{"items": [...]}``.
* ``GET /v1/agents/{agent}/probe?nonce=<n>`` -> ``{"agent", "pod", "namespace", "region", "nonce"}``:
  the probe is answered by the agent itself, which echoes the caller's nonce (a cached answer
  cannot).

Grafana's contract is its documented HTTP API: ``GET /api/health`` -> ``{"database": "ok",
"version": ...}``; ``GET /api/datasources/uid/<uid>/health`` -> ``{"status": "OK", "message"}``;
the data-source proxy answers Prometheus's HTTP API (``/api/v1/query``).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import httpx

from ..clients import http as http_client
from ..results import CheckResult, Evidence, trim
from ..timeparse import format_duration, isoformat

HEALTHY = {"ok", "healthy", "up", "pass", "green"}
REQUIRED_COMPONENTS = ("database",)  # the API cannot serve anything without its database
HEALTH_MAX_AGE = timedelta(minutes=5)  # a health answer older than this is a cached one
# The KOSMOS API's documented read endpoints (GET, no side effects): path -> required item fields.
READ_ENDPOINTS = {
    "/v1/agents": ("id",),
    "/v1/conversations?limit=5": ("id", "agent_id", "created_at"),
}
MESSAGES_ENDPOINT = "/v1/conversations/{id}/messages"
PROBE_ENDPOINT = "/v1/agents/{agent}/probe"


def _curl(client: httpx.Client, path: str, auth: bool = False) -> str:
    header = ' -H "Authorization: Bearer $KOSMOS_API_TOKEN"' if auth else ""
    return f"GET {client.base_url}{path}\n(shell: curl -sS{header} '{client.base_url}{path}')"


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


def _healthy(status: object) -> bool:
    return isinstance(status, str) and status.lower() in HEALTHY


def _components(raw: object) -> dict | None:
    """``{name: detail}`` from a mapping or a list of ``{"name": ..}`` entries; None when neither."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, list) and all(isinstance(c, dict) and c.get("name") for c in raw):
        return {c["name"]: c for c in raw}
    return None


def _freshness(answer: httpx.Response, body: dict, incident_start: datetime | None, now: datetime) -> list[str]:
    """Why the answer is not a fresh one (a cache's Age header, an old or pre-incident checked_at)."""
    problems = []
    age = answer.headers.get("age")
    if age is not None:
        try:
            seconds = float(age)
        except ValueError:
            seconds = None
        if seconds is not None and seconds > HEALTH_MAX_AGE.total_seconds():
            problems.append(f"served from a cache (Age: {format_duration(seconds)} > {format_duration(HEALTH_MAX_AGE)})")
    if "checked_at" in body:
        checked = _instant(body.get("checked_at"))
        if checked is None:
            problems.append(f"checked_at {body.get('checked_at')!r} is not an ISO-8601 time")
        else:
            if incident_start is not None and checked < incident_start:
                problems.append(f"checked_at {isoformat(checked)} is before the incident start "
                                f"{isoformat(incident_start)} (a cached answer from before the disaster)")
            elif now - checked > HEALTH_MAX_AGE:
                problems.append(f"checked_at {isoformat(checked)} is {format_duration(now - checked)} old "
                                f"(a cached answer; limit {format_duration(HEALTH_MAX_AGE)})")
    return problems


def api_health(api: httpx.Client, *, region: str | None = None, required: tuple[str, ...] = REQUIRED_COMPONENTS,
               incident_start: datetime | None = None, now: datetime | None = None) -> CheckResult:
    """VAL-API-HEALTH: ``GET /health`` is 200, status ok, every component ok (the database among them),
    answered fresh by the DR ``region``."""
    cid = "VAL-API-HEALTH"
    limit = "HTTP 200, status ok, every component ok" + (f", region {region}" if region else "")
    started = time.monotonic()
    answer = http_client.get(api, "/health", "KOSMOS API /health")
    elapsed = time.monotonic() - started
    asked = _curl(api, "/health")
    if isinstance(answer, str):
        return CheckResult(cid, False, f"{api.base_url}/health did not answer: {answer}",
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
    status = body.get("status")
    if body and not _healthy(status):
        problems.append(f"overall status {status!r}" if status is not None else "no overall status")
    components = _components(body.get("components"))
    if body and not components:
        problems.append("no components reported")
    components = components or {}
    unhealthy = []
    for name, detail in components.items():
        state = detail.get("status") if isinstance(detail, dict) else detail
        if not _healthy(state):
            extra = detail.get("error") if isinstance(detail, dict) else None
            unhealthy.append(f"{name}={state}" + (f" ({extra})" if extra else ""))
    if unhealthy:
        problems.append("unhealthy components: " + ", ".join(unhealthy))
        offenders += unhealthy
    missing = [name for name in required if components and name not in components]
    if missing:
        problems.append(f"component(s) {', '.join(missing)} not reported (a health answer that does not check "
                        f"them says nothing about them)")
        offenders += [f"{name}: not reported" for name in missing]
    if region and body:
        answered = body.get("region")
        if answered != region:
            problems.append(f"answered by region {answered!r}, not the DR region {region!r}" if answered
                            else f"the answer does not say which region answered (expected {region!r})")
    if body:
        problems += _freshness(answer, body, incident_start, now or datetime.now(timezone.utc))
    if problems:
        return CheckResult(cid, False, f"/health: {'; '.join(problems)} (expected {limit})",
                           measured=f"HTTP {answer.status_code}, status {status!r}, {len(components)} components",
                           limit=limit, offenders=offenders, evidence=evidence)
    where = f" from {body.get('region')}" if body.get("region") else ""
    return CheckResult(cid, True, f"/health: HTTP 200 in {elapsed * 1000:.0f} ms{where}, status {status}, "
                       f"{len(components)} components ok ({', '.join(components)})",
                       measured=f"HTTP 200, {len(components)} components ok", limit=limit, evidence=evidence)


def grafana_health(grafana: httpx.Client, *, datasource_uid: str | None = None, query: str | None = None) -> CheckResult:
    """VAL-MONITORING: Grafana's ``/api/health`` is 200 with its database ok, its availability data source
    answers (``/api/datasources/uid/<uid>/health``), and that data source has a current sample of the
    availability series (monitoring that is up but sees nothing is not monitoring)."""
    from .availability import DATASOURCE_UID, LIVE_QUERY

    cid = "VAL-MONITORING"
    uid, query = datasource_uid or DATASOURCE_UID, query or LIVE_QUERY
    limit = f"HTTP 200 database ok; data source {uid} OK; a current sample of {query}"
    answer = http_client.get(grafana, "/api/health", "Grafana /api/health")
    asked = f"GET {grafana.base_url}/api/health\n(shell: curl -sS {grafana.base_url}/api/health)"
    if isinstance(answer, str):
        return CheckResult(cid, False, f"Grafana {grafana.base_url}/api/health did not answer: {answer}",
                           measured=answer, limit=limit, evidence=[Evidence("health", asked, answer)])
    body = _json(answer)
    body = body if isinstance(body, dict) else {}
    database, version = body.get("database"), body.get("version")
    evidence = [Evidence("health", asked, f"HTTP {answer.status_code}\n{trim(answer.text)}")]
    if answer.status_code != 200 or database != "ok" or not version:
        missing = "" if version else ", no version (not Grafana's health answer)"
        return CheckResult(cid, False, f"Grafana /api/health: HTTP {answer.status_code}, database={database!r}{missing} "
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
        return CheckResult(cid, False, f"Grafana {version} is up (database ok) but " + "; ".join(problems),
                           measured="; ".join(problems), limit=limit, offenders=problems, evidence=evidence)
    return CheckResult(cid, True, f"Grafana {version}: HTTP 200, database ok; data source {uid} OK with a current "
                       f"sample of the availability series", measured="ok", limit=limit, evidence=evidence)


def api_smoke(api: httpx.Client, *, agents: tuple[str, ...] = (), newest_not_before: datetime | None = None) -> CheckResult:
    """VAL-SMOKE: the documented read endpoints answer 200 with well-formed items: the target's
    ``agents`` are listed, the newest conversation is not older than ``newest_not_before`` (incident
    start minus the RPO: else the API serves a stale copy), and messages belong to the conversation asked."""
    cid = "VAL-SMOKE"
    problems: list[str] = []
    evidence: list[Evidence] = []
    conversation_id = None
    for path, required in READ_ENDPOINTS.items():
        problem, items = _read_items(api, path, required, evidence)
        if problem:
            problems.append(problem)
            continue
        if path == "/v1/agents":
            listed = {str(item["id"]) for item in items}
            absent = [a for a in agents if a not in listed]
            if absent:
                problems.append(f"{path} does not list {', '.join(absent)} (lists {', '.join(sorted(listed))}): "
                                f"the API reads another environment's data")
        if path.startswith("/v1/conversations"):
            conversation_id = items[0]["id"]
            times = [_instant(str(item["created_at"])) for item in items]
            if any(t is None for t in times):
                bad = next(item["created_at"] for item, t in zip(items, times) if t is None)
                problems.append(f"{path}: created_at {bad!r} is not an ISO-8601 time")
            elif newest_not_before is not None and max(times) < newest_not_before:
                problems.append(f"{path}: newest conversation created {isoformat(max(times))}, before "
                                f"{isoformat(newest_not_before)} (incident start minus the RPO): the API serves a "
                                f"stale copy of the data")
    if conversation_id is not None:
        path = MESSAGES_ENDPOINT.format(id=conversation_id)
        problem, items = _read_items(api, path, ("id", "role", "body"), evidence)
        if problem:
            problems.append(problem)
        else:
            foreign = sorted({str(m["conversation_id"]) for m in items
                              if "conversation_id" in m and str(m["conversation_id"]) != str(conversation_id)})
            if foreign:
                problems.append(f"{path} answered messages of conversation(s) {', '.join(foreign)}, not "
                                f"{conversation_id}")
    checked = len(evidence)
    if problems:
        return CheckResult(cid, False, "API read endpoints: " + "; ".join(problems),
                           measured=f"{len(problems)} problem(s) over {checked} endpoints", limit="all ok",
                           offenders=problems, evidence=evidence)
    fresh = f", newest conversation after {isoformat(newest_not_before)}" if newest_not_before else ""
    return CheckResult(cid, True, f"API read endpoints: {checked}/{checked} answered well-formed data{fresh}",
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


def agent_routing(api: httpx.Client, agent: str, *, pod: str | None = None, namespace: str | None = None,
                  region: str | None = None) -> CheckResult:
    """VAL-AGENT-ROUTING: a probe routed to ``agent`` is answered, fresh (it echoes our nonce), by that
    agent's ``pod`` in ``namespace`` of the DR ``region``."""
    cid = "VAL-AGENT-ROUTING"
    nonce = uuid.uuid4().hex
    path = f"{PROBE_ENDPOINT.format(agent=agent)}?{urlencode({'nonce': nonce})}"
    expected = {"agent": agent, "pod": pod, "namespace": namespace, "region": region}
    limit = ", ".join(f"{k} {v}" for k, v in expected.items() if v) + ", our nonce echoed"
    answer = http_client.get(api, path, f"agent probe {agent}")
    asked = _curl(api, path, auth=True)
    if isinstance(answer, str):
        return CheckResult(cid, False, f"probe to {agent} did not answer: {answer}", measured=answer, limit=limit,
                           evidence=[Evidence("probe", asked, answer)])
    body = _json(answer)
    body = body if isinstance(body, dict) else {}
    evidence = [Evidence("probe", asked, f"HTTP {answer.status_code}\n{trim(answer.text)}")]
    answered_by = body.get("agent")
    if answer.status_code != 200 or answered_by != agent:
        return CheckResult(cid, False, f"probe to {agent}: HTTP {answer.status_code}, answered by {answered_by!r} "
                           f"(expected {agent!r})", measured=answered_by, limit=limit,
                           offenders=[str(answered_by)], evidence=evidence)
    problems = []
    for field in ("pod", "namespace", "region"):
        want, have = expected[field], body.get(field)
        if want and have != want:
            problems.append(f"{field} {have!r}, expected {want!r}" if have is not None
                            else f"the answer does not name its {field} (expected {want!r})")
    if body.get("nonce") != nonce:
        problems.append(f"nonce {body.get('nonce')!r} is not ours ({nonce}): a cached or replayed answer")
    if problems:
        return CheckResult(cid, False, f"probe to {agent} answered by an agent named {agent}, but: " + "; ".join(problems),
                           measured={k: body.get(k) for k in ("agent", "pod", "namespace", "region", "nonce")},
                           limit=limit, offenders=problems, evidence=evidence)
    where = "/".join(str(body.get(k)) for k in ("region", "namespace", "pod") if body.get(k))
    return CheckResult(cid, True, f"probe to {agent} answered by {answered_by} ({where or 'pod ?'}), nonce echoed",
                       measured=answered_by, limit=limit, evidence=evidence)
