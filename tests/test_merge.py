"""`kosmos-dr merge`: one job per estate, one report and one overall verdict, each target with its provenance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pytest_kosmos_dr.errors import DRConfigError
from pytest_kosmos_dr.merge import merge, worst_verdict


def _run(folder: Path, target: str, verdict: str, results: int = 2) -> Path:
    folder.mkdir(parents=True)
    card = {"schema": 1, "target": {"name": target, "kind": "aws"}, "verdict": verdict, "criteria": []}
    (folder / "dr-scorecard.json").write_text(json.dumps(card))
    allure = folder / "allure-results"
    allure.mkdir()
    for n in range(results):
        (allure / f"{target}{n}-result.json").write_text(json.dumps(
            {"uuid": f"{target}{n}", "name": f"test {n}", "labels": [{"name": "target", "value": target}]}))
    (allure / "environment.properties").write_text(f"dr.target={target}\n")
    (folder / "drill-ledger.jsonl").write_text(json.dumps({"run": target}) + "\n")
    return folder


def _several(folder: Path, cards: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    targets = {}
    for name, verdict in cards.items():
        path = folder / f"dr-scorecard-{name}.json"
        path.write_text(json.dumps({"schema": 1, "target": {"name": name}, "verdict": verdict}))
        targets[name] = {"verdict": verdict, "scorecard": str(path)}
    (folder / "dr-scorecard.json").write_text(json.dumps({"schema": 1, "verdict": "x", "targets": targets}))
    return folder


def test_two_jobs_merge_into_one_verdict_with_provenance(tmp_path):
    us = _run(tmp_path / "job-us", "us", "passed")
    eu = _run(tmp_path / "job-eu", "eu", "failed", results=3)
    merged = merge([us, eu], tmp_path / "out")
    assert merged.verdict == "failed" and merged.exit_code == 1
    overall = json.loads((tmp_path / "out" / "dr-scorecard.json").read_text())
    assert overall["verdict"] == "failed"
    assert overall["targets"]["eu"]["source"] == {
        "run": str(eu), "scorecard_sha256": hashlib.sha256((eu / "dr-scorecard.json").read_bytes()).hexdigest()}
    assert json.loads((tmp_path / "out" / "dr-scorecard-us.json").read_text())["verdict"] == "passed"
    results = sorted((tmp_path / "out" / "allure-results").glob("*-result.json"))
    assert len(results) == 5 == merged.results
    labels = [json.loads(p.read_text())["labels"] for p in results]
    assert all({"name": "dr_source_run", "value": "job-eu" if "eu" in str(p) else "job-us"} in lab
               for p, lab in zip(results, labels))
    env = (tmp_path / "out" / "allure-results" / "environment.properties").read_text().splitlines()
    assert env == ["job-us.dr.target=us", "job-eu.dr.target=eu"]
    assert sorted(p.name for p in (tmp_path / "out" / "ledgers").iterdir()) == [
        "job-eu-drill-ledger.jsonl", "job-us-drill-ledger.jsonl"]


def test_a_several_target_run_contributes_each_target(tmp_path):
    both = _several(tmp_path / "job-a", {"us": "passed", "eu": "passed"})
    apac = _run(tmp_path / "job-b", "apac", "passed")
    merged = merge([both, apac], tmp_path / "out")
    assert set(merged.targets) == {"us", "eu", "apac"} and merged.verdict == "passed" and merged.exit_code == 0


@pytest.mark.parametrize(("verdicts", "worst"), [
    (["passed", "partial"], "partial"), (["not verified", "failed"], "failed"),
    (["passed", "interrupted", "failed"], "interrupted"), ([], "nothing verified")])
def test_the_overall_verdict_is_the_worst(verdicts, worst):
    assert worst_verdict(verdicts) == worst


def test_an_interrupted_job_exits_2(tmp_path):
    merged = merge([_run(tmp_path / "a", "us", "passed"), _run(tmp_path / "b", "eu", "interrupted")], tmp_path / "o")
    assert merged.exit_code == 2


@pytest.mark.parametrize("case", ["none", "no-card", "not-json", "same-target", "missing-target-card",
                                  "unknown-verdict", "out-is-a-run"])
def test_bad_input_is_one_clear_error(tmp_path, case):
    runs = {
        "none": [],
        "no-card": [tmp_path / "empty"],
        "not-json": [tmp_path / "bad"],
        "same-target": [_run(tmp_path / "a", "us", "passed"), _run(tmp_path / "b", "us", "passed")],
        "missing-target-card": [_several(tmp_path / "s", {"us": "passed"})],
        "unknown-verdict": [_run(tmp_path / "u", "us", "green")],
        "out-is-a-run": [_run(tmp_path / "o", "us", "passed")],
    }
    (tmp_path / "empty").mkdir(exist_ok=True)
    (tmp_path / "bad").mkdir(exist_ok=True)
    (tmp_path / "bad" / "dr-scorecard.json").write_text("{")
    if case == "missing-target-card":
        (tmp_path / "s" / "dr-scorecard-us.json").unlink()
    with pytest.raises(DRConfigError) as error:
        merge(runs[case], tmp_path / "o")
    assert "\n" not in str(error.value) and str(error.value)


def test_the_command_prints_each_target_and_exits_with_the_overall_verdict(tmp_path):
    import subprocess
    import sys

    us, eu = _run(tmp_path / "job-us", "us", "passed"), _run(tmp_path / "job-eu", "eu", "not verified")
    done = subprocess.run([sys.executable, "-m", "pytest_kosmos_dr.cli", "merge", str(us), str(eu),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "overall: COULD NOT VERIFY (2 targets, 4 test results, 2 drill ledgers)" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "pytest_kosmos_dr.cli", "merge", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 4 and bad.stderr.count("\n") == 1 and "no such folder" in bad.stderr
