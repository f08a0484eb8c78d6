"""The DR run's owner in a pytest session: ``DRPlugin``.

One object per pytest process, registered only when DR is asked for (the way pytest-xdist
registers ``DSession`` and allure-pytest its listener): at configure time when a ``--dr-*``
option, a ``dr_*`` ini key or a targets file is present, else at collection when a DR test
(``criteria_marks.is_dr_test``) is collected, or (xdist controller) when the first DR test's report
arrives. Without it pytest behaves as if the plugin were not installed.

It holds the ``DRRun`` and its ``TargetRun``s; its methods are the run's hooks. Fixtures and
reporting reach it through ``dr_plugin(config)``, and a target always by name:
``target_run(name)`` or ``target_run_for(item)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from . import gate_board, outcomes
from .criteria_marks import (apply_criteria_marks, is_board_gate, is_dr_test, item_criteria, require_full_coverage,
                             run_slow_reads_and_rto_last, target_name_of)
from .errors import DRConfigError
from .results import CheckResult

if TYPE_CHECKING:  # the run's modules load when a DR run starts, not in every pytest process
    from .run import DRRun, LedgerRecord, TargetRun

PLUGIN_NAME = "kosmos_dr.session"
_CHECK_RESULTS = pytest.StashKey[list]()


def dr_plugin(config: pytest.Config) -> "DRPlugin | None":
    """The session's DR plugin, or None when this pytest run has no DR tests or options."""
    return config.pluginmanager.get_plugin(PLUGIN_NAME)


def activate(config: pytest.Config, run_dir=None) -> "DRPlugin":
    """Register the DR plugin for this process (once); bad DR options become one-line usage errors.

    ``run_dir``: a run folder reserved by the xdist controller before it knew DR tests would run."""
    found = dr_plugin(config)
    if found is not None:
        return found
    from .heap import collect_less_during_run, thaw_before_run
    from .redaction import redact_debug_log

    thaw_before_run()
    collect_less_during_run()
    redact_debug_log(config)  # --debug: no secret reaches pytestdebug.log
    try:
        from .run import DRRun

        run = DRRun(config, run_dir=run_dir)
    except DRConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    plugin = DRPlugin(config, run)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    from .reporting.hooks import ReportingPlugin

    plugin.reporting = ReportingPlugin(config, plugin)
    config.pluginmanager.register(plugin.reporting, "kosmos_dr.reporting")
    if run.multi and run.is_controller and config.getoption("dist", "no") == "load":
        config.option.dist = "loadgroup"  # each target's tests stay on one worker: targets run in parallel
    return plugin


class DRPlugin:
    """Owns the DR run of this pytest process: targets, run folder, gate boards, deadlines, outcomes,
    check results, and at the end the drill ledger (after reporting has written the scorecards)."""

    def __init__(self, config: pytest.Config, run: DRRun) -> None:
        self.config = config
        self.run = run
        self.reporting = None  # the ReportingPlugin, set by ``activate``
        self.ledger_records: dict[str, LedgerRecord] = {}

    # -- the public interface (fixtures, reporting) -------------------------------------------
    @property
    def target_runs(self) -> dict[str, TargetRun]:
        return self.run.target_runs

    @property
    def multi(self) -> bool:
        return self.run.multi

    def target_run(self, name: str | None) -> TargetRun:
        """The named target's run (``None``: the only target of a single-target run)."""
        return self.run.target_run(name)

    def target_run_for(self, item: pytest.Item) -> TargetRun | None:
        """The target a test runs against; None for a test of no target in a run with several."""
        name = target_name_of(item)
        if name is None and self.run.multi:
            return None
        return self.run.target_run(name)

    def record_result(self, item: pytest.Item, result: CheckResult) -> None:
        """A check result of this test (for the scorecard and the pictures)."""
        item.stash.setdefault(_CHECK_RESULTS, []).append(result)

    def check_results(self, item: pytest.Item) -> list[CheckResult]:
        return item.stash.get(_CHECK_RESULTS, [])

    def _deadline_for(self, item: pytest.Item):
        target_run = self.target_run_for(item)
        if target_run is not None:
            return target_run.deadline
        return min(t.deadline for t in self.target_runs.values())  # a test of no target: the earliest bound

    # -- hooks ------------------------------------------------------------------------------------
    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        run = self.run
        shown = ", ".join(f"{t.target.name} ({t.target.kind})" for t in run.target_runs.values())
        return [f"kosmos-dr: target{'s' if run.multi else ''} {shown}, targets from {run.dr_config.source}"]

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        """xdist controller: every worker gets the run folder (where the shared sandbox lives)."""
        from .run import OWNER_PID_KEY, RUN_DIR_KEY

        node.workerinput[RUN_DIR_KEY] = str(self.run.run_dir)
        node.workerinput[OWNER_PID_KEY] = self.run.owner_pid

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if self.run.multi and "dr_run" in metafunc.fixturenames:
            names = list(self.run.target_runs)
            metafunc.parametrize("dr_run", names, indirect=True, scope="session", ids=names)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not self.run.multi:  # the configuration's clone and rendering, while pytest collects
            from . import early_config

            early_config.start(self.config, next(iter(self.run.target_runs.values())))

    @pytest.hookimpl(tryfirst=True)  # before -m/-k deselect: coverage counts every test that exists
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        apply_criteria_marks(items, self.run.target_runs)
        run_slow_reads_and_rto_last(items)
        if config.getoption("dr_strict_coverage"):
            require_full_coverage(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for name, target_run in self.run.target_runs.items():
            mine = [i for i in session.items if not self.run.multi or target_name_of(i) == name]
            gates = [i for i in mine if is_board_gate(i)]
            selected = {cid for i in gates for cid in item_criteria(i)}
            gate_board.write_expected(target_run.run_dir, [i.nodeid for i in gates],
                                      gate_board.gate_criteria_not_selected(selected))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        """A DR test's fixtures (clients, sandbox, restores) are bounded by the run's deadline too."""
        if not item_criteria(item):
            return (yield)
        from .deadline import bounded_by, check_not_passed

        deadline = self._deadline_for(item)
        check_not_passed(deadline)
        with bounded_by(deadline):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        if not item_criteria(item):
            return (yield)
        from .deadline import bounded_by

        with bounded_by(self._deadline_for(item)):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        if not is_dr_test(item):  # a plain test of the same session keeps pytest's own outcome
            return report
        report.dr_test = True
        outcomes.classify_report(item, call, report)
        target_run = self.target_run_for(item)
        if (target_run is not None and (report.when == "call" or not report.passed)
                and is_board_gate(item) and report.when != "teardown"):
            gate_board.post(target_run.run_dir, item.nodeid, item_criteria(item), outcomes.outcome_of(report))
        return report

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config):
        return outcomes.report_teststatus(report)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        outcomes.terminal_summary(terminalreporter)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Controller: the scorecards, then each target's drill-ledger entries, then the run-level report files."""
        if not self.run.is_controller or self.reporting is None:
            return
        interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
        cards = self.reporting.write_scorecards(session, int(exitstatus), interrupted)
        for name, (card, path) in cards.items():
            self.ledger_records[name] = self.target_run(name).record_drills(card, path, interrupted)
        self.reporting.write_run_files({name: r.head for name, r in self.ledger_records.items()})

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from .heap import freeze_after_run

        self.run.close()
        freeze_after_run()  # before pytest's last gc.collect() and the interpreter's own
