"""pytest wiring for pytest-kosmos-dr: options, ini keys, markers, and when the DR plugin acts.

The plugin does nothing unless asked: ``session.DRPlugin`` (which owns the run and whose methods
are the DR hooks) is registered only when DR options are given (any ``--dr-*`` option, a ``dr_*``
ini key, a targets file in the rootdir: configure time) or DR tests are collected (a test marked
``dr_criterion`` or using the DR fixtures). A pytest run without either looks exactly as if the
plugin were not installed. No DR logic here.
"""

from __future__ import annotations

import os

import pytest

from . import domain_fixtures, fixtures, gate_reads, session
from .criteria_marks import is_dr_test
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


DR_INI_KEYS = ("dr_target", "dr_config", "dr_ledger", "dr_scorecard")
_RESERVED_RUN_DIR = pytest.StashKey[object]()


def dr_requested(config: pytest.Config) -> bool:
    """DR options are present: a --dr-* option given, a dr_* ini key set, or a targets file in the rootdir."""
    defaults = {"dr_allow_restore": False, "dr_strict_coverage": False}
    if any(getattr(config.option, dest, None) not in (None, defaults.get(dest))
           for dest in vars(config.option) if dest.startswith("dr_")):
        return True
    if any(config.getini(key) for key in DR_INI_KEYS):
        return True
    if not any((config.rootpath / name).is_file() for name in ("kosmos-dr.toml", "pyproject.toml")):
        return False  # no targets file can be there: the config modules stay unloaded
    from .config import find_config

    try:
        found, _ = find_config(config.rootpath)
    except Exception:  # noqa: BLE001 - an unreadable targets file is a DR project: the run reports it
        return True
    return found is not None


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if config.option.help:
        return
    config.pluginmanager.register(fixtures, "kosmos_dr.fixtures")  # inert until a test asks for one
    config.pluginmanager.register(domain_fixtures, "kosmos_dr.domain_fixtures")
    config.pluginmanager.register(gate_reads, "kosmos_dr.gate_reads")
    if dr_requested(config):
        session.activate(config)
    elif config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistWiring(config), "kosmos_dr.xdist")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """No DR options, but DR tests were collected: the DR plugin acts for this run from here on."""
    if session.dr_plugin(config) is None and any(is_dr_test(item) for item in items):
        plugin = session.activate(config)  # an xdist worker: in the folder its controller reserved
        plugin.pytest_collection_modifyitems(config, items)  # registered during this very hook call


class _XdistWiring:
    """xdist controller without DR options: the workers collect, so the controller cannot know yet
    whether DR tests run. It reserves a run folder name (created only by a worker that runs DR tests,
    where the shared sandbox then lives), and takes the run over when the first DR report arrives."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        config = node.config
        if session.dr_plugin(config) is not None:
            return  # the DR plugin hands out its own run folder
        from .run import OWNER_PID_KEY, RUN_DIR_KEY, reserve_run_dir

        if _RESERVED_RUN_DIR not in config.stash:
            config.stash[_RESERVED_RUN_DIR] = reserve_run_dir()
        node.workerinput[RUN_DIR_KEY] = str(config.stash[_RESERVED_RUN_DIR])
        node.workerinput[OWNER_PID_KEY] = os.getpid()

    @pytest.hookimpl(tryfirst=True)  # before the terminal reporter shows the report's status letter
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        config = self.config
        if getattr(report, "dr_test", False) and session.dr_plugin(config) is None:
            plugin = session.activate(config, run_dir=config.stash.get(_RESERVED_RUN_DIR, None))
            plugin.reporting.pytest_runtest_logreport(report)  # registered during this very hook call

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        reserved = config.stash.get(_RESERVED_RUN_DIR, None)
        if session.dr_plugin(config) is None and reserved is not None and reserved.exists():
            from .run import DRRun

            DRRun(config, run_dir=reserved).close()  # a worker used it, no DR report came: stop what it started
