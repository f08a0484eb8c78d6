"""pytest hooks for the reports: Allure labels and files, redaction of every output, the scorecard
and the pictures. Registered by ``session.activate`` as ``ReportingPlugin(config, dr)``, where ``dr``
is the run's ``session.DRPlugin`` (its targets, each test's target and check results).

Under pytest-xdist each worker labels its tests, redacts what it writes and puts what the
scorecard needs on its reports (``dr_criteria``, ``dr_results``, ``dr_incident``, and with several
targets the ``dr_target`` property); the controller builds one scorecard per target, writes the
pictures and the run-level Allure files, and scrubs the results folder once more at the end
(``DRPlugin.pytest_sessionfinish`` calls ``write_scorecards`` and ``write_run_files`` around the
drill ledger, which the run records).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from ..criteria_marks import item_criteria, target_name_of
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
    def __init__(self, config: pytest.Config, dr) -> None:
        self.config = config
        self.dr = dr  # session.DRPlugin: the run's targets, each test's target and check results
        self.alluredir: str | None = config.getoption("allure_report_dir", None)
        self.collector = ScorecardCollector()
        self.cards: dict[str, tuple[dict[str, Any], Path]] = {}  # per target: its scorecard and where it went
        self.overall: dict[str, Any] | None = None  # several targets: the overall verdict
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

    # -- each test -------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if not self.alluredir:
            return
        ids = item_criteria(item)
        target_run = self.dr.target_run_for(item)
        if not ids or target_run is None:
            return
        from ..catalog import catalog

        known = catalog()
        pattern = self.config.getini(plan_labels.LINK_PATTERN_INI) or plan_labels.DEFAULT_LINK_PATTERN
        found = plan_labels.plan_labels([known[c] for c in ids if c in known], target_run.target.name, pattern)
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
                report.dr_results = [serialize_result(r) for r in self.dr.check_results(item)]
                target_run = self.dr.target_run_for(item)
                incident = target_run.known_incident() if target_run is not None else {}
                if incident:
                    report.dr_incident = incident
                if self.alluredir and {"OBJ-RTO", "OBJ-RPO"} & set(ids):
                    self._attach_pictures(report, target_run, target_name_of(item))
            if self.alluredir and report.failed and getattr(report, "dr_test", False):
                _note_reason(report)
        redact_report(report)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.collector.add(report)

    def _timeline_data(self, target: str | None, validated: float | None = None) -> dict[str, Any]:
        """The incident's events for ``target`` (None: the only target) as known in this process."""
        from .timeline import _instant

        data: dict[str, Any] = dict(self.collector.incidents.get(target, {}))
        target_run = self.dr.target_run(target) if target in self.dr.target_runs or not self.dr.multi else None
        if target_run is not None:
            data.update(target_run.known_incident())
        start = _instant(data.get("start"))
        tests = [t for t in self.collector.tests.values() if t.target == target]
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

    def _attach_pictures(self, report: pytest.TestReport, target_run, target: str | None) -> None:
        import allure

        from .timeline import rpo_gap_svg, rto_timeline_svg

        objectives = target_run.target.objectives if target_run is not None else None
        for result in getattr(report, "dr_results", []):
            svg = None
            if result["criterion"] == "OBJ-RTO":
                svg = rto_timeline_svg(self._timeline_data(target, report.stop if result["passed"] else None),
                                       objectives.rto if objectives else None)
                name = "RTO timeline"
            elif result["criterion"] == "OBJ-RPO":
                svg = rpo_gap_svg(result["measured"], result["limit"])
                name = "RPO gap per source"
            if svg:
                allure.attach(svg, name=name, attachment_type=allure.attachment_type.SVG)

    # -- end of the run (called by DRPlugin.pytest_sessionfinish on the controller) ----------
    def _scorecard_path(self) -> Path | None:
        explicit = self.config.getoption("dr_scorecard", None) or self.config.getini("dr_scorecard")
        if not explicit and not self.collector.tests:
            return None  # no DR criterion ran (e.g. the plugin's own tests): leave no files behind
        path = Path(explicit or SCORECARD_DEFAULT).expanduser()
        return path if path.is_absolute() else self.config.rootpath / path

    def _register_sandbox_secrets(self) -> None:
        """The controller under xdist never read the credentials: learn them for the final scrub."""
        target_runs = self.dr.target_runs.values()
        if not any(t.target.is_sandbox for t in target_runs):
            return
        try:
            from ..sandbox import manager

            folders = [t.run_dir / "sandbox" for t in target_runs] + [manager.default_state_dir()]
            for folder in folders:
                running = manager.find_running(folder)
                if running is not None:
                    for secret in running.secrets():
                        register_secret(secret)  # passwords, tokens and the AWS secret key
        except Exception:  # noqa: BLE001 - pattern redaction still applies
            pass

    def write_scorecards(self, session: pytest.Session, exitstatus: int,
                         interrupted: bool) -> dict[str, tuple[dict[str, Any], Path]]:
        """One scorecard per target (several: ``<card>-<target>.json`` and an overall verdict in ``<card>``),
        the pictures of a single target; returns {target: (card, path)}. Exit 0 needs the verdict PASSED."""
        from . import scorecard

        self._register_sandbox_secrets()
        self.scorecard_path = self._scorecard_path()
        if self.scorecard_path is None:
            return {}
        finished = self.collector.finished_tests()
        for name, target_run in self.dr.target_runs.items():
            key = name if self.dr.multi else None
            path = (self.scorecard_path.with_name(f"{self.scorecard_path.stem}-{name}{self.scorecard_path.suffix}")
                    if self.dr.multi else self.scorecard_path)
            card = scorecard.build([t for t in finished if t.target == key], target_run.target, exitstatus,
                                   target_run.target.objectives, self._timeline_data(key), interrupted=interrupted)
            card["evidence"] = _evidence_of(target_run)
            scorecard.write(card, path)
            self.cards[name] = (card, path)
        if self.dr.multi:
            verdicts = [card["verdict"] for card, _ in self.cards.values()]
            verdict = next((v for v in ("interrupted", "failed", "not verified", "partial", "nothing verified")
                            if v in verdicts), "passed")
            self.overall = {"schema": 1, "verdict": verdict, "pytest_exit_status": exitstatus,
                            "targets": {name: {"verdict": card["verdict"], "scorecard": str(path)}
                                        for name, (card, path) in self.cards.items()}}
            scorecard.write(self.overall, self.scorecard_path)
        else:
            (card, _), = self.cards.values()
            verdict = card["verdict"]
            self.pictures = self._write_pictures(self.scorecard_path.parent, card)
        if verdict in ("partial", "nothing verified") and exitstatus == int(pytest.ExitCode.OK):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # exit 0 means PASSED, nothing less
        return self.cards

    def write_run_files(self, ledger_heads: dict[str, str | None]) -> None:
        """The run-level Allure files (environment per target, categories, executor), then the final scrub."""
        if not self.alluredir:
            return
        from . import allure_files, allure_redaction

        if self.collector.tests:
            import json

            from ..timeparse import utcnow
            from . import allure_scorecard

            results = Path(self.alluredir)
            targets = [(t.target, self._timeline_data(name if self.dr.multi else None).get("start"),
                        ledger_heads.get(name)) for name, t in self.dr.target_runs.items()]
            allure_files.write(results, targets, verdicts={name: card for name, (card, _) in self.cards.items()})
            pattern = self.config.getini(plan_labels.LINK_PATTERN_INI) or plan_labels.DEFAULT_LINK_PATTERN
            for name, (card, _) in self.cards.items():
                allure_scorecard.write_verdict_result(results, card, self.dr.target_run(name).started, utcnow(),
                                                      pattern)
            if self.cards:
                ci = allure_files.executor()
                data = allure_scorecard.executor({n: c for n, (c, _) in self.cards.items()}, self.overall, ci)
                (results / "executor.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
            allure_scorecard.tidy_results(results)
        allure_redaction.scrub_folder(self.alluredir)

    def _write_pictures(self, folder: Path, card: dict[str, Any]) -> list[Path]:
        from .timeline import rpo_gap_svg, rto_timeline_svg

        target_run = self.dr.target_run(None)
        rpo = card.get("objectives", {}).get("rpo") or {}
        pictures = {
            RTO_PICTURE: rto_timeline_svg(self._timeline_data(None), target_run.target.objectives.rto),
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
        if not self.cards:
            return
        if self.overall is not None:
            for card, path in self.cards.values():
                self._print_card(terminalreporter, card, path, titled=True)
            from .scorecard import VERDICT_WORDS

            verdict = self.overall["verdict"]
            terminalreporter.write_line(f"overall verdict over {len(self.cards)} targets: "
                                        f"{VERDICT_WORDS.get(verdict, verdict.upper())} ({self.scorecard_path})")
            return
        (card, path), = self.cards.values()
        self._print_card(terminalreporter, card, path)
        for picture in self.pictures:
            terminalreporter.write_line(f"picture: {picture}")
        for record in self.dr.ledger_records.values():
            _print_ledger(terminalreporter, record)

    def _print_card(self, terminalreporter, card: dict, path: Path | None, titled: bool = False) -> None:
        verdict = card["verdict"]
        color = {"passed": {"green": True}, "failed": {"red": True}}.get(verdict, {"yellow": True})
        title = f"DR scorecard: {card['target']['name']}" if titled else "DR scorecard"
        terminalreporter.write_sep("=", title, **color)
        for line in terminal_lines(card, path):
            terminalreporter.write_line(line)


def _print_ledger(terminalreporter, record) -> None:
    where = f" in {record.path}" if record.path is not None else ""
    for entry in record.entries:
        terminalreporter.write_line(f"drill ledger: recorded {entry['kind']} drill #{entry['seq']} for "
                                    f"{entry['target']}{where}")
    if record.entries and record.head:
        terminalreporter.write_line(f"drill ledger head: {record.head} (keep it outside the ledger; "
                                    "pass it back with --dr-ledger-head)")
    if record.error:
        terminalreporter.write_line(record.error, yellow=True)


def _note_reason(report: pytest.TestReport) -> None:
    """The one-line reason of a failed or could-not-verify DR test, for its Allure page (the message there
    becomes it at the end of the run: criterion ID, plain words, no Python class names)."""
    try:
        import allure

        from ..outcomes import one_line_reason
        from .allure_scorecard import REASON_LABEL

        allure.dynamic.label(REASON_LABEL, one_line_reason(report))
    except Exception:  # noqa: BLE001 - never fail a test over its report
        pass


def _evidence_of(target_run) -> dict[str, str | None]:
    """Where the run's evidence files are kept (``reports/evidence/<run id>/``, when it cited any) and the
    drill ledger it read and records to (a sandbox run's: its copy there): ``kosmos-dr bundle`` takes both."""
    from ..ledger import ledger_path_for_run

    try:
        ledger = ledger_path_for_run(target_run)
    except Exception:  # noqa: BLE001 - an unreadable or locked ledger: the scorecard still gets written
        ledger = None
    folder = target_run.evidence_dir
    return {"folder": str(folder) if folder.is_dir() else None,
            "ledger": str(ledger) if ledger is not None and ledger.is_file() else None}


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone

    from ..timeparse import isoformat

    return isoformat(datetime.fromtimestamp(epoch, timezone.utc))


def _kind(cid: str) -> str:
    from ..catalog import catalog

    crit = catalog().get(cid)
    return crit.kind if crit else ""
