"""``kosmos-dr doctor`` looks at every prerequisite for real and prints the command that fixes each."""

from __future__ import annotations

import os
import stat

from pytest_kosmos_dr import doctor


def _fake(folder, name, output="1.0", code=0):
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{output}'\nexit {code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_missing_tools_are_named_with_their_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    monkeypatch.setenv("KOSMOS_DR_ALLURE_HOME", str(tmp_path / "allure"))
    assert doctor.doctor_command() == 1
    out = capsys.readouterr().out
    assert "MISSING kubectl" in out.replace("  ", " ") or "MISSING kubectl" in " ".join(out.split())
    assert "apt-get install -y git" in out and "kosmos-dr report --install" in out
    assert "required prerequisite(s) missing" in out
    assert "warn" in out  # chromium and the aws CLI are optional: warned, not required


def test_an_old_kubectl_is_not_enough(tmp_path, monkeypatch):
    _fake(tmp_path, "kubectl", '{"clientVersion": {"gitVersion": "v1.19.3"}}')
    monkeypatch.setenv("PATH", str(tmp_path))
    found = doctor.kubectl()
    assert not found.ok and "v1.19" in found.detail and "need v1.26+" in found.detail and "dl.k8s.io" in found.fix


def test_a_long_tmpdir_is_measured(tmp_path, monkeypatch):
    deep = tmp_path / ("x" * 90)
    deep.mkdir()
    monkeypatch.setenv("TMPDIR", str(deep))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    found = doctor.socket_paths()
    assert "falls back to /tmp" in found.detail or not found.ok
    assert str(len(os.fsencode(str(deep))) + doctor.SOCKET_TAIL) in found.detail


def test_this_machine_is_ready():
    """CI installs every prerequisite (.ci/run): doctor must agree, or a test elsewhere would be skipped silently."""
    missing = [f"{f.name}: {f.detail}" for f in doctor.findings() if f.required and not f.ok]
    assert not missing, missing
