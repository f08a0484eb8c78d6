"""The incident record (--dr-evidence) and the COM-* criteria: strict loading, each check passing on a
good record and failing on the broken one with measured vs limit, "not verified" (skipped, never
passed) without evidence or before a criterion is due, the status page gate against the sandbox,
and the sandbox's own evidence files."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import run_suite
from pytest_kosmos_dr import incident_record
from pytest_kosmos_dr.checks import communication
from pytest_kosmos_dr.checks.communication import NotVerified
from pytest_kosmos_dr.errors import DRConfigError
from pytest_kosmos_dr.sandbox import evidence_files
from pytest_kosmos_dr.timeparse import isoformat, utcnow

SUITE = "test_communication.py"
TARGET = "dr-cluster"
START = datetime.fromisoformat("2025-12-13T10:00:00+00:00")
NOW = START + timedelta(days=10)
UPDATE, NOTICE, POSTMORTEM = timedelta(minutes=30), timedelta(minutes=15), timedelta(hours=48)


def good_record(start: datetime = START) -> dict:
    """A resolved incident that kept every promise of the Communication Plan."""
    t = lambda minutes: isoformat(start + timedelta(minutes=minutes))  # noqa: E731
    return {
        "incident_id": "INC-2025-1213",
        "started_at": t(0),
        "declared": {"at": t(3), "channel": "#incidents",
                     "paging": {"system": "PagerDuty", "incident_id": "Q1ABC", "at": t(4)}},
        "updates": [{"at": t(m), "channel": "#incidents", "text": f"update at +{m} min"}
                    for m in (10, 32, 55, 78, 100)],
        "customer_email": {"sent_at": t(9), "audience": "all customers"},
        "resolution": {"resolved_at": t(120), "email": {"sent_at": t(125), "to": "all-hands"}},
        "postmortem": {"published_at": t(120 + 30 * 60), "url": "https://wiki.kosmos.ai/postmortems/INC-2025-1213"},
    }


def broken(change) -> dict:
    record = good_record()
    change(record)
    return record


def at(minutes: float, start: datetime = START) -> str:
    return isoformat(start + timedelta(minutes=minutes))


def load(tmp_path: Path, record: dict, now: datetime = NOW) -> incident_record.IncidentRecord:
    path = tmp_path / "incident.json"
    path.write_text(json.dumps(record))
    return incident_record.load(path, now)


# -- loading -------------------------------------------------------------------------------------------

def test_a_good_record_loads(tmp_path):
    record = load(tmp_path, good_record())
    assert record.incident_id == "INC-2025-1213"
    assert record.declared.paging.system == "PagerDuty"
    assert record.resolution.email.to == ("all-hands",)
    assert len(record.updates) == 5


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.pop("declared"), "declared: missing (write null if it did not happen)"),
    (lambda r: r["declared"].pop("channel"), "declared.channel: missing"),
    (lambda r: r["declared"]["paging"].update(at="yesterday"), "declared.paging.at: expected an ISO-8601 time"),
    (lambda r: r["updates"][1].update(at=5), "updates[1].at: expected an ISO-8601 time"),
    (lambda r: r.update(updates={}), "updates: expected a list"),
    (lambda r: r["customer_email"].update(audience=""), "customer_email.audience: expected a non-empty string"),
    (lambda r: r["resolution"].pop("email"), "resolution.email: missing (write null if it did not happen)"),
    (lambda r: r["postmortem"].update(published_at="2999-01-01T00:00:00Z"), "postmortem.published_at: "
                                                                            "2999-01-01T00:00:00Z is in the future"),
    (lambda r: r["customer_email"].update(sent_at=at(-5)), "customer_email.sent_at: 2025-12-13T09:55:00Z is before "
                                                            "the incident start"),
    (lambda r: r.update(post_mortem=None), "post_mortem: unknown field"),
    (lambda r: r.update(started_at=None), "started_at: expected an ISO-8601 time"),
])
def test_a_bad_record_is_one_line_naming_the_file_and_field(tmp_path, change, message):
    with pytest.raises(DRConfigError) as caught:
        load(tmp_path, broken(change))
    text = str(caught.value)
    assert text.startswith(f"incident record {tmp_path / 'incident.json'}: {message}")
    assert "\n" not in text


def test_a_record_that_is_not_json_names_the_line(tmp_path):
    path = tmp_path / "incident.json"
    path.write_text('{\n  "incident_id": "X",\n  oops\n}')
    with pytest.raises(DRConfigError, match=r"incident\.json: not valid JSON: line 3 column 3"):
        incident_record.load(path)


# -- COM checks ------------------------------------------------------------------------------------------

def test_every_evidence_check_passes_on_a_good_record(tmp_path):
    record = load(tmp_path, good_record())
    results = [communication.incident_declared(record), communication.update_cadence(record, interval=UPDATE, now=NOW),
               communication.customer_notice(record, within=NOTICE, now=NOW), communication.resolution_email(record),
               communication.postmortem_published(record, within=POSTMORTEM, now=NOW)]
    assert [r.passed for r in results] == [True] * 5, [r.summary for r in results]
    assert results[1].summary == ("5 update(s) from declaration to resolution: largest gap 23 min, limit 30 min")
    assert results[2].summary == "customer email sent 9 min after the incident start, limit 15 min"
    assert results[4].summary == "post-mortem published 30 h after the resolution, limit 48 h"


def test_a_45_minute_gap_between_updates_fails(tmp_path):
    record = load(tmp_path, broken(lambda r: r["updates"].pop(1) and r["updates"][1].update(at=at(55))))
    result = communication.update_cadence(record, interval=UPDATE, now=NOW)
    assert not result.passed
    assert result.summary.startswith("largest gap between updates 45 min (between update 2025-12-13T10:10:00Z and "
                                     "update 2025-12-13T10:55:00Z), limit 30 min")
    assert result.offenders == ["update 2025-12-13T10:10:00Z -> update 2025-12-13T10:55:00Z: 45 min"]


def test_the_gaps_include_declaration_to_first_update_and_last_update_to_resolution(tmp_path):
    late_first = load(tmp_path, broken(lambda r: r["updates"].pop(0) and r["updates"].pop(0)))
    assert communication.update_cadence(late_first, interval=UPDATE, now=NOW).offenders == [
        "declaration -> update 2025-12-13T10:55:00Z: 52 min"]
    silent_end = load(tmp_path, broken(lambda r: r["updates"].pop()))
    assert communication.update_cadence(silent_end, interval=UPDATE, now=NOW).offenders == [
        "update 2025-12-13T11:18:00Z -> resolution: 42 min"]


def test_an_ongoing_incident_is_measured_up_to_now(tmp_path):
    record = load(tmp_path, broken(lambda r: r.update(resolution=None, postmortem=None)), NOW)
    still_fine = communication.update_cadence(record, interval=UPDATE, now=START + timedelta(minutes=120))
    assert still_fine.passed and "to now (incident ongoing)" in still_fine.summary
    gone_quiet = communication.update_cadence(record, interval=UPDATE, now=START + timedelta(minutes=150))
    assert not gone_quiet.passed
    assert gone_quiet.offenders == ["update 2025-12-13T11:40:00Z -> now (incident ongoing): 50 min"]


def test_a_customer_email_25_minutes_after_the_start_fails(tmp_path):
    record = load(tmp_path, broken(lambda r: r["customer_email"].update(sent_at=at(25))))
    result = communication.customer_notice(record, within=NOTICE, now=NOW)
    assert not result.passed
    assert result.summary == "customer email sent 25 min after the incident start (too late), limit 15 min"
    assert (result.measured, result.limit) == (timedelta(minutes=25), NOTICE)


def test_a_missing_customer_email_is_not_due_before_15_minutes_and_fails_after(tmp_path):
    record = load(tmp_path, broken(lambda r: r.update(customer_email=None)))
    with pytest.raises(NotVerified, match=r"^not verified: customer email not due yet .*6 min left"):
        communication.customer_notice(record, within=NOTICE, now=START + timedelta(minutes=9))
    result = communication.customer_notice(record, within=NOTICE, now=START + timedelta(minutes=40))
    assert not result.passed
    assert result.summary == "no customer email 40 min after the incident start (2025-12-13T10:00:00Z), limit 15 min"


def test_a_declaration_without_paging_fails(tmp_path):
    record = load(tmp_path, broken(lambda r: r["declared"].update(paging=None)))
    result = communication.incident_declared(record)
    assert not result.passed
    assert result.summary == ("nobody was paged (no paging-system incident) "
                              "(expected declared in #incidents and paged, with timestamps)")


def test_a_declaration_in_another_channel_or_none_fails(tmp_path):
    elsewhere = load(tmp_path, broken(lambda r: r["declared"].update(channel="#general")))
    assert communication.incident_declared(elsewhere).summary.startswith("declared in #general, not #incidents")
    never = load(tmp_path, broken(lambda r: r.update(declared=None)))
    assert communication.incident_declared(never).summary.startswith("incident INC-2025-1213 was never declared")


def test_a_resolution_email_not_to_all_hands_fails(tmp_path):
    record = load(tmp_path, broken(lambda r: r["resolution"]["email"].update(to=["engineering", "support"])))
    result = communication.resolution_email(record)
    assert not result.passed
    assert result.summary == "resolution email went to engineering, support, not all-hands"
    none = load(tmp_path, broken(lambda r: r["resolution"].update(email=None)))
    assert communication.resolution_email(none).summary.startswith("resolved at 2025-12-13T12:00:00Z but no "
                                                                   "resolution email was sent")


def test_a_postmortem_60_hours_after_resolution_fails(tmp_path):
    record = load(tmp_path, broken(lambda r: r["postmortem"].update(published_at=at(120 + 60 * 60))))
    result = communication.postmortem_published(record, within=POSTMORTEM, now=NOW)
    assert not result.passed
    assert result.summary == "post-mortem published 60 h after the resolution (too late), limit 48 h"


def test_a_missing_postmortem_is_not_verified_until_48_hours_have_passed(tmp_path):
    record = load(tmp_path, broken(lambda r: r.update(postmortem=None)))
    resolved = START + timedelta(minutes=120)
    with pytest.raises(NotVerified, match=r"^not verified: post-mortem not due yet .*36 h left"):
        communication.postmortem_published(record, within=POSTMORTEM, now=resolved + timedelta(hours=12))
    result = communication.postmortem_published(record, within=POSTMORTEM, now=resolved + timedelta(hours=50))
    assert not result.passed
    assert result.summary == "no post-mortem 50 h after the resolution, limit 48 h"


def test_no_update_yet_on_an_ongoing_incident_is_not_verified_never_passed(tmp_path):
    record = load(tmp_path, broken(lambda r: r.update(updates=[], resolution=None, postmortem=None)), NOW)
    with pytest.raises(NotVerified, match=r"^not verified: no status update posted yet .* due 30 min after the "
                                          r"declaration \(2025-12-13T10:33:00Z\)"):
        communication.update_cadence(record, interval=UPDATE, now=START + timedelta(minutes=10))
    assert not communication.update_cadence(record, interval=UPDATE, now=START + timedelta(minutes=40)).passed


def test_every_evidence_result_names_the_record_it_came_from(tmp_path):
    record = load(tmp_path, good_record()).with_origin("given with --dr-evidence")
    digest = hashlib.sha256((tmp_path / "incident.json").read_bytes()).hexdigest()
    expected = f"incident record {tmp_path / 'incident.json'} sha256 {digest} (given with --dr-evidence)"
    results = [communication.incident_declared(record), communication.update_cadence(record, interval=UPDATE, now=NOW),
               communication.customer_notice(record, within=NOTICE, now=NOW), communication.resolution_email(record),
               communication.postmortem_published(record, within=POSTMORTEM, now=NOW)]
    assert [r.provenance for r in results] == [expected] * 5
    assert all(f"(evidence from: {expected})" in r.evidence[0].answer for r in results)


def test_a_record_of_another_incident_is_not_verified_for_this_one(tmp_path):
    record = load(tmp_path, good_record())
    assert communication.about_this_incident(record, None) is record  # no start of its own: the record defines it
    assert communication.about_this_incident(record, START + timedelta(minutes=10)) is record
    with pytest.raises(NotVerified, match=r"^not verified: incident record .* describes incident INC-2025-1213 that "
                                          r"started 2025-12-13T10:00:00Z, but this run is about the incident that "
                                          r"started 2026-01-22T10:00:00Z \(40 d apart, tolerance 15 min\)"):
        communication.about_this_incident(record, START + timedelta(days=40))


def test_an_unresolved_incident_leaves_resolution_and_postmortem_not_verified(tmp_path):
    record = load(tmp_path, broken(lambda r: r.update(resolution=None, postmortem=None)))
    with pytest.raises(NotVerified, match="^not verified: incident INC-2025-1213 not resolved yet"):
        communication.resolution_email(record)
    with pytest.raises(NotVerified, match="^not verified: incident INC-2025-1213 not resolved yet"):
        communication.postmortem_published(record, within=POSTMORTEM, now=NOW)


# -- the sandbox's evidence files ----------------------------------------------------------------------------

def test_the_sandbox_record_is_an_ongoing_incident_with_nothing_in_the_future(tmp_path):
    start = utcnow() - timedelta(seconds=8)
    paths = evidence_files.write_evidence(tmp_path, isoformat(start))
    record = incident_record.load(paths["incident_record"])
    assert record.resolution is None and record.postmortem is None
    now = utcnow()
    assert all(t <= now for t in (record.declared.at, record.declared.paging.at, record.customer_email.sent_at))
    assert communication.incident_declared(record).passed
    assert communication.customer_notice(record, within=NOTICE).passed
    assert communication.update_cadence(record, interval=UPDATE).passed
    # nobody keeps posting: after 30 min of silence the record honestly fails the cadence
    assert not communication.update_cadence(record, interval=UPDATE, now=now + timedelta(minutes=31)).passed


def test_the_sandbox_posts_an_update_every_20_minutes_while_ongoing(tmp_path):
    start = utcnow() - timedelta(seconds=8)
    path = evidence_files.write_evidence(tmp_path, start, now=start)["incident_record"]
    assert not evidence_files.post_update_if_due(path, start + timedelta(minutes=5))
    assert evidence_files.post_update_if_due(path, start + timedelta(minutes=20))
    assert len(json.loads(Path(path).read_text())["updates"]) == 2


# -- the COM suite, run as a user runs it ----------------------------------------------------------------------

def write(tmp_path: Path, record: dict) -> str:
    path = tmp_path / "incident.json"
    path.write_text(json.dumps(record, indent=2))
    return str(path)


def recent_record() -> dict:
    """good_record, shifted so that it ended three days ago (no timestamps in the future)."""
    return good_record(utcnow().replace(microsecond=0) - timedelta(days=5))


def test_communication_suite_passes_on_a_good_record(pytester, tmp_path):
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "-m", "evidence",
                       "--dr-evidence", write(tmp_path, recent_record()), "-v")
    result.assert_outcomes(passed=5)


def test_communication_suite_without_evidence_is_not_verified_never_passed(pytester):
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "-m", "evidence", "-rs")
    result.assert_outcomes(skipped=5)
    result.stdout.fnmatch_lines(["SKIPPED * not verified: no incident record (give --dr-evidence PATH)"])


def plus(record: dict, minutes: float, since: str = "started_at") -> str:
    """The time ``minutes`` after the record's start (or its resolution)."""
    base = record["resolution"]["resolved_at"] if since == "resolution" else record["started_at"]
    return isoformat(datetime.fromisoformat(base.replace("Z", "+00:00")) + timedelta(minutes=minutes))


def drop_second_update_and_move_third_to_55(record: dict) -> None:
    del record["updates"][1]
    record["updates"][1]["at"] = plus(record, 55)  # 10 min -> 55 min: a 45 min gap


@pytest.mark.parametrize(("change", "failing_test", "message"), [
    (lambda r: r["declared"].update(paging=None), "test_incident_was_declared_in_the_incident_channel_and_paged",
     "*COM-INCIDENT-DECLARED: nobody was paged*"),
    (drop_second_update_and_move_third_to_55, "test_updates_went_out_at_most_30_minutes_apart",
     "*COM-UPDATES-30MIN: largest gap between updates 45 min*limit 30 min*"),
    (lambda r: r["customer_email"].update(sent_at=plus(r, 25)), "test_customers_were_emailed_within_15_minutes",
     "*COM-CUSTOMER-15MIN: customer email sent 25 min after the incident start (too late), limit 15 min*"),
    (lambda r: r["resolution"]["email"].update(to="engineering"), "test_resolution_email_went_to_all_hands",
     "*COM-RESOLUTION-EMAIL: resolution email went to engineering, not all-hands*"),
    (lambda r: r["postmortem"].update(published_at=plus(r, 60 * 60, since="resolution")),
     "test_postmortem_was_published_within_48_hours_of_resolution",
     "*COM-POSTMORTEM-48H: post-mortem published 60 h after the resolution (too late), limit 48 h*"),
])
def test_a_broken_record_fails_exactly_its_criterion(pytester, tmp_path, change, failing_test, message):
    record = recent_record()
    change(record)
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "-m", "evidence",
                       "--dr-evidence", write(tmp_path, record), "-rf")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([message, f"FAILED *::{failing_test}*"])


def test_communication_suite_on_the_record_of_another_incident_is_not_verified(pytester, tmp_path):
    record = recent_record()
    other_start = isoformat(datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")) + timedelta(days=2))
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "-m", "evidence", "--dr-incident-start", other_start,
                       "--dr-evidence", write(tmp_path, record), "-rs")
    result.assert_outcomes(skipped=5)
    result.stdout.fnmatch_lines([f"SKIPPED * not verified: incident record * describes incident INC-2025-1213 that "
                                 f"started *, but this run is about the incident that started {other_start} (48 h "
                                 f"apart, tolerance 15 min)*"])


def test_an_invalid_record_makes_the_evidence_tests_broken_with_one_line(pytester, tmp_path):
    record = recent_record()
    del record["declared"]["paging"]
    path = write(tmp_path, record)
    result = run_suite(pytester, SUITE, "--dr-target", TARGET, "-m", "evidence", "--dr-evidence", path)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"BROKEN *test_resolution_email_went_to_all_hands - COM-RESOLUTION-EMAIL: could not "
                                 f"verify: incident record {path}: declared.paging: missing*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    assert result.parseoutcomes() == {"broken": 5, "deselected": 1}


# -- against the sandbox ------------------------------------------------------------------------------------------

def sandbox_evidence(sandbox, tmp_path) -> list[str]:
    """The sandbox's evidence: published by it when the daemon writes it, else written here the same way."""
    published = sandbox.state.get("evidence")
    if published:
        # as the sandbox seeded it: drills other tests ran against this shared sandbox recorded entries
        # after the seeded ones, and a fresh sandbox has none of them
        import itertools
        import json as _json
        from pathlib import Path

        from pytest_kosmos_dr import ledger as drill_ledger

        drill_ledger.seed_sandbox_history(published["ledger"], target="sandbox")  # as a run finding it empty
        lines = Path(published["ledger"]).read_text().splitlines()
        seeded = list(itertools.takewhile(lambda line: _json.loads(line).get("source") == "sandbox-seed", lines))
        copy = tmp_path / "seeded-ledger.jsonl"
        copy.write_text("".join(line + "\n" for line in seeded))
        return ["--dr-ledger", str(copy)]
    paths = evidence_files.write_evidence(tmp_path, sandbox.state["incident"]["start"])
    from pytest_kosmos_dr import ledger as drill_ledger

    drill_ledger.seed_sandbox_history(paths["ledger"], target="sandbox")
    return ["--dr-evidence", paths["incident_record"], "--dr-ledger", paths["ledger"]]


def test_sandbox_evidence_passes_what_happened_and_leaves_the_rest_not_verified(sandbox, pytester, tmp_path):
    """A fresh sandbox: its ongoing incident was declared, updated and told (self-attested); nothing is
    resolved yet; its ledger holds only seeded stand-ins, so no schedule is passed."""
    result = run_suite(pytester, SUITE, "test_testing_schedule.py", *sandbox_evidence(sandbox, tmp_path), "-rs")
    result.assert_outcomes(passed=4, skipped=7)
    result.stdout.fnmatch_lines_random([
        "SKIPPED * not verified: incident SANDBOX-* not resolved yet (resolution is null in *",
        "SKIPPED * not verified: incident SANDBOX-* not resolved yet, so no post-mortem is due*",
        "SKIPPED * not verified: no run-recorded restore drill for target sandbox in *: its only entries of this "
        "kind are sandbox-seeded stand-ins (no drill was run), which never count",
        "SKIPPED * not verified: no manual (with --by and --ref) tabletop exercise for target sandbox *",
    ])


def test_the_old_drill_record_is_not_paired_with_the_sandbox_s_ongoing_incident(sandbox, pytester):
    """The sandbox's previous-incident-record.json (resolved, 40 days old) says nothing about its ongoing
    incident: the COM evidence is not verified on it, and the status page is still judged as during
    the incident (its old resolution does not end this one)."""
    previous = sandbox.state["evidence"]["previous_incident_record"]
    result = run_suite(pytester, SUITE, "--dr-evidence", previous, "-rs")
    result.assert_outcomes(passed=1, skipped=5)
    result.stdout.fnmatch_lines([f"SKIPPED * not verified: incident record {previous} describes incident DRILL-* "
                                 f"that started *, but this run is about the incident that started * (40 d apart, "
                                 f"tolerance 15 min)*"])


SELECT = f"{SUITE}::test_status_page_shows_the_incident_or_current_status"


def test_status_page_gate_passes_on_the_healthy_sandbox(sandbox, pytester):
    healthy = run_suite(pytester, SELECT, "-rA")
    healthy.assert_outcomes(passed=1)
    healthy.stdout.fnmatch_lines(["*COM-STATUS-PAGE*asked directly*incident start from the sandbox's incident; the "
                                  "sandbox's stand-in page (self-attested by the sandbox)*"])


@pytest.mark.parametrize(("name", "message"), [
    ("status-page-stale", "no unresolved incident since the incident start; status indicator 'none' (All Systems "
                          "Operational)"),
    ("status-page-all-operational", "status indicator 'none' (All Systems Operational)"),
    ("status-page-other-incident", "no unresolved incident since the incident start (only 'Elevated agent latency' "
                                   "(monitoring, since *): another incident)"),
    ("status-page-cached", "page.updated_at *, before the incident start: a copy older than the incident; a cached "
                           "copy (Age *) generated at *, before the incident start: a copy older than the incident; "
                           "Last-Modified *"),
])
def test_each_status_page_wrong_world_fails_exactly_com_status_page(sandbox, fault, pytester, name, message):
    fault(name)
    result = run_suite(pytester, SELECT, "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*DR check failed: COM-STATUS-PAGE: status page does not show the incident that "
                                 f"started *: {message}*"])
    result.stdout.no_fnmatch_line("*BROKEN*")
