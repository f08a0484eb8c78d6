"""Evidence that outlives the run: the sandbox's files a run cites are kept under reports/evidence/<run id>/,
`kosmos-dr ledger show` finds a sandbox run's ledger there, and `kosmos-dr bundle` takes the ledger and
every kept evidence file (and refuses, exit 2, when there are no test results)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from pytest_kosmos_dr import evidence, incident_record, ledger
from pytest_kosmos_dr.sandbox.state import SandboxState

CLI = [sys.executable, "-m", "pytest_kosmos_dr.cli"]


def test_keep_copies_once_and_the_published_path_then_names_the_copy(tmp_path):
    source = tmp_path / "state" / "incident-record.json"
    source.parent.mkdir()
    source.write_text("first")
    folder = tmp_path / "reports" / "evidence" / "0a1b2c3d"
    kept = evidence.keep(source, folder)
    assert kept == folder / source.name and kept.read_text() == "first"
    source.write_text("second")
    assert evidence.keep(source, folder).read_text() == "first"  # what the run judged stays cited
    assert evidence.keep(source, folder, refresh=True).read_text() == "second"
    state = SandboxState(database=None, api=None, grafana=None, evidence={"incident_record": source})
    assert incident_record.sandbox_evidence_path(state, "incident_record") == kept
    source.unlink()  # the sandbox stopped: the copy is still there
    assert kept.is_file()


def _reports(tmp_path: Path, results: bool = True) -> Path:
    reports = tmp_path / "reports"
    kept_dir = reports / "evidence" / "0a1b2c3d"
    kept_dir.mkdir(parents=True)
    kept_ledger = kept_dir / "drill-ledger.jsonl"
    ledger.seed_sandbox_history(kept_ledger, target="sandbox")
    (kept_dir / "incident-record.json").write_text("{}\n")
    (reports / "dr-scorecard.json").write_text(json.dumps(
        {"verdict": "passed", "evidence": {"folder": str(kept_dir), "ledger": str(kept_ledger)}}))
    if results:
        (reports / "allure-results").mkdir()
        (reports / "allure-results" / "x-result.json").write_text("{}")
    return reports


def test_bundle_takes_the_cited_ledger_and_the_kept_evidence(tmp_path):
    reports = _reports(tmp_path)
    out = tmp_path / "b.tar.gz"
    made = subprocess.run([*CLI, "bundle", "--reports", str(reports), "-o", str(out)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    with tarfile.open(out) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames()}
    assert {"evidence/0a1b2c3d/drill-ledger.jsonl", "evidence/0a1b2c3d/incident-record.json",
            "dr-scorecard.json", "drill-ledger.head"} <= names
    assert "drill ledger head" in made.stdout and "evidence/0a1b2c3d/drill-ledger.jsonl" in made.stdout


def test_bundle_without_results_exits_2(tmp_path):
    reports = _reports(tmp_path, results=False)
    made = subprocess.run([*CLI, "bundle", "--reports", str(reports)], capture_output=True, text=True)
    assert made.returncode == 2
    assert made.stderr.startswith("kosmos-dr: no test results to bundle in ")
    assert not list(reports.glob("*.tar.gz"))


def test_ledger_show_finds_the_newest_sandbox_run_s_ledger(tmp_path):
    reports = _reports(tmp_path)
    env = {k: v for k, v in __import__("os").environ.items() if k != "KOSMOS_DR_LEDGER"}
    shown = subprocess.run([*CLI, "ledger", "show"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"no drill ledger at {reports / 'drill-ledger.jsonl'}; the newest sandbox run's ledger")
    assert lines[1] == f"drill ledger {reports / 'evidence' / '0a1b2c3d' / 'drill-ledger.jsonl'}"
    assert "sandbox-seed" in shown.stdout


def test_a_sandbox_run_cites_its_evidence_kept_under_reports(sandbox, pytester, tmp_path):
    """Against the sandbox: the record and ledger the run read are kept in reports/evidence/<run id>/, the skip
    reasons and evidence cite those copies (never the sandbox's state folder), the scorecard names them, and
    `kosmos-dr ledger show` finds the ledger afterwards."""
    from conftest import run_suite

    reports = tmp_path / "reports"
    result = run_suite(pytester, "test_communication.py", "test_testing_schedule.py",
                       f"--dr-scorecard={reports / 'dr-scorecard.json'}", "-rs")
    (folder,) = (reports / "evidence").iterdir()
    kept_record, kept_ledger = folder / "incident-record.json", folder / "drill-ledger.jsonl"
    assert kept_record.is_file() and kept_ledger.is_file()
    assert ledger.load(kept_ledger).intact and len(ledger.load(kept_ledger).entries) >= len(ledger.SEEDED_DRILLS)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([f"SKIPPED * not verified: incident SANDBOX-* not resolved yet (resolution is null in "
                                 f"{kept_record}*"])
    for published in sandbox.state["evidence"].values():
        assert str(published) not in out
    card = json.loads((reports / "dr-scorecard.json").read_text())
    assert card["evidence"] == {"folder": str(folder), "ledger": str(kept_ledger)}
    row = next(r for r in card["criteria"] if r["id"] == "COM-INCIDENT-DECLARED")
    assert "self-attested by the sandbox" in row["evidence_source"] and str(kept_record) in row["evidence_source"]
    shown = subprocess.run([*CLI, "ledger", "show"], cwd=tmp_path, capture_output=True, text=True,
                           env={k: v for k, v in __import__("os").environ.items() if k != "KOSMOS_DR_LEDGER"})
    assert f"drill ledger {kept_ledger}" in shown.stdout.splitlines()
