"""pytest hooks for the reports: Allure labels and files, redaction of every output, the scorecard
and the pictures. Registered by ``plugin.pytest_configure`` as ``ReportingPlugin(config)``.

Under pytest-xdist each worker labels its tests, redacts what it writes and puts what the
scorecard needs on its reports (``dr_criteria``, ``dr_results``, ``dr_incident``); the controller
builds the scorecard, writes the pictures and the run-level Allure files, and scrubs the results
folder once more at the end.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from ..criteria_marks import item_criteria
from ..fixtures import DR_RUN, RESULTS
from ..redaction import redact, redact_deep, register_secret
from . import labels as plan_labels
from .scorecard import ScorecardCollector, serialize_result, terminal_lines

SCORECARD_DEFAULT = "reports/dr-scorecard.json"
RTO_PICTURE = "dr-rto-timeline.svg"
RPO_PICTURE = "dr-rpo-gap.svg"


def addoption(group, parser: pytest.Parser) -> None:
    """Options of the reports (called from the plugin's ``pytest_addoption``)."""
    group.addoption("--dr-scorecard", dest="dr_scorecard", metavar="PATH", default=None,
                    help=f"where to write the DR scorecard JSON (default: {SCORECARD_DEFAULT} under the "
                         "rootdir; pictures go next to it); written only when DR criteria ran")
    parser.addini(plan_labels.LINK_PATTERN_INI,
                  "link from each test to its DR plan section in Allure; {section_anchor}, {section} and "
                  "{criterion} are filled in", default=plan_labels.DEFAULT_LINK_PATTERN)
    parser.addini("dr_scorecard", "scorecard path (like --dr-scorecard)", default="")


def redact_report(report: pytest.TestReport) -> None:
    """Scrub what pytest prints and JUnit writes: captured output, tracebacks, properties."""
    report.sections = [(title, redact(content)) for title, content in report.sections]
    longrepr = report.longrepr
    if isinstance(longrepr, str):
        report.longrepr = redact(longrepr)
    elif isinstance(longrepr, tuple):
        report.longrepr = tuple(redact(v) if isinstance(v, str) else v for v in longrepr)
    elif longrepr is not None:
        redact_deep(longrepr)
    report.user_properties = [(k, redact(v) if isinstance(v, str) else v) for k, v in report.user_properties]


def _redacting_record_factory(previous):
    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: logging reports it itself
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    factory.kosmos_dr_previous = previous
    return factory


class ReportingPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        self.alluredir: str | None = config.getoption("allure_report_dir", None)
        self.collector = ScorecardCollector()
        self.card: dict[str, Any] | None = None
        self.scorecard_path: Path | None = None
        self.pictures: list[Path] = []
        self._redactor = None
        if self.alluredir:
            from . import allure_redaction

            self._redactor = allure_redaction.register(self.alluredir)
        self._previous_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_redacting_record_factory(self._previous_factory))
        config.add_cleanup(self._cleanup)

    def _cleanup(self) -> None:
        if getattr(logging.getLogRecordFactory(), "kosmos_dr_previous", None) is self._previous_factory:
            logging.setLogRecordFactory(self._previous_factory)
        if self._redactor is not None:
            from . import allure_redaction

            allure_redaction.unregister(self._redactor)
            self._redactor = None

    @property
    def run(self):
        return self.config.stash.get(DR_RUN, None)

    # -- each test -------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if not self.alluredir:
            return
        ids = item_criteria(item)
        run = self.run
        if not ids or run is None:
            return
        from ..catalog import catalog

        known = catalog()
        pattern = self.config.getini(plan_labels.LINK_PATTERN_INI) or plan_labels.DEFAULT_LINK_PATTERN
        found = plan_labels.plan_labels([known[c] for c in ids if c in known], run.target.name, pattern)
        # allure-pytest already turns the kind markers (gate, drill, evidence) into tags
        marked = {m.name for m in item.iter_markers()}
        plan_labels.apply(found, skip_tags=marked)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        ids = item_criteria(item)
        if ids:
            report.dr_criteria = ids
            if report.when == "call":
                report.dr_results = [serialize_result(r) for r in item.stash.get(RESULTS, [])]
                incident = self._incident()
                if incident:
                    report.dr_incident = incident
                if self.alluredir and {"OBJ-RTO", "OBJ-RPO"} & set(ids):
                    self._attach_pictures(report)
        redact_report(report)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.collector.add(report)

    def _incident(self) -> dict[str, str]:
        """What is known about the incident in this process (never starts the sandbox)."""
        run = self.run
        if run is None:
            return {}
        found: dict[str, str] = {}
        sandbox = getattr(run, "_sandbox", None)
        if sandbox is not None:
            state = getattr(sandbox, "state", None) or {}
            incident = state.get("incident") or {}
            if isinstance(incident, dict):
                found.update({k: str(v) for k, v in incident.items()
                              if k in ("start", "failover_at", "dns_switched_at") and v})
        if run.options.incident_start is not None:
            found["start"] = run.options.incident_start.isoformat()
        return found

    def _timeline_data(self, validated: float | None = None) -> dict[str, Any]:
        from .timeline import _instant

        data: dict[str, Any] = dict(self.collector.incident)
        data.update(self._incident())
        start = _instant(data.get("start"))
        tests = list(self.collector.tests.values())
        health = [t.finished for t in tests if "VAL-API-HEALTH" in t.criteria and t.status == "passed" and t.finished]
        if health:
            data["first_green_health"] = _iso(min(health))
        if validated is None:
            gates = [t for t in tests if any(_kind(c) == "gate" for c in t.criteria)]
            if gates and all(t.status == "passed" for t in gates):
                validated = max((t.finished for t in gates if t.finished), default=None)
        if validated is not None:
            data["validated"] = _iso(validated)
        if start is not None:  # events before the incident are not part of this recovery
            for key in ("first_green_health", "validated"):
                when = _instant(data.get(key))
                if when is not None and when < start:
                    data.pop(key)
        return data

    def _attach_pictures(self, report: pytest.TestReport) -> None:
        import allure

        from .timeline import rpo_gap_svg, rto_timeline_svg

        run = self.run
        objectives = run.target.objectives if run else None
        for result in getattr(report, "dr_results", []):
            svg = None
            if result["criterion"] == "OBJ-RTO":
                svg = rto_timeline_svg(self._timeline_data(report.stop if result["passed"] else None),
                                       objectives.rto if objectives else None)
                name = "RTO timeline"
            elif result["criterion"] == "OBJ-RPO":
                svg = rpo_gap_svg(result["measured"], result["limit"])
                name = "RPO gap per source"
            if svg:
                allure.attach(svg, name=name, attachment_type=allure.attachment_type.SVG)

    # -- end of the run --------------------------------------------------------------------
    def _scorecard_path(self) -> Path | None:
        explicit = self.config.getoption("dr_scorecard", None) or self.config.getini("dr_scorecard")
        if not explicit and not self.collector.tests:
            return None  # no DR criterion ran (e.g. the plugin's own tests): leave no files behind
        path = Path(explicit or SCORECARD_DEFAULT).expanduser()
        return path if path.is_absolute() else self.config.rootpath / path

    def _register_sandbox_secrets(self) -> None:
        """The controller under xdist never read the credentials: learn them for the final scrub."""
        run = self.run
        if run is None or not any(t.target.is_sandbox for t in run.target_runs.values()):
            return
        try:
            from ..sandbox import manager

            folders = [t.run_dir / "sandbox" for t in run.target_runs.values()] + [manager.default_state_dir()]
            for folder in folders:
                running = manager.find_running(folder)
                if running is not None:
                    for secret in running.secrets():
                        register_secret(secret)
                    for section in running.state.values():
                        if isinstance(section, dict):
                            register_secret(section.get("secret_access_key"))
        except Exception:  # noqa: BLE001 - pattern redaction still applies
            pass

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            return
        self._register_sandbox_secrets()
        run = self.run
        self.scorecard_path = self._scorecard_path()
        self.interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
        verdict = None
        if run is not None and run.multi and self.scorecard_path is not None:
            verdict = self._per_target_scorecards(run, int(exitstatus))
        elif run is not None and self.scorecard_path is not None:
            from . import scorecard

            self.card = scorecard.build(self.collector.finished_tests(), run.target, int(exitstatus),
                                        run.target.objectives, self._timeline_data(), interrupted=self.interrupted)
            scorecard.write(self.card, self.scorecard_path)
            self.pictures = self._write_pictures(self.scorecard_path.parent)
            self._record_drills(run, self.card, self.scorecard_path)
            verdict = self.card["verdict"]
        if verdict in ("partial", "nothing verified") and int(exitstatus) == int(pytest.ExitCode.OK):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # exit 0 means PASSED, nothing less
        if self.alluredir and run is not None:
            from . import allure_files, allure_redaction

            if self.collector.tests:
                allure_files.write(Path(self.alluredir), run.target, self._timeline_data().get("start"),
                                   getattr(self, "ledger_head", None))
            allure_redaction.scrub_folder(self.alluredir)

    def _per_target_scorecards(self, run, exitstatus: int) -> None:
        """Several targets: one scorecard each (``dr-scorecard-<target>.json``) and an overall verdict."""
        from . import scorecard

        self.target_cards = {}
        finished = self.collector.finished_tests()
        for name, target_run in run.target_runs.items():
            tests = [t for t in finished if t.target == name]
            card = scorecard.build(tests, target_run.target, exitstatus, target_run.target.objectives,
                                   interrupted=self.interrupted)
            path = self.scorecard_path.with_name(f"{self.scorecard_path.stem}-{name}{self.scorecard_path.suffix}")
            scorecard.write(card, path)
            self.target_cards[name] = (card, path)
            self._record_drills(target_run, card, path)
        verdicts = [card["verdict"] for card, _ in self.target_cards.values()]
        overall = next((v for v in ("interrupted", "failed", "not verified", "partial", "nothing verified")
                        if v in verdicts), "passed")
        self.overall = {"schema": 1, "verdict": overall, "pytest_exit_status": exitstatus,
                        "targets": {name: {"verdict": card["verdict"], "scorecard": str(path)}
                                    for name, (card, path) in self.target_cards.items()}}
        scorecard.write(self.overall, self.scorecard_path)
        return overall

    def _record_drills(self, run, card: dict, card_path: Path) -> None:
        """A finished run records the drills it passed in the drill ledger (SCH-* evidence), with its
        run id and the SHA-256 of its scorecard. An interrupted run records nothing."""
        if getattr(self, "interrupted", False) or card["verdict"] == "interrupted":
            self.ledger_entries = []
            return
        import hashlib

        from ..errors import DRConfigError
        from ..ledger import LedgerError, head_of, ledger_path_for_run, record_run

        passed = {row["id"] for row in card["criteria"] if row["status"] == "passed"}
        gate = [row["id"] for row in card["criteria"] if row["kind"] == "gate"]
        # A failover test: the operator gave the incident start, and the whole gate (OBJ-RTO
        # included) passed within the RTO. A plain run that performed no failover is not one.
        failover = run.options.incident_start is not None and bool(gate) and set(gate) <= passed
        try:
            path = ledger_path_for_run(run)
            self.ledger_entries = record_run(
                path, run_id=run.run_id, target=run.target.name, passed_criteria=passed,
                scorecard_sha256=hashlib.sha256(card_path.read_bytes()).hexdigest(), failover=failover)
            self.ledger_head = head_of(path) if path is not None else None
        except (LedgerError, DRConfigError, OSError) as exc:
            self.ledger_entries = []
            self.ledger_error = f"kosmos-dr: drill ledger not updated: {exc}"

    def _write_pictures(self, folder: Path) -> list[Path]:
        from .timeline import rpo_gap_svg, rto_timeline_svg

        run = self.run
        rpo = (self.card or {}).get("objectives", {}).get("rpo") or {}
        pictures = {
            RTO_PICTURE: rto_timeline_svg(self._timeline_data(), run.target.objectives.rto),
            RPO_PICTURE: rpo_gap_svg(rpo.get("measured"), rpo.get("limit")) if rpo else None,
        }
        written = []
        for name, svg in pictures.items():
            path = folder / name
            if svg:
                path.write_text(svg, encoding="utf-8")
                written.append(path)
            elif path.exists():  # a picture from an earlier run would tell the wrong story
                path.unlink()
        return written

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        if getattr(self, "target_cards", None):
            for card, path in self.target_cards.values():
                self._print_card(terminalreporter, card, path)
            terminalreporter.write_line(f"overall verdict over {len(self.target_cards)} targets: "
                                        f"{self.overall['verdict'].upper()} ({self.scorecard_path})")
            return
        if self.card is None:
            return
        self._print_card(terminalreporter, self.card, self.scorecard_path)
        for path in self.pictures:
            terminalreporter.write_line(f"picture: {path}")
        self._print_ledger(terminalreporter)

    def _print_ledger(self, terminalreporter) -> None:
        for entry in getattr(self, "ledger_entries", []):
            terminalreporter.write_line(f"drill ledger: recorded {entry['kind']} drill #{entry['seq']} for {entry['target']}")
        if getattr(self, "ledger_entries", None) and getattr(self, "ledger_head", None):
            terminalreporter.write_line(f"drill ledger head: {self.ledger_head} (keep it outside the ledger; "
                                        "pass it back with --dr-ledger-head)")
        if getattr(self, "ledger_error", None):
            terminalreporter.write_line(self.ledger_error, yellow=True)

    def _print_card(self, terminalreporter, card: dict, path: Path | None) -> None:
        verdict = card["verdict"]
        color = {"passed": {"green": True}, "failed": {"red": True}}.get(verdict, {"yellow": True})
        title = f"DR scorecard: {card['target']['name']}" if getattr(self, "target_cards", None) else "DR scorecard"
        terminalreporter.write_sep("=", title, **color)
        for line in terminal_lines(card, path):
            terminalreporter.write_line(line)


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _kind(cid: str) -> str:
    from ..catalog import catalog

    crit = catalog().get(cid)
    return crit.kind if crit else ""
