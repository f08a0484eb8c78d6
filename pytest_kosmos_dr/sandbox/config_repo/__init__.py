"""The KOSMOS configuration repository: kustomize source turned into a local Git repository.

The DR cluster's workloads are the rendering of ``overlays/production`` on branch ``production``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

KUSTOMIZE_SOURCE = Path(__file__).with_name("kustomize")
PRODUCTION_BRANCH = "production"
PRODUCTION_OVERLAY = "overlays/production"
GIT_TIMEOUT_S = 20

_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "KOSMOS Platform",
    "GIT_AUTHOR_EMAIL": "platform@kosmos.internal",
    "GIT_COMMITTER_NAME": "KOSMOS Platform",
    "GIT_COMMITTER_EMAIL": "platform@kosmos.internal",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **_GIT_IDENTITY, "HOME": str(repo)}
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        check=True,
    )
    return done.stdout.strip()


def create_config_repo(dest: Path) -> Path:
    """Copy the kustomize source to ``dest`` and commit it on branch ``production``.

    Returns ``dest``. An existing ``dest`` is replaced.
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(KUSTOMIZE_SOURCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    _git(dest, "init", "--quiet", "--initial-branch", PRODUCTION_BRANCH)
    _git(dest, "config", "user.name", _GIT_IDENTITY["GIT_AUTHOR_NAME"])
    _git(dest, "config", "user.email", _GIT_IDENTITY["GIT_AUTHOR_EMAIL"])
    _git(dest, "add", "--all")
    _git(dest, "commit", "--quiet", "--message", "KOSMOS production configuration")
    return dest


def head_commit(repo: Path) -> str:
    """The commit ``production`` points at."""
    return _git(Path(repo), "rev-parse", PRODUCTION_BRANCH)
