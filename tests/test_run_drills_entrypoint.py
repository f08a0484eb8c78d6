"""The CronJob's entrypoint (deploy/container/run-drills.sh): a SIGTERM (activeDeadlineSeconds, node
drain, kubectl delete) must reach pytest as an interruption, so the drills' finalizers remove what
they created before the kubelet's SIGKILL, and the job ends non-zero."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[1] / "deploy" / "container" / "run-drills.sh"
POLL_BOUND_S = 60  # generous bound for polling, not a duration under test

SLEEPING_DRILL = """
import os
import time
from pathlib import Path

import pytest

MARKS = Path(os.environ["DRILL_MARKS"])


@pytest.fixture
def restored_instance():
    (MARKS / "instance-created").write_text("")
    yield
    (MARKS / "instance-removed").write_text("")  # the drill's cleanup


def test_restore_drill(restored_instance):
    (MARKS / "drill-running").write_text("")
    time.sleep(600)
    (MARKS / "drill-completed").write_text("")
"""


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    end = time.monotonic() + POLL_BOUND_S
    while not path.exists():
        if process.poll() is not None or time.monotonic() > end:
            out, err = process.communicate(timeout=10) if process.poll() is not None else ("", "")
            pytest.fail(f"the drill never started (exit {process.returncode}): {err[-2000:]}")
        time.sleep(0.05)


@pytest.fixture
def entrypoint_run(tmp_path):
    """The entrypoint with `python -m pytest` running one sleeping drill (its args ignored)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    drill = tmp_path / "drill_suite.py"
    drill.write_text(SLEEPING_DRILL)
    fake = bin_dir / "python"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "pytest" ]; then\n'
        f'  exec "{sys.executable}" -m pytest "{drill}" -q -p no:cacheprovider -p no:kosmos_dr\n'
        "fi\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    fake.chmod(0o755)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KUBERNETES_"))}
    env.update(PATH=f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}", DR_TARGET="dr-cluster",
               REPORTS_DIR=str(tmp_path / "reports"), RESULTS_BUCKET="", DRILL_MARKS=str(marks))
    process = subprocess.Popen(["bash", str(ENTRYPOINT)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        yield process, marks
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_sigterm_interrupts_pytest_so_drill_cleanup_runs_and_job_fails(entrypoint_run):
    process, marks = entrypoint_run
    _wait_for(marks / "drill-running", process)
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=POLL_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail("the entrypoint kept running after SIGTERM: pytest never saw the interruption")
    assert (marks / "instance-removed").exists(), f"the drill's cleanup did not run: {err[-2000:]}"
    assert not (marks / "drill-completed").exists()
    assert process.returncode == 2, (process.returncode, err[-2000:])  # pytest's "interrupted"
    assert "terminating: interrupting pytest" in err
    assert "pytest exit code 2" in err

