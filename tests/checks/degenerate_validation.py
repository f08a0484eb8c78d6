"""Degenerate inputs for the VAL-* checks: empty bodies, missing fields, None values; for the plan's
commands no checkout, empty or all-skipped suites, missing scripts, silent failures."""

import atexit
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import httpx

from pytest_kosmos_dr import plan_commands
from pytest_kosmos_dr.checks import validation
from pytest_kosmos_dr.target import Health, SmokeTests

# a stand-in for pytest (named pytest, so the run adds --junitxml): it reports the test functions of the
# files it is given (skipped when they call pytest.skip) in a JUnit file, the way pytest does, without
# starting a real pytest (a degenerate case is about the verdict on what pytest reports, not pytest)
FAKE_PYTEST = """import sys
from pathlib import Path
paths = [a for a in sys.argv[1:] if not a.startswith("-")]
junit = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--junitxml="))
missing = [p for p in paths if not Path(p).exists()]
if missing:
    print("ERROR: file or directory not found: " + missing[0])
    raise SystemExit(4)
text = "".join(Path(p).read_text() for p in paths)
tests = text.count("def test_")
skipped = tests if "pytest.skip" in text else 0
Path(junit).write_text(f'<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="{skipped}" '
                       f'tests="{tests}"></testsuite></testsuites>')
print(f"{tests - skipped} passed, {skipped} skipped" if tests else "no tests ran")
raise SystemExit(0 if tests else 5)
"""
FAKE_SMOKE_COMMAND = "{python} fake/pytest -q tests/integration/smoke_tests.py"
ROUTING_COMMAND = "{python} scripts/test_agent_routing.py --agent {agent}"

INCIDENT = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def _client(routes: dict) -> httpx.Client:
    """``routes``: path -> (status, json body | raw text); anything else answers 404."""

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = routes.get(request.url.path, (404, {"error": "not found"}))
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://api.test")


SPRING = Health(path="/health", status_field="status", ok_values=("UP",), region_field="details.region",
                components_field="components", required_components=("db",), checked_at_field="details.time")


def _health(body, status=200, health=None):
    return validation.api_health(_client({"/health": (status, body)}), health, region="us-west-2",
                                 incident_start=INCIDENT)


def _grafana(routes):
    return validation.grafana_health(_client(routes))


_SCRATCH: list[Path] = []


def _scratch(prefix: str) -> Path:
    """A new folder under this process's one scratch folder (removed at exit: the tests leave no folder behind)."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="kosmos-degenerate-")))
        atexit.register(shutil.rmtree, _SCRATCH[0], ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_SCRATCH[0]))


def _checkout(files: dict[str, str]) -> str:
    """A throw-away KOSMOS checkout holding ``files`` (relative path -> text)."""
    root = _scratch("checkout-")
    (root / "pytest.ini").write_text("[pytest]\n")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return str(root)


def _env():
    return plan_commands.command_environment(api_url="http://api.test", api_token=None, token_env="KOSMOS_API_TOKEN")


def _smoke(files: dict[str, str] | None, command: str = FAKE_SMOKE_COMMAND):
    checkout = _checkout({"fake/pytest": FAKE_PYTEST, **files}) if files is not None else ""
    return validation.smoke_tests(SmokeTests(checkout=checkout, smoke_command=command), _env(),
                                  _scratch("run-"))


def _routing(files: dict[str, str] | None, agents=("zeus-orchestrator",), command=ROUTING_COMMAND):
    checkout = _checkout(files) if files is not None else ""
    return validation.agent_routing(SmokeTests(checkout=checkout, routing_command=command), agents, _env(),
                                    _scratch("run-"))


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
        ("Spring shape, empty object", lambda: _health({}, health=SPRING)),
        ("Spring shape, details None", lambda: _health({"status": "UP", "components": {"db": {"status": "UP"}},
                                                        "details": None}, health=SPRING)),
        ("Spring shape, components a list of nothing", lambda: _health({"status": "UP", "components": [],
                                                                        "details": {"region": "us-west-2"}},
                                                                       health=SPRING)),
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
    "validation.smoke_tests": [
        ("no checkout configured", lambda: _smoke(None)),
        ("empty smoke test file", lambda: _smoke({"tests/integration/smoke_tests.py": ""})),
        ("only skipped tests", lambda: _smoke({"tests/integration/smoke_tests.py":
                                               "import pytest\n\ndef test_x():\n    pytest.skip('none')\n"})),
        ("smoke test file missing", lambda: _smoke({})),
        ("command prints nothing, exits 1", lambda: _smoke({"run.py": "raise SystemExit(1)\n"}, "{python} run.py")),
    ],
    "validation.agent_routing": [
        ("no checkout configured", lambda: _routing(None)),
        ("no agents", lambda: _routing({"scripts/test_agent_routing.py": ""}, agents=())),
        ("routing script missing", lambda: _routing({})),
        ("script exits 1 silently", lambda: _routing({"scripts/test_agent_routing.py": "raise SystemExit(1)\n"})),
        ("agent name empty, script refuses", lambda: _routing(
            {"scripts/test_agent_routing.py": "import sys\nraise SystemExit(0 if sys.argv[2] else 2)\n"}, agents=("",))),
    ],
}
