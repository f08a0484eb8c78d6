"""The drill ledger (append-only, hash-chained) and the SCH-* criteria judged against it: appending,
tamper detection (edited, removed, reordered entries, bad JSON, HMAC, the head kept outside the
file), the `kosmos-dr ledger` commands, which drills a run records, which entries count (run-recorded
drills, manual tabletops; never hand-typed drills or sandbox-seeded entries), and each SCH check
passing on a good ledger and failing on a bad one."""

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
from pytest_kosmos_dr.checks.communication import NotVerified
from pytest_kosmos_dr.errors import DRConfigError, SandboxError
from pytest_kosmos_dr.sandbox import evidence_files
from pytest_kosmos_dr.sandbox.state import SandboxState
from pytest_kosmos_dr.timeparse import isoformat, utcnow

SUITE = "test_testing_schedule.py"
TARGET = "dr-cluster"
HISTORY = {"restore": 12, "agent-drill": 3, "failover": 40, "full-dr": 200, "tabletop": 90}
SHA = "ab" * 32
EVERYTHING = {cid for cid, c in catalog().items() if c.kind in ("gate", "drill")}


def provenance_fields(kind: str) -> dict:
    """What makes an entry count: a run's record for drills, who and a reference for a tabletop."""
    if kind == "tabletop":
        return {"source": "manual", "by": "alice", "ref": "DR-TT-2025-06"}
    return {"source": "run", "run_id": f"run-{kind}", "scorecard_sha256": SHA, "criteria": sorted(EVERYTHING)}


def write_ledger(path: Path, ages_days: dict[str, float] = HISTORY, target: str = TARGET, key=None) -> Path:
    now = utcnow()
    for kind, days in sorted(ages_days.items(), key=lambda kv: -kv[1]):
        ledger.append(path, {"kind": kind, "at": now - timedelta(days=days), "target": target, "result": "passed",
                             "note": f"{kind} drill", **provenance_fields(kind)}, now, **({"key": key} if key else {}))
    return path


def forge(path: Path, fields: dict) -> dict:
    """Append an entry the way someone editing the file by hand would: a valid link, no validation."""
    entries = ledger.read(path) if path.exists() else []
    entry = {"seq": len(entries) + 1, "criteria": [], "note": "typed", "result": "passed", **fields,
             "prev": entries[-1]["hash"] if entries else ledger.GENESIS}
    entry["hash"] = ledger.entry_hash(entry)
    with open(path, "a") as handle:
        handle.write(json.dumps(entry) + "\n")
    return entry


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
    problem, = ledger.verify(path, expected_head=head)
    assert problem.startswith(f"head {head} kept outside the file is not in the chain")


def test_bad_json_is_reported_and_the_ledger_is_not_extended(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    with open(path, "a") as handle:
        handle.write('{"seq": 6, "kind": "restore"\n')
    assert ledger.verify(path)[0].startswith("line 6: not valid JSON")
    with pytest.raises(ledger.LedgerError, match="line 6 is not a valid entry"):
        ledger.append(path, {"kind": "tabletop", "at": utcnow(), "target": TARGET, **provenance_fields("tabletop")})


RUN = provenance_fields("restore")


@pytest.mark.parametrize(("entry", "message"), [
    ({"kind": "drill", "at": "2025-01-01", "target": TARGET, **RUN}, "kind 'drill' is not one of"),
    ({"kind": "restore", "at": "last week", "target": TARGET, **RUN}, "at: expected an ISO-8601 time"),
    ({"kind": "restore", "at": "2999-01-01", "target": TARGET, **RUN}, "is in the future"),
    ({"kind": "restore", "at": "2025-01-01", "target": "", **RUN}, "target: expected a target name"),
    ({"kind": "restore", "at": "2025-01-01", "target": TARGET, "result": "ok", **RUN}, "result 'ok' is not one of"),
    ({"kind": "restore", "at": "2025-01-01", "target": TARGET}, "source None is not one of"),
    ({"kind": "restore", "at": "2025-01-01", "target": TARGET, "source": "manual", "by": "a", "ref": "T-1"},
     "only a tabletop exercise can be recorded by hand"),
    ({"kind": "tabletop", "at": "2025-01-01", "target": TARGET, "source": "manual", "by": "alice"},
     "ref: expected a non-empty text"),
    ({"kind": "tabletop", "at": "2025-01-01", "target": TARGET, **RUN}, "a run records restore, agent-drill"),
    ({"kind": "restore", "at": "2025-01-01", "target": TARGET, **RUN, "scorecard_sha256": "abc"},
     "scorecard_sha256: expected 64 lowercase hex digits"),
    ({"kind": "restore", "at": "2025-01-01", "target": TARGET, **RUN, "run_id": ""}, "run_id: expected"),
    ({"kind": "restore", "at": "2025-01-01", "target": TARGET, **RUN, "criteria": []}, "names the criteria that"),
])
def test_append_refuses_bad_entries(tmp_path, entry, message):
    with pytest.raises(DRConfigError, match=message):
        ledger.append(tmp_path / "ledger.jsonl", entry)
    assert not (tmp_path / "ledger.jsonl").exists()


# -- resisting a rewrite: HMAC and the head kept outside the file --------------------------------------

KEY = "s3cret-kept-in-the-ci-vault"


def test_with_a_key_every_entry_is_signed_and_verified(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl", key=KEY)
    assert all(isinstance(e["hmac"], str) and len(e["hmac"]) == 64 for e in ledger.read(path))
    loaded = ledger.load(path, key=KEY)
    assert loaded.intact and loaded.key_checked
    assert ledger.verify(path, key="another key") == [
        f"line {n}: HMAC does not match (not written with this key, or rewritten)" for n in range(1, 6)]


def test_a_chain_rewritten_without_the_key_is_caught_by_the_hmac(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl", {**HISTORY, "restore": 40}, key=KEY)
    rewritten = tmp_path / "rewritten.jsonl"
    for entry in ledger.read(path):  # recompute every hash and link, as a forger would
        forge(rewritten, {k: v for k, v in entry.items() if k not in ("seq", "prev", "hash")}
              | ({"at": isoformat(utcnow())} if entry["kind"] == "restore" else {}))
    assert ledger.verify(rewritten, key=None) == []  # a valid chain without the key...
    restore = next(n for n, e in enumerate(ledger.read(rewritten), 1) if e["kind"] == "restore")
    problems = ledger.verify(rewritten, key=KEY)  # ...but the HMAC of the rewritten entry and those after it fail
    assert problems == [f"line {n}: HMAC does not match (not written with this key, or rewritten)"
                        for n in range(restore, 6)]


def test_with_a_key_an_unsigned_entry_is_a_problem(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl", {"restore": 3})
    assert ledger.verify(path, key=KEY) == ["line 1: no HMAC (KOSMOS_DR_LEDGER_KEY is set: every entry must be signed)"]


def test_the_key_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(ledger.KEY_VARIABLE, KEY)
    path = write_ledger(tmp_path / "ledger.jsonl", {"tabletop": 3})
    assert "hmac" in ledger.read(path)[0]
    assert ledger.load(path).key_checked
    monkeypatch.delenv(ledger.KEY_VARIABLE)
    assert not ledger.load(path).key_checked


def test_the_head_kept_outside_must_be_in_the_chain(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl", {"restore": 3, "agent-drill": 2})
    kept = ledger.head_of(path)
    assert kept == ledger.read(path)[-1]["hash"]
    write_ledger(path, {"tabletop": 1})  # appended after the head was kept: fine
    assert ledger.verify(path, expected_head=kept) == []
    rewritten = tmp_path / "rewritten.jsonl"
    for entry in ledger.read(path):
        forge(rewritten, {k: v for k, v in entry.items() if k not in ("seq", "prev", "hash")} | {"note": "forged"})
    assert ledger.verify(rewritten) == []
    problem, = ledger.verify(rewritten, expected_head=kept)
    assert problem.startswith(f"head {kept} kept outside the file is not in the chain")
    assert ledger.head_of(tmp_path / "missing.jsonl") is None


# -- what a run records ------------------------------------------------------------------------------

def recorded(path, passed, failover=False):
    return [e["kind"] for e in ledger.record_run(path, run_id="1a2b3c4d", target=TARGET, passed_criteria=passed,
                                                 scorecard_sha256=SHA, failover=failover)]


def test_a_run_records_each_drill_it_performed_and_passed(tmp_path):
    path = tmp_path / "reports" / "drill-ledger.jsonl"
    assert recorded(path, {"REC-DB-SNAPSHOT", "REC-AGENT-STATE", "VAL-SMOKE"}) == ["restore", "agent-drill"]
    entries = ledger.read(path)
    assert [(e["kind"], e["target"], e["result"], e["source"], e["run_id"], e["scorecard_sha256"])
            for e in entries] == [("restore", TARGET, "passed", "run", "1a2b3c4d", SHA),
                                  ("agent-drill", TARGET, "passed", "run", "1a2b3c4d", SHA)]
    assert entries[0]["criteria"] == ["REC-AGENT-STATE", "REC-DB-SNAPSHOT", "VAL-SMOKE"]
    assert ledger.verify(path) == []
    assert recorded(None, {"REC-DB-PITR"}) == []
    assert recorded(path, {"VAL-SMOKE"}) == []


def test_failover_only_with_the_flag_and_full_dr_only_with_everything_and_failover(tmp_path):
    path = tmp_path / "ledger.jsonl"
    assert recorded(path, {"SCN-REGIONAL-OUTAGE", "REC-DNS"}) == []  # a plain run performed no failover
    assert recorded(path, EVERYTHING) == ["restore", "agent-drill"]  # all passed, but no incident start given
    assert recorded(path, EVERYTHING - {"VAL-SMOKE"}, failover=True) == ["restore", "agent-drill", "failover"]
    assert recorded(path, EVERYTHING, failover=True) == ["restore", "agent-drill", "failover", "full-dr"]


def test_a_run_does_not_extend_a_tampered_ledger(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    text = lines(path)
    del text[1]
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ledger.LedgerError, match="fails verification .*not extending it"):
        recorded(path, {"REC-DB-PITR"})


# -- SCH checks ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("criterion", sorted(schedule.SCHEDULE))
def test_each_schedule_check_passes_on_a_current_ledger(tmp_path, criterion):
    result = schedule.drill_recency(criterion, ledger.load(write_ledger(tmp_path / "l.jsonl")), TARGET)
    assert result.passed, result.summary
    source = "manual" if criterion == "SCH-TABLETOP-BIANNUAL" else "run-recorded"
    assert result.summary.startswith(f"newest {source} passing ")
    assert result.provenance.startswith(f"{'manual' if source == 'manual' else 'run-recorded'} ledger entry #")
    assert "chain intact, HMAC not checked" in result.provenance
    assert any(e.title == "where the evidence came from" and e.answer == result.provenance for e in result.evidence)


def test_a_run_recorded_entry_names_its_run_and_scorecard_in_the_provenance(tmp_path):
    path = tmp_path / "l.jsonl"
    recorded(path, {"REC-DB-PITR"})
    result = schedule.drill_recency("SCH-RESTORE-MONTHLY", ledger.load(path, ledger.head_of(path)), TARGET)
    assert result.passed
    assert result.provenance.startswith(f"run-recorded ledger entry #1 (run 1a2b3c4d, scorecard sha256 {SHA}, "
                                        f"unsigned) in {path} line 1")
    assert result.provenance.endswith("head kept outside the file found in the chain")


def test_a_restore_drill_40_days_old_fails_the_monthly_restore(tmp_path):
    path = write_ledger(tmp_path / "l.jsonl", {**HISTORY, "restore": 40})
    result = schedule.drill_recency("SCH-RESTORE-MONTHLY", ledger.load(path), TARGET)
    assert not result.passed
    assert result.summary.startswith("newest run-recorded passing restore drill 40 d ago (")
    assert result.summary.endswith("(overdue), limit 31 d")
    assert result.measured > result.limit


def test_drills_of_another_target_or_failed_ones_do_not_count(tmp_path):
    path = write_ledger(tmp_path / "l.jsonl", {"restore": 1}, target="sandbox")
    ledger.append(path, {"kind": "restore", "at": utcnow(), "target": TARGET, "result": "failed", **RUN})
    result = schedule.drill_recency("SCH-RESTORE-MONTHLY", ledger.load(path), TARGET)
    assert not result.passed
    assert result.summary.startswith(f"no run-recorded passing restore drill for target {TARGET} in ")


@pytest.mark.parametrize("kind", ["restore", "agent-drill", "failover", "full-dr"])
def test_a_hand_typed_drill_never_counts(tmp_path, kind):
    """`kosmos-dr ledger record restore` used to satisfy SCH-RESTORE-MONTHLY; a line typed into the
    file (valid chain, manual or no source) does not either."""
    criterion = next(c for c, (k, _, _) in schedule.SCHEDULE.items() if k == kind)
    path = tmp_path / "l.jsonl"
    forge(path, {"kind": kind, "at": isoformat(utcnow()), "target": TARGET, "note": "did it by hand"})
    forge(path, {"kind": kind, "at": isoformat(utcnow()), "target": TARGET, "source": "manual", "by": "bob",
                 "ref": "JIRA-1"})
    loaded = ledger.load(path)
    assert loaded.intact
    result = schedule.drill_recency(criterion, loaded, TARGET)
    assert not result.passed
    assert "2 ignored: not recorded by a run" in result.summary


def test_a_tabletop_needs_a_manual_entry_with_by_and_ref(tmp_path):
    path = tmp_path / "l.jsonl"
    forge(path, {"kind": "tabletop", "at": isoformat(utcnow()), "target": TARGET, "source": "manual"})
    result = schedule.drill_recency("SCH-TABLETOP-BIANNUAL", ledger.load(path), TARGET)
    assert not result.passed
    assert "1 ignored: manual entry without who ran it (by) and a reference (ref)" in result.summary


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


def test_the_sandbox_s_seeded_ledger_satisfies_no_schedule(tmp_path):
    """Seeded entries are stand-ins: on a fresh sandbox every SCH criterion is not verified, never passed."""
    paths = evidence_files.write_evidence(tmp_path, utcnow() - timedelta(seconds=5))
    assert not Path(paths["ledger"]).exists()  # the sandbox only names it; the run seeds it
    assert len(ledger.seed_sandbox_history(paths["ledger"], target="sandbox")) == len(ledger.SEEDED_DRILLS)
    assert ledger.seed_sandbox_history(paths["ledger"], target="sandbox") == []  # once
    loaded = ledger.load(paths["ledger"])
    assert loaded.intact and len(loaded.entries) == len(ledger.SEEDED_DRILLS)
    assert all(e["note"] == ledger.SEEDED_NOTE and e["source"] == "sandbox-seed" for _, e in loaded.entries)
    for criterion in schedule.SCHEDULE:
        with pytest.raises(NotVerified, match="sandbox-seeded stand-ins .no drill was run., which never count"):
            schedule.drill_recency(criterion, loaded, "sandbox")
    ledger.record_run(paths["ledger"], run_id="5e6f7a8b", target="sandbox", passed_criteria={"REC-DB-PITR"},
                      scorecard_sha256=SHA, failover=False)
    after_a_run = ledger.load(paths["ledger"])
    assert schedule.drill_recency("SCH-RESTORE-MONTHLY", after_a_run, "sandbox").passed
    with pytest.raises(NotVerified):
        schedule.drill_recency("SCH-AGENT-DRILL-WEEKLY", after_a_run, "sandbox")


# -- CLI -----------------------------------------------------------------------------------------------

def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from pytest_kosmos_dr.ledger_commands import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_cli_records_shows_and_verifies(tmp_path):
    path = tmp_path / "ledger.jsonl"
    done = cli("ledger", "record", "tabletop", "--date", "2025-06-01", "--target", TARGET, "--by", "alice",
               "--ref", "DR-TT-2025-06", "--note", "tabletop: regional outage scenario", "--ledger", str(path),
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (f"recorded #1: tabletop passed at 2025-06-01T00:00:00Z for target {TARGET} (manual, by alice, "
            f"ref DR-TT-2025-06)") in done.stdout
    entry, = ledger.read(path)
    assert (entry["source"], entry["by"], entry["ref"]) == ("manual", "alice", "DR-TT-2025-06")
    shown = cli("ledger", "show", "--ledger", str(path), cwd=tmp_path)
    assert shown.returncode == 0
    assert "tabletop: regional outage scenario" in shown.stdout and "chain intact" in shown.stdout
    assert "manual (alice, DR-TT-2025-06)" in shown.stdout
    verified = cli("ledger", "verify", "--ledger", str(path), "--head", entry["hash"], cwd=tmp_path)
    assert verified.returncode == 0
    assert "intact, 1 entries" in verified.stdout and "the head kept outside the file" in verified.stdout
    wrong_head = cli("ledger", "verify", "--ledger", str(path), "--head", "cd" * 32, cwd=tmp_path)
    assert wrong_head.returncode == 1
    assert f"head {'cd' * 32} kept outside the file is not in the chain" in wrong_head.stdout


@pytest.mark.parametrize("kind", ["restore", "agent-drill", "failover", "full-dr", "drill"])
def test_cli_refuses_to_record_a_drill_by_hand_in_one_line(tmp_path, kind):
    path = tmp_path / "ledger.jsonl"
    done = cli("record", kind, "--date", "2025-06-01", "--target", TARGET, "--by", "bob", "--ref", "JIRA-1",
               "--ledger", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("kosmos-dr: ledger record: ")
    assert "only a tabletop exercise is recorded by hand" in done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert not path.exists()


@pytest.mark.parametrize(("given", "missing"), [((), "--by and --ref"), (("--by", "bob"), "--ref"),
                                                (("--ref", "JIRA-1"), "--by")])
def test_cli_a_tabletop_needs_by_and_ref(tmp_path, given, missing):
    done = cli("record", "tabletop", "--date", "2025-06-01", "--target", TARGET, *given,
               "--ledger", str(tmp_path / "l.jsonl"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"kosmos-dr: ledger record: {missing} required")
    assert done.stderr.count("\n") == 1


def test_cli_verify_lists_the_problems_of_a_tampered_ledger(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl")
    text = lines(path)
    del text[3]
    path.write_text("\n".join(text) + "\n")
    done = cli("verify", "--ledger", str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert "TAMPERED" in done.stdout
    assert "line 4: seq 5, expected 4" in done.stdout
    refused = cli("record", "tabletop", "--date", "2025-06-01", "--target", TARGET, "--by", "alice", "--ref", "T-1",
                  "--ledger", str(path), cwd=tmp_path)
    assert refused.returncode == 1
    assert "fails verification; not extending it" in refused.stderr


def test_cli_bad_input_is_a_usage_error(tmp_path):
    done = cli("record", "tabletop", "--date", "soon", "--target", TARGET, "--by", "alice", "--ref", "T-1",
               "--ledger", str(tmp_path / "l"), cwd=tmp_path)
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
    result.stdout.fnmatch_lines(["*SCH-RESTORE-MONTHLY: newest run-recorded passing restore drill 40 d ago*limit 31 d*",
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


def test_schedule_suite_checks_the_head_kept_outside_the_file(pytester, tmp_path):
    path = write_ledger(tmp_path / "l.jsonl")
    kept = ledger.head_of(path)
    good = run_suite(pytester, SUITE, "--dr-target", TARGET, "--dr-ledger", str(path), "--dr-ledger-head", kept)
    good.assert_outcomes(passed=5)
    path.write_text("\n".join(lines(path)[:-1]) + "\n")  # the newest entry removed: still a valid chain
    cut = run_suite(pytester, SUITE, "--dr-target", TARGET, "--dr-ledger", str(path), "--dr-ledger-head", kept, "-rf")
    cut.assert_outcomes(failed=5)
    cut.stdout.fnmatch_lines([f"*SCH-RESTORE-MONTHLY: ledger tampered: head {kept} kept outside the file is not in "
                              f"the chain*"])


def test_schedule_suite_on_hand_typed_drills_fails_and_on_seeded_ones_is_not_verified(pytester, tmp_path):
    typed = tmp_path / "typed.jsonl"
    for kind in ("restore", "agent-drill", "failover", "full-dr"):
        forge(typed, {"kind": kind, "at": isoformat(utcnow()), "target": TARGET, "source": "manual", "by": "eve",
                      "ref": "none"})
    write_ledger(typed, {"tabletop": 10})
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "--dr-ledger", str(typed), "-rf")
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(["*SCH-RESTORE-MONTHLY: no run-recorded passing restore drill for target "
                                 f"{TARGET}*1 ignored: not recorded by a run*"])
    (tmp_path / "sandbox").mkdir()
    seeded = evidence_files.write_evidence(tmp_path / "sandbox", utcnow() - timedelta(seconds=5), target=TARGET)
    ledger.seed_sandbox_history(seeded["ledger"], target=TARGET)  # as the run against the sandbox does
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "--dr-ledger", seeded["ledger"], "-rs")
    result.assert_outcomes(skipped=5)
    result.stdout.fnmatch_lines(["SKIPPED * not verified: no run-recorded restore drill for target *: its only "
                                 "entries of this kind are sandbox-seeded stand-ins*"])


def sandbox_json(**sections) -> dict:
    """The least a running sandbox's ``sandbox.json`` holds, with ``sections`` added."""
    return {"database": {"host": "127.0.0.1", "port": 5432, "dbname": "kosmos", "user": "admin"},
            "api": {"url": "http://127.0.0.1:1"}, "grafana": {"url": "http://127.0.0.1:2"}, **sections}


def test_the_ledger_of_a_run_is_the_option_else_the_sandbox_s_never_the_repository_s_for_the_sandbox(tmp_path):
    from types import SimpleNamespace

    evidence_dir = tmp_path / "reports" / "evidence" / "0a1b2c3d"

    def run(kind: str, explicit: str | None, sandbox_state=None):
        config = SimpleNamespace(getoption=lambda name: explicit, getini=lambda name: "")
        target = SimpleNamespace(is_sandbox=kind == "sandbox", name="sandbox")
        default = tmp_path / "reports" / "drill-ledger.jsonl"
        options = SimpleNamespace(ledger_path=Path(explicit) if explicit else default)
        running = SimpleNamespace(state=sandbox_state) if sandbox_state is not None else None
        return SimpleNamespace(config=config, target=target, options=options, running_sandbox=running,
                               evidence_dir=evidence_dir)

    published = write_ledger(tmp_path / "sandbox-ledger.jsonl", target="sandbox")
    state = sandbox_json(evidence={"ledger": str(published)})  # the running sandbox's raw state
    kept = evidence_dir / published.name
    assert ledger.ledger_path_for_run(run("aws", None)) == tmp_path / "reports" / "drill-ledger.jsonl"
    assert ledger.ledger_path_for_run(run("sandbox", "/x/l.jsonl", state)) == Path("/x/l.jsonl")
    # the sandbox's ledger is read from, and cited as, its copy under reports/evidence/<run id>/
    assert ledger.ledger_path_for_run(run("sandbox", None, state)) == kept
    assert kept.read_bytes() == published.read_bytes()
    assert ledger.ledger_path_for_run(run("sandbox", None, state), live=True) == published
    assert ledger.ledger_path_for_run(run("sandbox", None, sandbox_json())) is None  # it published none
    assert ledger.ledger_path_for_run(run("sandbox", None)) is None
    assert ledger.ledger_path_for_run(run("sandbox", None), lambda: SandboxState.from_dict(state)) == kept
    with pytest.raises(SandboxError, match="^sandbox state: no 'database' section$"):
        ledger.ledger_path_for_run(run("sandbox", None, {"evidence": {"ledger": str(published)}}))


def test_the_run_seeds_an_empty_published_sandbox_ledger_once_and_keeps_a_copy(tmp_path):
    from types import SimpleNamespace

    published = tmp_path / "state" / "drill-ledger.jsonl"  # named by the sandbox, not yet written
    evidence_dir = tmp_path / "reports" / "evidence" / "0a1b2c3d"
    run = SimpleNamespace(config=SimpleNamespace(getoption=lambda name: None, getini=lambda name: ""),
                          target=SimpleNamespace(is_sandbox=True, name="sandbox"), options=None,
                          running_sandbox=SimpleNamespace(state=sandbox_json(evidence={"ledger": str(published)})),
                          evidence_dir=evidence_dir)
    kept = ledger.ledger_path_for_run(run)
    assert kept == evidence_dir / "drill-ledger.jsonl"
    assert [e["kind"] for _, e in ledger.load(kept).entries] == [k for k, _, _ in ledger.SEEDED_DRILLS]
    ledger.ledger_path_for_run(run)  # a second worker: no second seeding
    assert len(ledger.load(published).entries) == len(ledger.SEEDED_DRILLS)
    assert ledger.kept_ledgers(tmp_path / "reports") == [kept]
