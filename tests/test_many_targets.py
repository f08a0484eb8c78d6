"""Several targets in one run: `--dr-target east,west` (or `all`) runs every DR test once per
target, each target's tests on one xdist worker with its own sandbox, and ends with one scorecard
per target and one overall verdict (the exit code follows the worst target)."""

import json

import pytest

from conftest import run_suite

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
