"""Several targets in one run: `--dr-target east,west` (or `all`) runs every DR test once per
target, each target's tests on one xdist worker with its own sandbox, and ends with one scorecard
per target and one overall verdict (the exit code follows the worst target)."""

import json

import pytest

from conftest import run_suite

pytestmark = pytest.mark.slow  # each run starts a sandbox per target

TWO_SANDBOXES = """
[targets.east]
kind = "sandbox"
[targets.east.timeouts]
converge = "0s"
[targets.west]
kind = "sandbox"
[targets.west.timeouts]
converge = "0s"
[targets.west.objectives]
rpo = "{west_rpo}"
"""


@pytest.mark.parametrize(("west_rpo", "exit_code", "west_verdict"), [("15m", 0, "passed"), ("1s", 1, "failed")],
                         ids=["both-pass", "west-misses-its-rpo"])
def test_two_sandbox_targets_give_two_scorecards_and_the_overall_exit_code(pytester, tmp_path, monkeypatch,
                                                                            west_rpo, exit_code, west_verdict):
    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(tmp_path / "no-shared-sandbox"))
    config = tmp_path / "kosmos-dr.toml"
    config.write_text(TWO_SANDBOXES.format(west_rpo=west_rpo))
    card = tmp_path / "card.json"
    result = run_suite(pytester, "-m", "gate", "-n", "2",  # the whole gate: only that can be PASSED
                       "--dr-config", str(config), "--dr-target", "east,west", "--dr-scorecard", str(card), "-v")
    assert result.ret == exit_code, result.stdout.str()
    result.stdout.fnmatch_lines(["*PASSED*test_api_health_reports_every_component_healthy?east?*"])
    result.stdout.fnmatch_lines(["*PASSED*test_api_health_reports_every_component_healthy?west?*"])
    overall = json.loads(card.read_text())
    assert {name: t["verdict"] for name, t in overall["targets"].items()} == {"east": "passed", "west": west_verdict}
    assert overall["verdict"] == ("passed" if exit_code == 0 else "failed")
    east = json.loads((tmp_path / "card-east.json").read_text())
    west = json.loads((tmp_path / "card-west.json").read_text())
    assert east["target"]["name"] == "east" and west["target"]["name"] == "west"
    pids = {json.loads(p.read_text())["target"]["name"] for p in (tmp_path / "card-east.json", tmp_path / "card-west.json")}
    assert pids == {"east", "west"}
    result.stdout.fnmatch_lines([f"overall verdict over 2 targets: {overall['verdict'].upper()} *"])


def test_each_target_gets_its_own_sandbox_and_all_are_stopped(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(tmp_path / "no-shared-sandbox"))
    config = tmp_path / "kosmos-dr.toml"
    config.write_text(TWO_SANDBOXES.format(west_rpo="15m"))
    pytester.makepyfile(test_pids="""
import json, os
def test_record(dr_sandbox, dr_target):
    with open(os.environ["PIDS"], "a") as handle:
        handle.write(json.dumps([dr_target.name, dr_sandbox.pid]) + "\\n")
""")
    monkeypatch.setenv("PIDS", str(tmp_path / "pids"))
    pytester.runpytest_subprocess("--dr-config", str(config), "--dr-target", "east,west").assert_outcomes(passed=2)
    seen = dict(json.loads(line) for line in (tmp_path / "pids").read_text().splitlines())
    assert set(seen) == {"east", "west"} and seen["east"] != seen["west"]
    import os
    for pid in seen.values():
        assert not os.path.exists(f"/proc/{pid}") or "sandbox.daemon" not in open(f"/proc/{pid}/cmdline").read()


def test_unknown_target_in_a_list_is_named(pytester):
    result = run_suite(pytester, "--dr-target", "sandbox,nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: unknown DR target 'nope' (known targets: *"])


TWO_TARGETS_OWN_RTO = """
[targets.east]
kind = "sandbox"
[targets.east.objectives]
rto = "2h"
[targets.west]
kind = "sandbox"
[targets.west.objectives]
rto = "6h"
"""

CHECKS_PER_TARGET = '''
from datetime import timedelta
import pytest
from pytest_kosmos_dr.results import CheckResult


@pytest.mark.dr_criterion("OBJ-RTO")
def test_recovered_within_the_rto(dr_check, dr_objectives):
    dr_check(CheckResult(True, f"recovered in 1 h, limit {dr_objectives.rto}",
                         measured=timedelta(hours=1), limit=dr_objectives.rto))


@pytest.mark.dr_criterion("VAL-API-HEALTH")
def test_api_health(dr_check, dr_target):
    dr_check(CheckResult(True, f"{dr_target.name}: every component healthy"))
'''


def test_two_targets_report_each_target_in_allure_and_their_scorecards(pytester, tmp_path, monkeypatch):
    """No sandbox needed: the checks return results directly; what is checked is whose target each
    Allure result, picture, environment entry and scorecard speaks for."""
    from datetime import datetime, timedelta, timezone

    from pytest_kosmos_dr.evidence import precise_duration

    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(tmp_path / "no-shared-sandbox"))
    config = tmp_path / "kosmos-dr.toml"
    config.write_text(TWO_TARGETS_OWN_RTO)
    pytester.makepyfile(test_checks=CHECKS_PER_TARGET)
    results, card = tmp_path / "allure-results", tmp_path / "card.json"
    start = (datetime.now(timezone.utc) - timedelta(minutes=30)).replace(microsecond=0).isoformat()
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dr-config", str(config),
                                       "--dr-target", "east,west", f"--alluredir={results}",
                                       f"--dr-scorecard={card}", f"--dr-incident-start={start}")
    assert run.ret == 1, run.stdout.str()  # two criteria of the gate: PARTIAL for each target

    found = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    verdicts = sorted(r["name"] for r in found if r["name"].startswith("DR verdict: "))
    assert verdicts == ["DR verdict: PARTIAL (target east)", "DR verdict: PARTIAL (target west)"]
    found = [r for r in found if not r["name"].startswith("DR verdict: ")]
    assert len(found) == 4
    for result in found:
        target = next(p["value"].strip("'\"") for p in result["parameters"] if p["name"] == "dr_run")
        tags = [label["value"] for label in result["labels"] if label["name"] == "tag"]
        assert [t for t in tags if t.startswith("target:")] == [f"target:{target}"], (result["name"], tags)
        if result["name"].startswith("test_recovered_within_the_rto"):
            [picture] = [a for a in result["attachments"] if a["name"] == "RTO timeline"]
            svg = (results / picture["source"]).read_text()
            rto = {"east": 2, "west": 6}[target]
            assert f"the {precise_duration(rto * 3600)} RTO" in svg, (target, svg[:400])

    env = dict(line.split("=", 1) for line in (results / "environment.properties").read_text().splitlines())
    assert env["targets"] == "east, west"
    assert env["east.target"] == "east" and env["west.target"] == "west"
    assert env["east.target.kind"] == env["west.target.kind"] == "sandbox"
    assert env["east.incident.start"].replace("\\", "") == env["west.incident.start"].replace("\\", "") != "not given"

    for target, hours in (("east", 2), ("west", 6)):
        scorecard = json.loads((tmp_path / f"card-{target}.json").read_text())
        assert scorecard["target"]["name"] == target and scorecard["verdict"] == "partial"
        rto = scorecard["objectives"]["rto"]
        assert rto["objective"]["seconds"] == hours * 3600 and rto["within"] is True
        assert {row["id"]: row["status"] for row in scorecard["criteria"] if row["tests"]} == \
            {"OBJ-RTO": "passed", "VAL-API-HEALTH": "passed"}
        assert all(f"[{target}]" in test for row in scorecard["criteria"] for test in row["tests"])
        assert scorecard["incident"]["start"].startswith(start[:16])


def test_two_targets_in_one_process_never_share_a_read(pytester, tmp_path, monkeypatch):
    """Without xdist both targets run in one process: each target's reads are its own. (They were keyed by
    criterion in one shared read pool, so west judged east's configuration bundle against its own Git
    head; on healthy sandboxes only the differing commit ids showed it.)"""
    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(tmp_path / "no-shared-sandbox"))
    config = tmp_path / "kosmos-dr.toml"
    config.write_text(TWO_SANDBOXES.format(west_rpo="15m"))
    result = run_suite(pytester, "test_configuration.py", "--dr-config", str(config), "--dr-target", "east,west",
                       "--dr-scorecard", str(tmp_path / "card.json"), "-v")
    assert result.parseoutcomes().get("failed", 0) == 0, result.stdout.str()  # (a partial run: exit 1 by design)
    for target in ("east", "west"):
        result.stdout.fnmatch_lines([f"*test_bucket_copy_of_the_configuration_is_the_production_head?{target}? PASSED*"])
