"""The fidelity suite: real clients against one sandbox, each answer held to the real system's.

Each entry of commands.toml runs with ``bash -c`` in a scratch folder, with sandbox.env's variables and
a few taken from sandbox.json (the DNS server, the zone, the newest agent archive ...). An entry with
``known_gap`` is a strict xfail: when the gap closes the test fails until the entry says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pytest_kosmos_dr.plan_commands import sandbox_checkout
from pytest_kosmos_dr.sandbox import manager

from .catalog import Command, load, mismatches

COMMANDS = load()
pytestmark = [pytest.mark.xdist_group("fidelity"),  # one sandbox, in file order (entries build on earlier ones)
              pytest.mark.slow]  # a sandbox of its own
COMMAND_TIMEOUT_S = 180
REQUIRED = {"kubectl": "kubectl", "aws": "aws", "psql": "psql", "curl": "curl", "dig": "dig", "script": "bash"}


@pytest.fixture(scope="module")
def fidelity_sandbox():
    """A sandbox of its own (the list restores databases and copies into pods), stopped at the end."""
    state_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-fidelity-"))
    running, _ = manager.start(state_dir, owner_pid=os.getpid())
    try:
        yield running
    finally:
        manager.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def command_env(running) -> dict[str, str]:
    """sandbox.env's variables and the ones the list takes from sandbox.json."""
    env = {}
    for line in running.env_file.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'")
    state = running.state
    aws, dns = state["aws"], state["dns"]
    secondary = aws["secondary_region"]
    env.update(
        DNS_HOST=dns["host"], DNS_PORT=str(dns["port"]), API_RECORD=dns["api_name"],
        ZONE_ID=aws["route53"]["zone_id"], DR_HEALTH_CHECK=aws["route53"]["health_checks"][secondary],
        AGENT_ARCHIVE=aws["s3"]["newest"]["zeus-orchestrator"], CONFIG_REPO=state["kubernetes"]["config_repo"],
        KOSMOS_CHECKOUT=str(sandbox_checkout()), DATASOURCE=state["grafana"]["datasource_uid"],
        SERIES='probe_success{job="kosmos-api"}',
    )
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fidelity")


def _param(command: Command):
    marks = [pytest.mark.xfail(reason=command.known_gap, strict=True)] if command.known_gap else []
    return pytest.param(command, id=command.id, marks=marks)


@pytest.mark.parametrize("command", [_param(c) for c in COMMANDS])
def test_behaves_as_real(fidelity_sandbox, workdir, command: Command):
    tool = REQUIRED[command.client]
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    env = {**os.environ, **command_env(fidelity_sandbox), "PAGER": "cat", "AWS_PAGER": ""}
    env["PATH"] = f"{Path(os.sys.executable).parent}:{env.get('PATH', '')}"  # `python` is the project's
    folder = workdir / command.id
    folder.mkdir()
    done = subprocess.run(["bash", "-c", command.command], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL)
    problems = mismatches(command, done.returncode, done.stdout, done.stderr)
    assert not problems, (f"{command.id}: {command.command}\nreal: {command.real}\nsandbox: " + "; ".join(problems)
                          + f"\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
