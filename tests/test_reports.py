"""Reports for auditors and on-call: Allure labels, evidence and run files, the scorecard, the
pictures, the offline HTML report (opened in headless Chromium) and the evidence bundle."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import REPO, run_suite
from pytest_kosmos_dr.reporting import html_report, labels, scorecard, timeline

CLI = [sys.executable, "-m", "pytest_kosmos_dr.cli"]


def allure_results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in folder.glob("*-result.json")]


def label_values(result: dict, name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def step_attachments(steps: list[dict]):
    for step in steps:
        yield from step.get("attachments", [])
        yield from step_attachments(step.get("steps", []))


# -- labels, evidence, environment, scorecard against the sandbox ----------------------------------
def test_suite_run_labels_every_test_from_the_plan(sandbox, pytester, tmp_path):
    results, card_path = tmp_path / "allure-results", tmp_path / "reports" / "dr-scorecard.json"
    run = run_suite(pytester, "test_recovery_validation.py", f"--alluredir={results}", f"--dr-scorecard={card_path}")
    run.assert_outcomes(passed=5)
    assert run.ret == 1  # one suite of the gate: PARTIAL, and exit 0 means PASSED only
    assert json.loads(card_path.read_text())["verdict"] == "partial"
    found = allure_results(results)
    [verdict] = [r for r in found if r["name"].startswith("DR verdict")]
    found = [r for r in found if r is not verdict]
    assert verdict["name"] == "DR verdict: PARTIAL (target sandbox)" and verdict["status"] == "unknown"
    assert label_values(verdict, "feature") == ["0. DR verdict"]
    assert verdict["start"] < min(r["start"] for r in found)  # pinned first
    card_html = verdict["descriptionHtml"]  # the scorecard, preformatted
    assert "RTO" in card_html and "RPO" in card_html and "could not verify" in card_html
    sections = [s for s in ("Recovery Objectives", "Disaster Scenarios", "Backup Strategy", "Recovery Procedures",
                            "Recovery Validation", "Communication Plan", "Testing Schedule")]
    assert sorted(sections, key=card_html.index) == sections  # the plan's order
    assert json.loads((results / "executor.json").read_text())["buildName"] == "DR verdict: PARTIAL (sandbox)"
    assert len(found) == 5
    for result in found:
        assert result["status"] == "passed"
        assert label_values(result, "epic") == ["KOSMOS Disaster Recovery Plan"]
        assert label_values(result, "feature") == ["5. Recovery Validation"]
        assert [p["value"] for p in result["parameters"] if p["name"] == "started"][0].endswith("Z")
        [story] = label_values(result, "story")
        assert story.startswith("VAL-") and ": " in story
        assert label_values(result, "severity") == ["critical"]
        assert {"gate", "target:sandbox"} <= set(label_values(result, "tag"))
        assert [link["url"] for link in result["links"]] == [
            "https://github.com/Nuvanta-Holding/kosmos-docs/blob/main/disaster-recovery-plan.md#recovery-validation"]
        evidence = [a for a in step_attachments(result["steps"]) if a["name"].endswith(" evidence")]
        assert len(evidence) == 1
        text = (results / evidence[0]["source"]).read_text()
        assert "measured:" in text and "limit:" in text and "asked:" in text and "answer:" in text
    env = (results / "environment.properties").read_text()
    assert "target=sandbox" in env and "kube.context=" in env and "version.pytest-kosmos-dr=" in env
    assert "incident.start=" in env and "regions=us-east-1 -> us-west-2" in env
    assert "dr.verdict=PARTIAL" in env and "dr.rto=" in env and "dr.rpo=" in env
    for container in results.glob("*-container.json"):  # the plugin's plumbing is not a set-up step
        names = [f["name"] for key in ("befores", "afters") for f in json.loads(container.read_text()).get(key, [])]
        assert not [n for n in names if n.startswith(("dr_check", "dr_run")) or "<lambda>" in n], names
    categories = json.loads((results / "categories.json").read_text())
    assert [c["name"] for c in categories] == ["DR objective missed", "DR check failed", "could not verify"]

    card = json.loads(card_path.read_text())
    assert card["verdict"] == "partial" and card["target"]["name"] == "sandbox"
    validation = next(s for s in card["sections"] if s["section"] == "Recovery Validation")
    assert validation["passed"] == 5 and validation["failed"] == validation["broken"] == 0
    assert "OBJ-RTO" in card["coverage"]["not_run"]
    assert card["objectives"]["rto"] is None
    run.stdout.fnmatch_lines(["*= DR scorecard =*", "target sandbox (sandbox): PARTIAL*",
                              "RTO: not measured*", f"scorecard: {card_path}"])
    svg = card_path.parent / "dr-rto-timeline.svg"  # incident start, first green health, validated
    assert svg.exists() and "incident start" in svg.read_text()


CHECKS = '''
from datetime import timedelta
import pytest
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.results import CheckResult, Evidence

@pytest.mark.dr_criterion("OBJ-RTO")
def test_recovery_took_too_long(dr_check):
    dr_check(CheckResult(False, "recovered in 5 h, RTO 4 h", timedelta(hours=5), timedelta(hours=4),
                         evidence=[Evidence("gates", "every gate criterion", "last passed at +5 h")]))

@pytest.mark.dr_criterion("OBJ-RPO")
def test_data_loss_within_rpo(dr_check):
    dr_check(CheckResult(True, "largest gap 6 min, RPO 15 min",
                         {"database": timedelta(minutes=6), "agent-state": timedelta(minutes=2)},
                         timedelta(minutes=15)))

@pytest.mark.dr_criterion("VAL-API-HEALTH")
def test_health_answers(dr_check):
    dr_check(CheckResult(False, "HTTP 503", 503, 200))

@pytest.mark.dr_criterion("VAL-MONITORING")
def test_grafana_unreachable():
    raise DRUnverifiable("Grafana", "connection refused", "is the DR region up?")
'''


def test_failed_broken_objectives_and_pictures(pytester, tmp_path):
    """No sandbox needed: checks that return results directly."""
    pytester.makepyfile(test_checks=CHECKS)
    results, card_path = tmp_path / "allure-results", tmp_path / "dr-scorecard.json"
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--alluredir={results}",
                                        f"--dr-scorecard={card_path}", "--dr-incident-start=2026-01-01T00:00:00Z",
                                        "--dr-deadline=1h")  # the RTO from that start is long over
    assert run.ret == 1
    status = {r["name"]: r for r in allure_results(results)}
    assert status["test_recovery_took_too_long"]["status"] == "failed"
    assert status["test_health_answers"]["status"] == "failed"
    assert status["test_grafana_unreachable"]["status"] == "broken"
    assert status["test_data_loss_within_rpo"]["status"] == "passed"
    assert label_values(status["test_recovery_took_too_long"], "severity") == ["blocker"]
    assert label_values(status["test_recovery_took_too_long"], "feature") == ["1. Recovery Objectives"]
    # could-not-verify and failed pages: the criterion ID and plain words, no Python class names
    assert status["test_grafana_unreachable"]["statusDetails"]["message"] == (
        "VAL-MONITORING: could not verify: Grafana: connection refused (is the DR region up?)")
    assert status["test_health_answers"]["statusDetails"]["message"] == "DR check failed: VAL-API-HEALTH: HTTP 503"
    assert status["DR verdict: FAILED (target sandbox)"]["status"] == "failed"
    rpo_pictures = [a for a in status["test_data_loss_within_rpo"]["attachments"] if a["name"] == "RPO gap per source"]
    assert len(rpo_pictures) == 1 and rpo_pictures[0]["type"] == "image/svg+xml"

    card = json.loads(card_path.read_text())
    assert card["verdict"] == "failed"
    rto, rpo = card["objectives"]["rto"], card["objectives"]["rpo"]
    assert rto["measured"]["seconds"] == 5 * 3600 and rto["limit"]["seconds"] == 4 * 3600 and rto["within"] is False
    assert rpo["measured"]["database"]["seconds"] == 360 and rpo["status"] == "passed"
    problems = {p["criterion"]: p for p in card["problems"]}
    assert problems["OBJ-RTO"]["status"] == "failed" and "recovered in 5 h" in problems["OBJ-RTO"]["reason"]
    assert problems["VAL-MONITORING"]["status"] == "broken"
    assert "connection refused" in problems["VAL-MONITORING"]["reason"]
    svg = (tmp_path / "dr-rpo-gap.svg").read_text()
    assert "database" in svg and "agent-state" in svg and "RPO objective 15 min 00 s" in svg
    run.stdout.fnmatch_lines(["*RTO: MISSED - recovered in 5 h, RTO 4 h*", "  failed (2): OBJ-RTO, VAL-API-HEALTH",
                              "  could not verify (1): VAL-MONITORING"])
    # each failure once: the FAILURES section (failed), the "could not verify" section (broken); the scorecard
    # only names the criteria
    out = run.stdout.str()
    assert out.count("connection refused") == 1
    assert "DR check failed: VAL-API-HEALTH: HTTP 503" in out.splitlines()  # its FAILURES entry
    assert not [line for line in out.splitlines() if line.startswith(("FAILED OBJ-", "FAILED VAL-", "BROKEN VAL-"))]
    # Allure categories: the generator matches the message; our regexes split OBJ-* from the rest
    import re
    cats = json.loads((results / "categories.json").read_text())
    msg = status["test_recovery_took_too_long"]["statusDetails"]["message"]
    other = status["test_health_answers"]["statusDetails"]["message"]
    assert re.fullmatch(cats[0]["messageRegex"], msg) and not re.fullmatch(cats[1]["messageRegex"], msg)
    assert re.fullmatch(cats[1]["messageRegex"], other) and not re.fullmatch(cats[0]["messageRegex"], other)


def test_pictures_only_from_data_that_exists():
    assert timeline.rto_timeline_svg({}, timedelta(hours=4)) is None
    assert timeline.rto_timeline_svg({"start": "2026-01-01T00:00:00Z"}, timedelta(hours=4)) is None
    svg = timeline.rto_timeline_svg({"start": "2026-01-01T00:00:00Z", "failover_at": "2026-01-01T00:10:00Z",
                                     "dns_switched_at": "garbage", "validated": "2026-01-01T01:00:00Z"},
                                    timedelta(hours=4))
    assert "failover +10 min 00 s" in svg and "validated +1 h 00 min 00 s" in svg and "DNS" not in svg
    assert timeline.rpo_gap_svg(None, None) is None and timeline.rpo_gap_svg("n/a", None) is None


def test_labels_follow_the_plan():
    assert labels.section_anchor("Recovery Objectives") == "recovery-objectives"
    assert scorecard.VERDICT_TEXT["not verified"].startswith("COULD NOT VERIFY")
    assert labels.feature_name("Recovery Objectives") == "1. Recovery Objectives"
    assert labels.feature_name("Testing Schedule") == "7. Testing Schedule"


# -- the HTML report, offline, in headless Chromium ---------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND"]


def chromium(url: str, tmp_path: Path, name: str) -> tuple[str, list[str]]:
    """(DOM after scripts ran, http(s)/ws(s) requests the page made); Chromium's own are left out."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed (Debian: apt-get install -y chromium)")
    profile, netlog = tmp_path / f"profile-{name}", tmp_path / f"netlog-{name}.json"
    profile.mkdir()
    proc = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}",
                           "--virtual-time-budget=10000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=60)
    log = json.loads(netlog.read_text())
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    requests = []
    for event in log["events"]:
        params = event.get("params") or {}
        if types.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params:
            # the browser's own background calls have no initiator; the page's have its origin
            if params.get("initiator") != "not an origin" and params["url"].split(":")[0] in ("http", "https", "ws", "wss"):
                requests.append(params["url"])
    return proc.stdout, requests


def ensure_generator() -> None:
    try:
        html_report.check_prerequisites()
    except html_report.ReportError as exc:
        if "not installed" not in str(exc) and "pins" not in str(exc):
            pytest.fail(str(exc))
        done = subprocess.run([*CLI, "report", "--install"], capture_output=True, text=True, cwd=REPO)
        assert done.returncode == 0, done.stderr


def test_network_probe_sees_a_page_that_calls_out(tmp_path):
    page = tmp_path / "canary.html"
    page.write_text("<img src='http://example.org/x.png'><script>fetch('https://example.com/y')</script>")
    _, requests = chromium(page.as_uri(), tmp_path, "canary")
    assert "http://example.org/x.png" in requests and "https://example.com/y" in requests


@pytest.mark.slow  # a long run: two suite runs and the HTML report generator
def test_html_report_is_offline_has_trend_and_shows_the_run(sandbox, pytester, tmp_path):
    ensure_generator()
    reports = tmp_path / "reports"
    results = reports / "allure-results"
    run_suite(pytester, "test_recovery_validation.py", f"--alluredir={results}",
              f"--dr-scorecard={reports / 'dr-scorecard.json'}").assert_outcomes(passed=5)
    args = [*CLI, "report", "--results", str(results), "--output", str(reports / "html"),
            "--history", str(reports / "allure-history"), "--single-file", str(reports / "dr-report.html")]
    for _ in (1, 2):  # the same results reported again: still one trend point
        made = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        assert "trend: run 1" in made.stdout
    trend = json.loads((reports / "allure-history" / "history-trend.json").read_text())
    assert [t["data"]["passed"] for t in trend] == [5]
    single = reports / "dr-report.html"
    for page in (single, reports / "html" / "index.html"):
        text = page.read_text()
        assert "googletagmanager" not in text and "gtag(" not in text
        assert html_report.make_offline(page) == (0, [])

    # headless Chromium sometimes dumps the page before the single file's data promise resolved
    # (about 1 load in 5 here): load it again, up to 4 times; every load's requests are checked
    for attempt in range(4):
        dom, requests = chromium(single.as_uri() + "#timeline", tmp_path, f"report-{attempt}")
        assert requests == []
        if "test_api_health_reports_every_component_healthy" in dom:
            break
    for name in ("test_api_health_reports_every_component_healthy", "test_dr_database_answers_select_1",
                 "test_plan_agent_routing_script_passes_for_every_agent"):
        assert name in dom
    (tmp_path / "dom.html").write_text(dom)
    verdict_page_shows_the_scorecard(reports / "html", tmp_path)

    made = subprocess.run([*CLI, "bundle", "--reports", str(reports), "-o", str(tmp_path / "evidence.tar.gz")],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    with tarfile.open(tmp_path / "evidence.tar.gz") as tar:
        names = tar.getnames()
    assert "evidence/MANIFEST.sha256" in names and "evidence/dr-scorecard.json" in names
    assert "evidence/dr-report.html" in names and "evidence/report/index.html" in names
    assert any(n.startswith("evidence/allure-results/") and n.endswith("-result.json") for n in names)
    checked = subprocess.run([*CLI, "bundle", "--verify", str(tmp_path / "evidence.tar.gz")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    subprocess.run(["tar", "-xzf", str(tmp_path / "evidence.tar.gz"), "-C", str(tmp_path)], check=True)
    sums = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST.sha256"], cwd=tmp_path / "evidence",
                          capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr


def verdict_page_shows_the_scorecard(html: Path, tmp_path: Path) -> None:
    """The report served over HTTP on loopback: the "DR verdict" result's page, in headless Chromium, shows the
    verdict, RTO and RPO and every plan section; its screenshot is a real picture (PNG, the window's size)."""
    import functools
    import http.server
    import struct
    import threading

    [case] = [json.loads(p.read_text()) for p in (html / "data" / "test-cases").glob("*.json")
              if json.loads(p.read_text())["name"].startswith("DR verdict")]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/#testresult/{case['uid']}"
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=10000",
                 "--window-size=1400,1000"]
        for attempt in range(4):  # like the single file: a load sometimes ends before the page is drawn
            dom = subprocess.run([binary, *flags, f"--user-data-dir={tmp_path / f'verdict-dom-{attempt}'}",
                                  "--dump-dom", url], capture_output=True, text=True, timeout=60).stdout
            if "RPO:" in dom:
                break
        shot = tmp_path / "verdict.png"
        subprocess.run([binary, *flags, f"--user-data-dir={tmp_path / 'verdict-shot'}", f"--screenshot={shot}", url],
                       capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert "DR verdict: PARTIAL (target sandbox)" in dom
    assert "RTO: " in dom and "RPO: " in dom and "could not verify" in dom
    sections = ["Recovery Objectives", "Disaster Scenarios", "Backup Strategy", "Recovery Procedures",
                "Recovery Validation", "Communication Plan", "Testing Schedule"]
    assert sorted(sections, key=dom.index) == sections
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1400, 1000)
    assert len(png) > 50_000  # a drawn page, not a blank one


def test_report_says_what_is_missing(tmp_path):
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "x-result.json").write_text("{}")
    env = dict(os.environ, KOSMOS_DR_ALLURE_HOME=str(tmp_path / "empty"))
    made = subprocess.run([*CLI, "report", "--results", str(results)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert made.returncode == 3
    assert made.stderr.strip().splitlines() == [
        f"kosmos-dr: the report generator (allure-commandline {html_report.GENERATOR_VERSION}) is not installed: "
        "run `kosmos-dr report --install` (needs npm)"]
    no_npm = subprocess.run([*CLI, "report", "--install"], capture_output=True, text=True, cwd=tmp_path,
                            env=dict(env, PATH=str(tmp_path)))
    assert no_npm.returncode == 3 and no_npm.stderr.startswith("kosmos-dr: npm (Node.js) not found")
    ensure_generator()
    no_java = subprocess.run([*CLI, "report", "--results", str(results)], capture_output=True, text=True,
                             cwd=tmp_path, env={k: v for k, v in dict(os.environ, PATH=str(tmp_path)).items()
                                                if k != "JAVA_HOME"})
    assert no_java.returncode == 3 and no_java.stderr.startswith("kosmos-dr: Java not found")
    empty = subprocess.run([*CLI, "report", "--results", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert empty.returncode == 2 and "no Allure results" in empty.stderr
