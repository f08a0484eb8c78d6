"""The configuration's clone and rendering started with the session (``early_config``): when they start,
and that the run's reads take them over, or they are dropped (an untaken rendering killed) at the end."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_kosmos_dr import early_config, fixtures
from pytest_kosmos_dr.checks import configuration
from pytest_kosmos_dr.clients.kube import KubectlJob
from pytest_kosmos_dr.errors import DRUnverifiable


def fake_config(root: Path, args, *, collectonly=False, dist="no", worker=False):
    config = SimpleNamespace(rootpath=root, args=list(args), invocation_params=SimpleNamespace(dir=root),
                             option=SimpleNamespace(collectonly=collectonly), cleanups=[])
    config.getoption = lambda name, default=None: dist if name == "dist" else default
    config.add_cleanup = config.cleanups.append
    if worker:
        config.workerinput = {}
    return config


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_configuration.py").write_text("")
    (tmp_path / "suites" / "test_other.py").write_text("")
    return tmp_path


@pytest.mark.parametrize(("args", "named"), [
    (["suites"], True), (["suites/"], True), (["."], True), (["suites/test_configuration.py"], True),
    (["suites/test_configuration.py::test_x"], True), (["suites/test_other.py"], False), (["tests"], False),
])
def test_it_starts_for_runs_whose_paths_hold_the_configuration_suite(repo, args, named):
    assert early_config._names_configuration_suite(fake_config(repo, args)) is named


class Clones:
    """``fixtures._clone_config`` and ``configuration.start_render`` stood in for: a clone that waits for
    ``go`` and a rendering that is a real child process (so killing it can be seen)."""

    def __init__(self, monkeypatch, fail=None):
        self.go, self.made, self.renders = threading.Event(), [], []

        def clone(environment, target, dest):
            assert self.go.wait(10)
            if fail:
                raise fail
            self.made.append(dest)
            return SimpleNamespace(path=dest, branch="production")

        def render(checkout, overlay):
            job = KubectlJob([sys.executable, "-c", "import time; time.sleep(30)"])
            self.renders.append(job)
            return job

        monkeypatch.setattr(fixtures, "_clone_config", clone)
        monkeypatch.setattr(configuration, "start_render", render)


def target_run(tmp_path, environment):
    target = SimpleNamespace(config_repo=SimpleNamespace(overlay="overlays/production", branch="production"))
    return SimpleNamespace(run_dir=tmp_path / "run", target=target, early_config=None,
                           environment_if_running=lambda: environment)


ENVIRONMENT = SimpleNamespace(config_repo_url="file:///config-repo")


def test_the_run_takes_the_clone_and_the_rendering_once(repo, tmp_path, monkeypatch):
    clones = Clones(monkeypatch)
    run, config = target_run(tmp_path, ENVIRONMENT), fake_config(repo, ["suites"])
    early = early_config.start(config, run)
    assert run.early_config is early and config.cleanups == [early.close]
    clones.go.set()
    checkout = fixtures._configuration_clone(run, ENVIRONMENT, run.target)  # what the config_checkout read does
    assert checkout.path == clones.made[0] and len(clones.made) == 1
    render = early.take_render()
    assert render is clones.renders[0] and early.take_render() is None  # the taker owns it
    early.close()
    assert render.process.poll() is None, "a rendering the run took is not killed by the session's end"
    render.kill()


def test_a_rendering_no_test_took_is_killed_at_the_end(repo, tmp_path, monkeypatch):
    clones = Clones(monkeypatch)
    run = target_run(tmp_path, ENVIRONMENT)
    early = early_config.start(fake_config(repo, ["suites"]), run)
    clones.go.set()
    early.checkout()
    early.close()
    assert clones.renders[0].process.wait(10) is not None


def test_a_clone_that_failed_fails_where_the_run_takes_it(repo, tmp_path, monkeypatch):
    clones = Clones(monkeypatch, fail=DRUnverifiable("configuration repository", "branch production not found"))
    run = target_run(tmp_path, ENVIRONMENT)
    early = early_config.start(fake_config(repo, ["suites"]), run)
    clones.go.set()
    with pytest.raises(DRUnverifiable, match="branch production not found"):
        fixtures._configuration_clone(run, ENVIRONMENT, run.target)
    assert early.take_render() is None and not clones.renders
    early.close()


def test_a_session_ended_during_the_clone_starts_no_rendering(repo, tmp_path, monkeypatch):
    clones = Clones(monkeypatch)
    early = early_config.start(fake_config(repo, ["suites"]), target_run(tmp_path, ENVIRONMENT))
    closing = threading.Thread(target=early.close)
    closing.start()  # waits for the clone
    for _ in range(100):
        if early._closed:
            break
        threading.Event().wait(0.01)
    clones.go.set()
    closing.join(10)
    assert not closing.is_alive() and clones.made and not clones.renders


@pytest.mark.parametrize("case", ["collect-only", "xdist controller", "xdist worker", "other paths",
                                  "sandbox not running", "no configuration repository"])
def test_it_does_not_start_where_it_would_read_for_nothing_or_start_a_sandbox(repo, tmp_path, monkeypatch, case):
    Clones(monkeypatch).go.set()
    config = fake_config(repo, ["suites/test_other.py"] if case == "other paths" else ["suites"],
                         collectonly=case == "collect-only", dist="load" if case == "xdist controller" else "no",
                         worker=case == "xdist worker")
    environment = {"sandbox not running": None,
                   "no configuration repository": SimpleNamespace(config_repo_url="")}.get(case, ENVIRONMENT)
    run = target_run(tmp_path, environment)
    assert early_config.start(config, run) is None and run.early_config is None and not config.cleanups


def test_a_sandbox_target_uses_a_running_sandbox_but_never_starts_one(monkeypatch, tmp_path):
    from pytest_kosmos_dr.run import TargetRun
    from pytest_kosmos_dr.sandbox import manager

    run = TargetRun.__new__(TargetRun)
    run.target = SimpleNamespace(is_sandbox=True, sandbox=SimpleNamespace(layout="regional"))
    run._sandbox, run._may_reuse = None, True
    monkeypatch.setattr(manager, "find_running", lambda state_dir=None: None)
    monkeypatch.setattr(TargetRun, "sandbox", lambda self: pytest.fail("a sandbox was started"))
    assert run.environment_if_running() is None
    monkeypatch.setattr(manager, "find_running", lambda state_dir=None: SimpleNamespace(layout="other"))
    assert run.environment_if_running() is None  # another layout's sandbox: the run's own reports that


def test_the_shipped_configuration_suite_is_where_it_is_looked_for():
    root = Path(__file__).resolve().parent.parent
    config = fake_config(root, ["suites"])
    assert (root / early_config.CONFIGURATION_SUITE).is_file() and early_config._names_configuration_suite(config)
