"""pytest wiring for pytest-kosmos-dr: options, ini keys, markers and hooks. No DR logic here."""

from __future__ import annotations

import pytest

from . import fixtures, outcomes
from .errors import DRConfigError
from .fixtures import DR_RUN
from .reporting import hooks as reporting_hooks

MARKERS = (
    "gate: read-only DR check, safe to run right after a failover (-m gate)",
    "drill: creates and removes resources (restores, copies, toggles); needs --dr-allow-restore",
    "evidence: checked against recorded evidence; 'not verified' without it",
    "dr_criterion(*ids): the DR plan acceptance criteria this test verifies (see `kosmos-dr criteria`)",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kosmos-dr", "KOSMOS disaster-recovery verification")
    group.addoption("--dr-target", dest="dr_target", metavar="NAME", default=None,
                    help="DR target to verify (default: 'sandbox', the local DR environment)")
    group.addoption("--dr-config", dest="dr_config", metavar="PATH", default=None,
                    help="targets file (default: kosmos-dr.toml, or [tool.kosmos-dr] in pyproject.toml)")
    group.addoption("--dr-incident-start", dest="dr_incident_start", metavar="ISO8601", default=None,
                    help="when the disaster began (RTO/RPO are measured from it)")
    group.addoption("--dr-restore-time", dest="dr_restore_time", metavar="ISO8601|latest", default=None,
                    help="point in time for restore drills (default: latest restorable time)")
    group.addoption("--dr-allow-restore", dest="dr_allow_restore", action="store_true", default=False,
                    help="allow drills that create resources (restored instances, copies, toggles)")
    group.addoption("--dr-confirm-target", dest="dr_confirm_target", metavar="NAME", default=None,
                    help="repeat the target name to allow drills against a production target")
    group.addoption("--dr-evidence", dest="dr_evidence", metavar="PATH", default=None,
                    help="incident record (JSON) for the communication criteria (COM-*)")
    group.addoption("--dr-ledger", dest="dr_ledger", metavar="PATH", default=None,
                    help="drill ledger for the testing-schedule criteria (default: reports/drill-ledger.jsonl)")
    group.addoption("--dr-ledger-head", dest="dr_ledger_head", metavar="SHA256", default=None,
                    help="the drill ledger's head hash kept outside the file (from the last bundle or Allure "
                         "results, or $KOSMOS_DR_LEDGER_HEAD): a ledger whose newest entries were removed "
                         "or rewritten fails the SCH-* criteria")
    group.addoption("--dr-strict-coverage", dest="dr_strict_coverage", action="store_true", default=False,
                    help="fail when a criterion of the plan's catalog has no test")
    group.addoption("--dr-deadline", dest="dr_deadline", metavar="DURATION|ISO8601", default=None,
                    help="bound the whole run (default: the RTO time left when --dr-incident-start is given)")
    reporting_hooks.addoption(group, parser)
    parser.addini("dr_target", "default DR target (like --dr-target)", default="")
    parser.addini("dr_config", "targets file (like --dr-config)", default="")
    parser.addini("dr_ledger", "drill ledger (like --dr-ledger)", default="")


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if config.option.help:
        return
    from .redaction import redact_debug_log
    from .run import DRRun

    redact_debug_log(config)  # --debug: no secret reaches pytestdebug.log

    try:
        config.stash[DR_RUN] = DRRun(config)
    except DRConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    run = config.stash[DR_RUN]
    if run.multi and run.is_controller and config.getoption("dist", "no") == "load":
        config.option.dist = "loadgroup"  # each target's tests stay on one worker: targets run in parallel
    config.pluginmanager.register(fixtures, "kosmos_dr.fixtures")
    config.pluginmanager.register(reporting_hooks.ReportingPlugin(config), "kosmos_dr.reporting")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistWiring(), "kosmos_dr.xdist")


class _XdistWiring:
    """Hands the run folder (where the shared sandbox lives) to every xdist worker."""

    @pytest.hookimpl
    def pytest_configure_node(self, node) -> None:
        from .run import OWNER_PID_KEY, RUN_DIR_KEY

        run = node.config.stash[DR_RUN]
        node.workerinput[RUN_DIR_KEY] = str(run.run_dir)
        node.workerinput[OWNER_PID_KEY] = run.owner_pid


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(DR_RUN, None)
    if run is not None:
        run.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash.get(DR_RUN, None)
    if run is None:
        return []
    shown = ", ".join(f"{t.target.name} ({t.target.kind})" for t in run.target_runs.values())
    return [f"kosmos-dr: target{'s' if run.multi else ''} {shown}, targets from {run.dr_config.source}"]


@pytest.hookimpl(tryfirst=True)  # before -m/-k deselect: coverage counts every test that exists
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from .criteria_marks import apply_criteria_marks, require_full_coverage, run_rto_last

    apply_criteria_marks(config, items)
    run_rto_last(items)
    if config.getoption("dr_strict_coverage"):
        require_full_coverage(items)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = metafunc.config.stash.get(DR_RUN, None)
    if run is not None and run.multi and "dr_run" in metafunc.fixturenames:
        names = list(run.target_runs)
        metafunc.parametrize("dr_run", names, indirect=True, scope="session", ids=names)


def pytest_collection_finish(session: pytest.Session) -> None:
    run = session.config.stash.get(DR_RUN, None)
    if run is not None:
        from . import gate_board
        from .criteria_marks import is_board_gate, target_name_of

        from .criteria_marks import item_criteria

        for name, target_run in run.target_runs.items():
            mine = [i for i in session.items if not run.multi or target_name_of(i) == name]
            gates = [i for i in mine if is_board_gate(i)]
            selected = {cid for i in gates for cid in item_criteria(i)}
            gate_board.write_expected(target_run.run_dir, [i.nodeid for i in gates],
                                      gate_board.gate_criteria_not_selected(selected))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    outcomes.classify_report(item, call, report)
    from .criteria_marks import target_run_of

    target_run = target_run_of(item)
    if target_run is not None and (report.when == "call" or not report.passed):
        from . import gate_board
        from .criteria_marks import is_board_gate, item_criteria

        if is_board_gate(item) and report.when != "teardown":
            gate_board.post(target_run.run_dir, item.nodeid, item_criteria(item), outcomes.outcome_of(report))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """A DR test's fixtures (clients, sandbox, restores) are bounded by the run's deadline too."""
    from .criteria_marks import dr_target_run_of

    target_run = dr_target_run_of(item)
    if target_run is None:
        return (yield)
    from .deadline import bounded_by, check_not_passed

    check_not_passed(target_run.deadline)
    with bounded_by(target_run.deadline):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    from .criteria_marks import dr_target_run_of

    target_run = dr_target_run_of(item)
    if target_run is None:
        return (yield)
    from .deadline import bounded_by

    with bounded_by(target_run.deadline):
        return (yield)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    return outcomes.report_teststatus(report)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    outcomes.terminal_summary(terminalreporter)
