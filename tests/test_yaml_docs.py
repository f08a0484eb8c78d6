"""YAML read by libyaml's parser gives what ``yaml.safe_load`` gives, and stays safe."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pytest_kosmos_dr import yaml_docs
from pytest_kosmos_dr.sandbox.config_repo import KUSTOMIZE_SOURCE

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: dr
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: "LS0t"}
contexts:
- name: dr-cluster
  context: {cluster: dr, user: sre, namespace: kosmos}
current-context: dr-cluster
users:
- name: sre
  user: {token: "not-a-real-token", exec: null}
"""


def test_libyaml_parses_when_pyyaml_has_it():
    assert yaml_docs.SafeLoader is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def test_a_kubeconfig_reads_the_same():
    assert yaml_docs.load(KUBECONFIG) == yaml.safe_load(KUBECONFIG)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the overlay")
def test_the_rendered_production_overlay_reads_the_same():
    overlay = KUSTOMIZE_SOURCE / "overlays" / "production"
    rendered = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=60,
                              check=True).stdout
    assert rendered.count("\nkind: ") >= 5
    assert list(yaml_docs.load_all(rendered)) == list(yaml.safe_load_all(rendered))


def test_every_sandbox_manifest_reads_the_same():
    files = sorted(Path(KUSTOMIZE_SOURCE).rglob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        assert list(yaml_docs.load_all(text)) == list(yaml.safe_load_all(text)), path


def test_python_tags_are_refused_as_by_safe_load():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml_docs.load("!!python/object/apply:os.system ['true']")
    with pytest.raises(yaml.YAMLError):
        list(yaml_docs.load_all("a: [1, 2\nb: 3\n"))
