"""The README's first install command: scripts/install-prerequisites.sh installs only what is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install-prerequisites.sh"
TOOLS = ("sh", "ls", "id", "env", "echo", "python3", "psql", "curl", "dig", "git", "unshare", "chromium", "java",
         "npm", "aws", "kubectl", "useradd", "mkdir", "ln", "dirname")


def _bin_without(tmp_path: Path, missing: set[str]) -> Path:
    """A PATH folder holding the machine's tools except ``missing``, and an apt-get that records its call."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS:
        found = sys.executable if tool == "python3" else shutil.which(tool)  # pyenv's shim needs bash
        if found and tool not in missing:
            (folder / tool).symlink_to(os.path.realpath(found))
    (folder / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/apt-calls\n')
    (folder / "apt-get").chmod(0o755)
    return folder


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("apt-get"), reason="the CI machine's case: root on Debian")
def test_installs_only_what_is_missing(tmp_path):
    present = [t for t in ("dig", "curl", "git", "psql", "unshare") if shutil.which(t)]
    if len(present) < 5:
        pytest.skip("this machine lacks a prerequisite already")
    folder = _bin_without(tmp_path, {"dig"})
    result = subprocess.run(["sh", str(SCRIPT), "--no-report"], env={"PATH": str(folder), "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt-calls").read_text().splitlines()
    assert calls[-1].split()[-1] == "bind9-dnsutils" and "install" in calls[-1]
    assert not any(package in calls[-1] for package in ("postgresql ", "curl", " git", "chromium"))


@pytest.mark.skipif(os.geteuid() != 0, reason="root: nothing missing, nothing installed")
def test_nothing_missing_runs_no_apt(tmp_path):
    folder = _bin_without(tmp_path, set())
    if any(not (folder / t).exists() for t in ("dig", "curl", "git", "psql", "unshare", "chromium", "java", "npm", "aws")):
        pytest.skip("this machine lacks a prerequisite already")
    result = subprocess.run(["sh", str(SCRIPT)], env={"PATH": str(folder), "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "apt-calls").exists()
    assert "kosmos-dr doctor" in result.stdout


def test_a_user_without_sudo_gets_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("needs a non-root user")
    folder = _bin_without(tmp_path, {"sudo"})
    result = subprocess.run(["sh", str(SCRIPT)], env={"PATH": str(folder)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0 and "run it as root" in result.stderr
