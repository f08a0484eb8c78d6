"""The plan's smoke-test commands (VAL-SMOKE, VAL-AGENT-ROUTING) run in a checkout: small scripts in
tmp_path stand in for a KOSMOS checkout. No sandbox."""

import sys
import textwrap
from datetime import timedelta

import pytest

from pytest_kosmos_dr import plan_commands
from pytest_kosmos_dr.checks import validation
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.target import SmokeTests

TOKEN = "plan-token-7f3a9c2e1d"


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "kosmos"
    (root / "tests" / "integration").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def write(path, text):
    path.write_text(textwrap.dedent(text))


def env(**extra):
    return plan_commands.command_environment(api_url="http://api.test", api_token=TOKEN, token_env="KOSMOS_API_TOKEN",
                                             extra=tuple(extra.items()), context={"KOSMOS_DR_REGION": "us-west-2"})


def smoke(checkout, command="{python} -m pytest -q -p no:cacheprovider tests/integration/smoke_tests.py", **kw):
    return SmokeTests(checkout=str(checkout), smoke_command=command, **kw)


def test_smoke_tests_pass_when_tests_ran_and_passed(checkout, tmp_path):
    write(checkout / "tests" / "integration" / "smoke_tests.py", """
        import os
        def test_api_url_and_token_are_given():
            assert os.environ["KOSMOS_API_URL"] == "http://api.test"
            assert os.environ[os.environ["KOSMOS_API_TOKEN_ENV"]]
            assert os.environ["KOSMOS_DR_REGION"] == "us-west-2"
        def test_two():
            pass
    """)
    result = validation.smoke_tests(smoke(checkout), env(), tmp_path / "run")
    assert result.passed, result.summary
    assert "exit 0, 2 test(s): 2 passed, 0 failed, 0 error(s), 0 skipped" in result.summary
    assert "JUnit" in result.evidence[0].answer


def test_exit_0_with_no_test_run_is_not_a_pass(checkout, tmp_path):
    write(checkout / "tests" / "integration" / "smoke_tests.py", """
        import pytest
        def test_skipped():
            pytest.skip("nothing to check")
    """)
    result = validation.smoke_tests(smoke(checkout), env(), tmp_path / "run")
    assert not result.passed
    assert "exit 0 but 1 test(s): 0 passed, 0 failed, 0 error(s), 1 skipped: no smoke test ran" in result.summary


def test_no_tests_collected_fails(checkout, tmp_path):
    write(checkout / "tests" / "integration" / "smoke_tests.py", "# no tests yet\n")
    result = validation.smoke_tests(smoke(checkout), env(), tmp_path / "run")
    assert not result.passed and "exit 5 (no tests collected)" in result.summary, result.summary


def test_a_failing_smoke_test_fails_with_its_message(checkout, tmp_path):
    write(checkout / "tests" / "integration" / "smoke_tests.py", """
        def test_ok():
            pass
        def test_agents_listed():
            assert False, "GET /v1/agents does not list zeus-orchestrator"
    """)
    result = validation.smoke_tests(smoke(checkout), env(), tmp_path / "run")
    assert not result.passed
    assert "exit 1; 2 test(s): 1 passed, 1 failed" in result.summary
    assert "test_agents_listed: AssertionError: GET /v1/agents does not list zeus-orchestrator" in result.summary


def test_a_non_zero_script_fails_with_the_tail_of_its_output(checkout, tmp_path):
    write(checkout / "scripts" / "route.py", """
        import sys
        print("asking the gateway")
        print("FAIL: request for " + sys.argv[2] + " answered by athena-analyst")
        sys.exit(1)
    """)
    routing = SmokeTests(checkout=str(checkout), routing_command="{python} scripts/route.py --agent {agent}")
    result = validation.agent_routing(routing, ("zeus-orchestrator",), env(), tmp_path / "run")
    assert not result.passed
    assert "routing script '{python} scripts/route.py --agent {agent}' in " in result.summary
    assert "failed for zeus-orchestrator: zeus-orchestrator: exit 1; output ends: FAIL: request for zeus-orchestrator answered by athena-analyst" in result.summary


def test_routing_runs_once_per_agent_and_passes_when_every_run_exits_0(checkout, tmp_path):
    write(checkout / "scripts" / "route.py", """
        import sys
        print("OK: " + sys.argv[2])
    """)
    routing = SmokeTests(checkout=str(checkout), routing_command="{python} scripts/route.py --agent {agent}")
    result = validation.agent_routing(routing, ("zeus-orchestrator", "hermes-courier"), env(), tmp_path / "run")
    assert result.passed, result.summary
    assert "(OK: zeus-orchestrator)" in result.summary and "(OK: hermes-courier)" in result.summary
    assert len(result.evidence) == 2


def test_no_agents_cannot_be_verified(checkout, tmp_path):
    with pytest.raises(DRUnverifiable, match="lists no agents"):
        validation.agent_routing(SmokeTests(checkout=str(checkout)), (), env(), tmp_path / "run")


def test_a_command_that_hangs_is_killed_at_the_timeout_with_its_children(checkout, tmp_path):
    marker = tmp_path / "child-still-running"
    write(checkout / "scripts" / "hang.py", f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c",
                          "import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).write_text('x')"])
        print("waiting for the gateway", flush=True)
        time.sleep(60)
    """)
    routing = SmokeTests(checkout=str(checkout), routing_command="{python} scripts/hang.py",
                         timeout=timedelta(seconds=1))
    with pytest.raises(DRUnverifiable, match=r"did not finish within 1\.0 s \(killed; last output: waiting for the "
                                             r"gateway\).*raise smoke.timeout"):
        validation.agent_routing(routing, ("zeus-orchestrator",), env(), tmp_path / "run")
    import time
    time.sleep(3.5)  # the grandchild would have written its marker by now, had it survived
    assert not marker.exists()


def test_the_token_is_redacted_from_output_and_evidence(checkout, tmp_path):
    write(checkout / "scripts" / "leak.py", """
        import os, sys
        print("using token " + os.environ["KOSMOS_API_TOKEN"])
        sys.exit(1)
    """)
    routing = SmokeTests(checkout=str(checkout), routing_command="{python} scripts/leak.py")
    result = validation.agent_routing(routing, ("zeus-orchestrator",), env(), tmp_path / "run")
    assert not result.passed
    shown = result.summary + "".join(e.answer + e.asked for e in result.evidence) + "".join(result.offenders)
    assert TOKEN not in shown and "using token ***" in shown
    kept = (tmp_path / "run" / "agent-routing-zeus-orchestrator.out").read_text()
    assert TOKEN not in kept


@pytest.mark.parametrize(("value", "reason"), [("", "no KOSMOS checkout configured"),
                                               ("/nonexistent/kosmos", "/nonexistent/kosmos does not exist")])
def test_missing_checkout_cannot_be_verified_and_names_the_key(tmp_path, value, reason):
    with pytest.raises(DRUnverifiable, match=f"{reason} .*set smoke.checkout"):
        validation.smoke_tests(SmokeTests(checkout=value), env(), tmp_path / "run")


def test_a_program_not_on_path_cannot_be_verified(checkout, tmp_path):
    with pytest.raises(DRUnverifiable, match="cannot run 'no-such-pytest-xyz tests' .*is the program on PATH"):
        validation.smoke_tests(smoke(checkout, "no-such-pytest-xyz tests"), env(), tmp_path / "run")


def test_exit_0_from_pytest_without_a_junit_file_cannot_be_verified(checkout, tmp_path):
    (checkout / "bin").mkdir()
    fake = checkout / "bin" / "pytest"
    fake.write_text(f"#!{sys.executable}\nprint('1 passed')\n")
    fake.chmod(0o755)
    with pytest.raises(DRUnverifiable, match="exited 0 but wrote no readable JUnit file"):
        validation.smoke_tests(smoke(checkout, f"{fake} tests"), env(), tmp_path / "run")


def test_a_child_pytest_does_not_load_this_plugin(checkout, tmp_path):
    write(checkout / "tests" / "integration" / "smoke_tests.py", """
        def test_plugin_not_loaded(pytestconfig):
            assert not pytestconfig.pluginmanager.has_plugin("kosmos_dr")
    """)
    result = validation.smoke_tests(smoke(checkout), env(), tmp_path / "run")
    assert result.passed, result.summary


def test_environment_layers_user_context_smoke_env_then_api():
    built = plan_commands.command_environment(
        api_url="http://api.test", api_token=TOKEN, token_env="DR_TOKEN", extra=(("KOSMOS_DR_REGION", "eu-central-1"),),
        context={"KOSMOS_DR_REGION": "us-west-2", "KOSMOS_DR_NAMESPACE": "kosmos"},
        ca_bundle="/etc/dr/ca.pem", base={"PATH": "/bin", "PYTEST_ADDOPTS": "-x", "KOSMOS_API_URL": "http://old"})
    assert built["PATH"] == "/bin" and built["KOSMOS_API_URL"] == "http://api.test"
    assert built["DR_TOKEN"] == TOKEN and built["KOSMOS_API_TOKEN_ENV"] == "DR_TOKEN"
    assert built["KOSMOS_DR_REGION"] == "eu-central-1" and built["KOSMOS_DR_NAMESPACE"] == "kosmos"
    assert built["SSL_CERT_FILE"] == built["REQUESTS_CA_BUNDLE"] == "/etc/dr/ca.pem"
    assert built["PYTEST_ADDOPTS"] == "-x -p no:kosmos_dr"


@pytest.mark.parametrize(("command", "pytest_like"), [
    ("pytest tests/integration/smoke_tests.py", True),
    ("{python} -m pytest -q tests", True),
    ("uv run pytest tests", True),
    ("python scripts/test_agent_routing.py --agent {agent}", False),
    ("make smoke", False),
])
def test_pytest_like_commands_are_recognised(command, pytest_like):
    assert plan_commands.is_pytest_like(plan_commands.split_command(command, agent="zeus")) is pytest_like


def test_placeholders_are_filled_per_word():
    argv = plan_commands.split_command("{python} 'scripts/route it.py' --agent {agent}", agent="zeus-orchestrator",
                                       python="/opt/py 3/bin/python")
    assert argv == ["/opt/py 3/bin/python", "scripts/route it.py", "--agent", "zeus-orchestrator"]


def test_a_junit_file_named_in_the_command_is_read(checkout, tmp_path):
    write(checkout / "tests" / "integration" / "smoke_tests.py", "def test_one():\n    pass\n")
    command = "{python} -m pytest -q -p no:cacheprovider tests/integration/smoke_tests.py --junitxml out/smoke.xml"
    result = validation.smoke_tests(smoke(checkout, command), env(), tmp_path / "run")
    assert result.passed, result.summary
    assert (checkout / "out" / "smoke.xml").is_file()


def test_a_command_that_says_it_could_not_look_is_not_verified_not_failed(checkout, tmp_path):
    """Rejected credentials are "could not verify": the script exits 77 (automake's "cannot test")."""
    write(checkout / "scripts" / "test_agent_routing.py", """
        import sys
        print("CANNOT VERIFY: HTTP 401: the API rejected the credentials")
        sys.exit(77)
    """)
    routing = smoke(checkout, routing_command="{python} scripts/test_agent_routing.py --agent {agent}")
    with pytest.raises(DRUnverifiable, match="exited 77, which says it could not look: CANNOT VERIFY: HTTP 401"):
        validation.agent_routing(routing, ("zeus-orchestrator",), env(), tmp_path / "run")
    other = smoke(checkout, routing_command="{python} scripts/test_agent_routing.py --agent {agent}",
                  cannot_verify_exit_codes=(3,))
    result = validation.agent_routing(other, ("zeus-orchestrator",), env(), tmp_path / "run2")
    assert not result.passed and "exit 77" in result.summary  # a target may name other codes; 77 then fails


def test_pytest_usage_errors_are_not_verified(checkout, tmp_path):
    write(checkout / "tests" / "integration" / "smoke_tests.py", "def test_x():\n    pass\n")
    bad = smoke(checkout, command="{python} -m pytest --no-such-option tests/integration/smoke_tests.py")
    with pytest.raises(DRUnverifiable, match="exited 4"):
        validation.smoke_tests(bad, env(), tmp_path / "run")


def test_a_command_naming_its_own_junit_file_is_known_as_such():
    """The routing script runs for several agents at once only when the runs do not share one JUnit file."""
    assert plan_commands.names_its_junit("pytest --junitxml=out.xml tests/")
    assert plan_commands.names_its_junit("python -m pytest --junit-xml out.xml")
    assert not plan_commands.names_its_junit("python scripts/test_agent_routing.py --agent {agent}")
