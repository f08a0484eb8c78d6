"""The KOSMOS configuration repository: kustomize source turned into a local Git repository.

The DR cluster's workloads are the rendering of ``overlays/production`` on branch ``production``.
The repository follows the sandbox layout: the overlay's ``namespace:`` is the layout's namespace, and
``extras/`` lists the Ingress plus the layout's ``extra_overlay_kinds`` (one file per kind).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ... import yaml_docs

if TYPE_CHECKING:
    from ..layout import Layout

KUSTOMIZE_SOURCE = Path(__file__).with_name("kustomize")
PRODUCTION_BRANCH = "production"
PRODUCTION_OVERLAY = "overlays/production"
GIT_TIMEOUT_S = 20
OVERLAY_KUSTOMIZATION = f"{PRODUCTION_OVERLAY}/kustomization.yaml"
EXTRAS = "extras"
ALWAYS_EXTRA = ("Ingress",)  # every layout's overlay renders the API's Ingress (a kind beyond the workloads)

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


def extra_kinds(layout: "Layout | None" = None) -> tuple[str, ...]:
    """The kinds ``extras/`` renders for ``layout``: the Ingress, then the layout's ``extra_overlay_kinds``."""
    return tuple(dict.fromkeys((*ALWAYS_EXTRA, *(layout.extra_overlay_kinds if layout else ()))))


def extra_file(kind: str) -> str:
    """``extras/<kind>.yaml`` (lower case), the source of one extra kind."""
    path = KUSTOMIZE_SOURCE / EXTRAS / f"{kind.lower()}.yaml"
    if not path.is_file():
        raise ValueError(f"the sandbox's configuration repository has no {kind} (no {path.name} in {EXTRAS}/)")
    return path.name


def overlay_kustomization(namespace: str) -> str:
    """``overlays/production/kustomization.yaml`` with ``namespace:`` set to ``namespace``."""
    text = (KUSTOMIZE_SOURCE / OVERLAY_KUSTOMIZATION).read_text()
    document = yaml_docs.load(text)
    return text.replace(f"namespace: {document['namespace']}\n", f"namespace: {namespace}\n", 1)


def create_config_repo(dest: Path, layout: "Layout | None" = None) -> Path:
    """Copy the kustomize source to ``dest``, rendering ``layout``'s namespace and extra kinds (default: the
    default layout), and commit it on branch ``production``.

    Returns ``dest``. An existing ``dest`` is replaced.
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(KUSTOMIZE_SOURCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    if layout is not None:
        (dest / OVERLAY_KUSTOMIZATION).write_text(overlay_kustomization(layout.namespace))
        extras = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                  "resources": [extra_file(kind) for kind in extra_kinds(layout)]}
        (dest / EXTRAS / "kustomization.yaml").write_text(yaml.safe_dump(extras, sort_keys=False))
    _git(dest, "init", "--quiet", "--initial-branch", PRODUCTION_BRANCH)
    _git(dest, "config", "user.name", _GIT_IDENTITY["GIT_AUTHOR_NAME"])
    _git(dest, "config", "user.email", _GIT_IDENTITY["GIT_AUTHOR_EMAIL"])
    _git(dest, "add", "--all")
    _git(dest, "commit", "--quiet", "--message", "KOSMOS production configuration")
    return dest
