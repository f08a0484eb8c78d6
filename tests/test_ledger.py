"""The drill ledger (append-only, hash-chained) and the SCH-* criteria judged against it: appending,
tamper detection (edited, removed, reordered entries, bad JSON), the `kosmos-dr ledger` commands,
which drills a run records, and each SCH check passing on a good ledger and failing on a bad one."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import run_suite
from pytest_kosmos_dr import ledger
from pytest_kosmos_dr.catalog import catalog
from pytest_kosmos_dr.checks import schedule
from pytest_kosmos_dr.errors import DRConfigError
from pytest_kosmos_dr.sandbox import evidence_files
from pytest_kosmos_dr.timeparse import utcnow

SUITE = "test_testing_schedule.py"
TARGET = "dr-cluster"
HISTORY = {"restore": 12, "agent-drill": 3, "failover": 40, "full-dr": 200, "tabletop": 90}


def write_ledger(path: Path, ages_days: dict[str, float] = HISTORY, target: str = TARGET) -> Path:
    now = utcnow()
    for kind, days in sorted(ages_days.items(), key=lambda kv: -kv[1]):
        ledger.append(path, {"kind": kind, "at": now - timedelta(days=days), "target": target, "result": "passed",
                             "criteria": [], "note": f"{kind} drill"}, now)
    return path


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# -- append / verify ---------------------------------------------------------------------------------

def test_append_chains_entries_and_verify_finds_nothing(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    entries = ledger.read(path)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == "0" * 64
    assert all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:]))
    assert all(e["hash"] == ledger.entry_hash(e) for e in entries)
    assert ledger.verify(path) == []
    assert ledger.verify(path, expected_head=entries[-1]["hash"]) == []


def test_an_edited_entry_is_reported_with_its_line(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    text = lines(path)
    entry = json.loads(text[2])
    entry["at"] = utcnow().isoformat()  # make an old drill look recent
    text[2] = json.dumps(entry)
    path.write_text("\n".join(text) + "\n")
    assert ledger.verify(path) == ["line 3: hash does not match the entry's content (entry edited)"]


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    text = lines(path)
    entry = json.loads(text[2])
    entry["result"] = "passed"
    entry["note"] = "rewritten"
    entry["hash"] = ledger.entry_hash(entry)
    text[2] = json.dumps(entry)
    path.write_text("\n".join(text) + "\n")
    problems = ledger.verify(path)
    assert problems == ["line 4: prev does not match the hash of the entry before it "
                        "(an entry was removed, inserted or reordered)"]


def test_a_removed_entry_is_reported(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    text = lines(path)
    del text[1]
    path.write_text("\n".join(text) + "\n")
    problems = ledger.verify(path)
    assert "line 2: seq 3, expected 2 (an entry was removed, inserted or reordered)" in problems
    assert any(p.startswith("line 2: prev does not match") for p in problems)


def test_reordered_entries_are_reported(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    text = lines(path)
    text[1], text[2] = text[2], text[1]
    path.write_text("\n".join(text) + "\n")
    problems = ledger.verify(path)
    assert any(p.startswith("line 2: seq 3, expected 2") for p in problems)
    assert any(p.startswith("line 3: seq 2, expected 4") for p in problems)


def test_removed_newest_entries_are_caught_only_with_the_head_hash(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    head = ledger.read(path)[-1]["hash"]
    path.write_text("\n".join(lines(path)[:-1]) + "\n")
    assert ledger.verify(path) == []  # a truncated chain is still a chain
    assert ledger.verify(path, expected_head=head)[0].startswith("head is ")


def test_bad_json_is_reported_and_the_ledger_is_not_extended(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    with open(path, "a") as handle:
        handle.write('{"seq": 6, "kind": "restore"\n')
    assert ledger.verify(path)[0].startswith("line 6: not valid JSON")
    with pytest.raises(ledger.LedgerError, match="line 6 is not a valid entry"):
        ledger.append(path, {"kind": "tabletop", "at": utcnow(), "target": TARGET})


@pytest.mark.parametrize(("entry", "message"), [
    ({"kind": "drill", "at": "2025-01-01", "target": TARGET}, "kind 'drill' is not one of"),
    ({"kind": "restore", "at": "last week", "target": TARGET}, "at: expected an ISO-8601 time"),
    ({"kind": "restore", "at": "2999-01-01", "target": TARGET}, "is in the future"),
    ({"kind": "restore", "at": "2025-01-01", "target": ""}, "target: expected a target name"),
    ({"kind": "restore", "at": "2025-01-01", "target": TARGET, "result": "ok"}, "result 'ok' is not one of"),
])
def test_append_refuses_bad_entries(tmp_path, entry, message):
    with pytest.raises(DRConfigError, match=message):
        ledger.append(tmp_path / "ledger.jsonl", entry)
    assert not (tmp_path / "ledger.jsonl").exists()


# -- what a run records ------------------------------------------------------------------------------

def test_passing_criteria_map_to_drill_kinds():
    assert ledger.drills_in({"REC-DB-PITR", "VAL-SMOKE"}, allow_restore=True) == [("restore", ["REC-DB-PITR"])]
    assert ledger.drills_in({"REC-AGENT-STATE"}, allow_restore=True) == [("agent-drill", ["REC-AGENT-STATE"])]
    failover = {"SCN-REGIONAL-OUTAGE", "REC-DNS"}
    assert ledger.drills_in(failover, allow_restore=False) == []
    assert ledger.drills_in(failover, allow_restore=True) == [("failover", ["SCN-REGIONAL-OUTAGE", "REC-DNS"])]
    everything = {cid for cid, c in catalog().items() if c.kind in ("gate", "drill")}
    assert [kind for kind, _ in ledger.drills_in(everything, True)] == ["restore", "agent-drill", "failover", "full-dr"]
    assert "full-dr" not in [k for k, _ in ledger.drills_in(everything - {"VAL-SMOKE"}, True)]


def test_record_passing_drills_appends_one_entry_per_drill(tmp_path):
    path = tmp_path / "reports" / "drill-ledger.jsonl"
    sha = "ab" * 32
    written = ledger.record_passing_drills(path, TARGET, {"REC-DB-SNAPSHOT", "REC-AGENT-STATE"}, sha,
                                           allow_restore=True)
    assert [e["kind"] for e in written] == ["restore", "agent-drill"]
    entries = ledger.read(path)
    assert [(e["kind"], e["target"], e["result"], e["report_sha256"]) for e in entries] == [
        ("restore", TARGET, "passed", sha), ("agent-drill", TARGET, "passed", sha)]
    assert ledger.verify(path) == []
    assert ledger.record_passing_drills(None, TARGET, {"REC-DB-PITR"}) == []
    assert ledger.record_passing_drills(path, TARGET, {"VAL-SMOKE"}) == []


# -- SCH checks ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("criterion", sorted(schedule.SCHEDULE))
def test_each_schedule_check_passes_on_a_current_ledger(tmp_path, criterion):
    result = schedule.drill_recency(criterion, ledger.load(write_ledger(tmp_path / "l.jsonl")), TARGET)
    assert result.passed, result.summary
    assert result.summary.startswith("newest passing ")


def test_a_restore_drill_40_days_old_fails_the_monthly_restore(tmp_path):
    path = write_ledger(tmp_path / "l.jsonl", {**HISTORY, "restore": 40})
    result = schedule.drill_recency("SCH-RESTORE-MONTHLY", ledger.load(path), TARGET)
    assert not result.passed
    assert result.summary.startswith("newest passing restore drill 40 d ago (")
    assert result.summary.endswith("(overdue), limit 31 d")
    assert result.measured > result.limit


def test_drills_of_another_target_or_failed_ones_do_not_count(tmp_path):
    path = write_ledger(tmp_path / "l.jsonl", {"restore": 1}, target="sandbox")
    ledger.append(path, {"kind": "restore", "at": utcnow(), "target": TARGET, "result": "failed"})
    result = schedule.drill_recency("SCH-RESTORE-MONTHLY", ledger.load(path), TARGET)
    assert not result.passed
    assert result.summary.startswith(f"no passing restore drill for target {TARGET} in ")


def test_a_tampered_ledger_fails_every_schedule_check(tmp_path):
    path = write_ledger(tmp_path / "l.jsonl")
    text = lines(path)
    entry = json.loads(text[2])
    entry["at"] = utcnow().isoformat(timespec="seconds")
    text[2] = json.dumps(entry)
    path.write_text("\n".join(text) + "\n")
    for criterion in schedule.SCHEDULE:
        result = schedule.drill_recency(criterion, ledger.load(path), TARGET)
        assert not result.passed
        assert result.summary.startswith("ledger tampered: line 3: hash does not match")


def test_the_sandbox_ledger_passes_every_schedule_check(tmp_path):
    paths = evidence_files.write_evidence(tmp_path, utcnow() - timedelta(seconds=5))
    loaded = ledger.load(paths["ledger"])
    assert loaded.intact
    assert all(e["note"] == evidence_files.SEEDED_NOTE for _, e in loaded.entries)
    for criterion in schedule.SCHEDULE:
        assert schedule.drill_recency(criterion, loaded, "sandbox").passed


# -- CLI -----------------------------------------------------------------------------------------------

def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from pytest_kosmos_dr.ledger_commands import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_cli_records_shows_and_verifies(tmp_path):
    path = tmp_path / "ledger.jsonl"
    done = cli("ledger", "record", "tabletop", "--date", "2025-06-01", "--target", TARGET,
               "--note", "tabletop: regional outage scenario", "--ledger", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"recorded #1: tabletop passed at 2025-06-01T00:00:00Z for target {TARGET}" in done.stdout
    shown = cli("ledger", "show", "--ledger", str(path), cwd=tmp_path)
    assert shown.returncode == 0
    assert "tabletop: regional outage scenario" in shown.stdout and "chain intact" in shown.stdout
    verified = cli("ledger", "verify", "--ledger", str(path), cwd=tmp_path)
    assert verified.returncode == 0
    assert "intact, 1 entries" in verified.stdout


def test_cli_verify_lists_the_problems_of_a_tampered_ledger(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    text = lines(path)
    del text[3]
    path.write_text("\n".join(text) + "\n")
    done = cli("verify", "--ledger", str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert "TAMPERED" in done.stdout
    assert "line 4: seq 5, expected 4" in done.stdout
    refused = cli("record", "tabletop", "--date", "2025-06-01", "--target", TARGET, "--ledger", str(path),
                  cwd=tmp_path)
    assert refused.returncode == 1
    assert "fails verification; not extending it" in refused.stderr


def test_cli_bad_input_is_a_usage_error(tmp_path):
    done = cli("record", "tabletop", "--date", "soon", "--target", TARGET, "--ledger", str(tmp_path / "l"),
               cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("kosmos-dr: --date: expected an ISO-8601 time")
    missing = cli("verify", "--ledger", str(tmp_path / "none.jsonl"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "no drill ledger at" in missing.stderr


# -- the SCH suite, run as a user runs it ------------------------------------------------------------------

def test_schedule_suite_passes_on_a_current_ledger(pytester, tmp_path):
    path = write_ledger(tmp_path / "l.jsonl")
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "--dr-ledger", str(path), "-v")
    result.assert_outcomes(passed=5)


def test_schedule_suite_without_a_ledger_is_not_verified(pytester, tmp_path):
    missing = tmp_path / "none.jsonl"
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "--dr-ledger", str(missing), "-rs")
    result.assert_outcomes(skipped=5)
    result.stdout.fnmatch_lines([f"SKIPPED * not verified: no drill ledger at {missing}"])


def test_schedule_suite_fails_only_the_overdue_restore(pytester, tmp_path):
    path = write_ledger(tmp_path / "l.jsonl", {**HISTORY, "restore": 40})
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "--dr-ledger", str(path), "-rf")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*SCH-RESTORE-MONTHLY: newest passing restore drill 40 d ago*limit 31 d*",
                                 "FAILED *::test_a_restore_drill_passed_within_31_days*"])


def test_schedule_suite_fails_every_check_on_a_tampered_ledger(pytester, tmp_path):
    path = write_ledger(tmp_path / "l.jsonl")
    text = lines(path)
    text[0], text[1] = text[1], text[0]
    path.write_text("\n".join(text) + "\n")
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "--dr-ledger", str(path), "-rf")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(["*SCH-TABLETOP-BIANNUAL: ledger tampered: line 1: seq 2, expected 1*"])
    result.stdout.no_fnmatch_line("*BROKEN*")


def test_the_ledger_of_a_run_is_the_option_else_the_sandbox_s_never_the_repository_s_for_the_sandbox(tmp_path):
    from types import SimpleNamespace

    def run(kind: str, explicit: str | None, sandbox_state=None):
        config = SimpleNamespace(getoption=lambda name: explicit, getini=lambda name: "")
        target = SimpleNamespace(is_sandbox=kind == "sandbox")
        default = tmp_path / "reports" / "drill-ledger.jsonl"
        options = SimpleNamespace(ledger_path=Path(explicit) if explicit else default)
        running = SimpleNamespace(state=sandbox_state) if sandbox_state is not None else None
        return SimpleNamespace(config=config, target=target, options=options, _sandbox=running)

    published = write_ledger(tmp_path / "sandbox-ledger.jsonl", target="sandbox")
    state = {"evidence": {"ledger": str(published)}}
    assert ledger.ledger_path_for_run(run("aws", None)) == tmp_path / "reports" / "drill-ledger.jsonl"
    assert ledger.ledger_path_for_run(run("sandbox", "/x/l.jsonl", state)) == Path("/x/l.jsonl")
    assert ledger.ledger_path_for_run(run("sandbox", None, state)) == published
    assert ledger.ledger_path_for_run(run("sandbox", None, {})) is None
    assert ledger.ledger_path_for_run(run("sandbox", None)) is None
    assert ledger.ledger_path_for_run(run("sandbox", None), lambda: state) == published
