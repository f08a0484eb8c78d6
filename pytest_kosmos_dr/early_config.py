"""The configuration repository's clone and rendering, started as the session starts.

At a real network's round trip a gate run's longest chain begins with the configuration: a clone of the
production branch, ``kubectl kustomize``, then the server-side dry run. Before the first test, pytest's
start and collection take ~0.4 s of one core while the machine's others wait; the plan's commands and the
reads against the DR environment must wait for collection (a deselected test's must not run), but the
clone and the rendering are local reads of the configuration. When the run's paths include the shipped
configuration suite, they start at the session's start (a thread, then a ``kubectl kustomize`` child), and
the run's reads take them over (``fixtures._start_config_checkout``); if no selected test needs them they
are dropped when the session ends (the clone is in the run's folder and goes with it).

Not started: in an xdist worker or controller (each worker makes its own reads), for ``--collect-only``, for
a run of several targets, and for a sandbox target whose sandbox is not already running (nothing is started
before collection)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .run import TargetRun

CONFIGURATION_SUITE = Path("suites") / "test_configuration.py"
CLOSE_WAIT_S = 60.0  # at the session's end, for a clone still running (git's own timeout bounds it)


class EarlyConfig:
    """The clone (in a thread), then the rendering (a ``KubectlJob``) of one target's configuration."""

    def __init__(self, environment, target, dest: Path) -> None:
        self._environment, self._target, self._dest = environment, target, dest
        self._checkout = None
        self._render = None
        self._error: BaseException | None = None
        self._closed = False
        self._lock = threading.Lock()  # the rendering started, or the whole dropped: never both at once
        self._thread = threading.Thread(target=self._run, name="kosmos-dr-early-config", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from .checks.configuration import start_render
        from .fixtures import _clone_config

        try:
            checkout = _clone_config(self._environment, self._target, self._dest)
            with self._lock:
                self._checkout = checkout
                if not self._closed and checkout.path is not None:
                    self._render = start_render(checkout, self._target.config_repo.overlay)
        except BaseException as exc:  # noqa: BLE001 - raised where the run takes the clone
            self._error = exc

    def checkout(self):
        """The clone, as ``fixtures._clone_config`` returns it (its error raised here)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._checkout

    def take_render(self):
        """The rendering's ``KubectlJob``, once (None: not started, or already taken); the taker owns it."""
        self._thread.join()
        with self._lock:
            render, self._render = self._render, None
        return render

    def close(self) -> None:
        """At the session's end: a rendering nobody took is killed, a clone still running waited for."""
        with self._lock:
            self._closed = True
            render, self._render = self._render, None
        if render is not None:
            render.kill()
        self._thread.join(CLOSE_WAIT_S)


def _names_configuration_suite(config: pytest.Config) -> bool:
    """The run's paths include the shipped configuration suite (itself, or a folder holding it)."""
    module = (config.rootpath / CONFIGURATION_SUITE).resolve()
    if not module.is_file():
        return False
    for arg in config.args:
        path = Path(str(arg).split("::")[0])
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        try:
            path = path.resolve()
        except OSError:
            continue
        if path == module or path in module.parents:
            return True
    return False


def start(config: pytest.Config, target_run: "TargetRun") -> EarlyConfig | None:
    """Start the clone and rendering for ``target_run`` when the run is one that reads them (see above)."""
    if hasattr(config, "workerinput") or config.getoption("dist", "no") != "no" or config.option.collectonly:
        return None
    if not _names_configuration_suite(config):
        return None
    try:
        environment = target_run.environment_if_running()
        if environment is None or not environment.config_repo_url:
            return None
        from .fixtures import _checkout_dest

        early = EarlyConfig(environment, target_run.target, _checkout_dest(target_run))
    except Exception:  # noqa: BLE001 - the run's own reads meet the same problem and report it
        return None
    target_run.early_config = early
    config.add_cleanup(early.close)
    return early
