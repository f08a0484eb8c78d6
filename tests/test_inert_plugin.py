"""Do nothing unless asked: with the plugin installed, a pytest run without DR tests or DR options
looks exactly as if the plugin were not installed (no "B" letter, no "could not verify" section, no
DR run folder, no scorecard, no header line, the same exit code), and in a run mixing DR and plain
tests only the DR tests are classified failed or broken."""

import re

import pytest

PLAIN_PROJECT = """
def test_wrong_sum():
    assert 1 + 1 == 3

def test_disk_gone():
    raise OSError("disk gone")

def test_fine():
    pass
"""

MIXED_PROJECT = """
import pytest

@pytest.mark.dr_criterion("VAL-API-HEALTH")
def test_dr_check_could_not_look():
    raise OSError("connection reset")

def test_plain_disk_gone():
    raise OSError("disk gone")
"""

_TIMING = re.compile(r"\bin \d+\.\d+s( \([0-9:]+\))?")
_RULE = re.compile(r"^=+ (.*) =+$")  # the padding follows the timing's width
_PROGRESS = re.compile(r"^([.FEsxXB]+)(\s+\[\s*\d+%\])$")


def _normalised(lines: list[str], workers: bool = False) -> list[str]:
    """Timing and pytest's own list of installed plugin distributions are all that may differ
    (and, under xdist, which worker ran a test and in which order the letters arrive)."""
    out = []
    for line in lines:
        line = _RULE.sub(r"= \1 =", _TIMING.sub("in <t>", line))
        if workers:
            line = re.sub(r"\[gw\d+\]", "[gw]", line)
            line = _PROGRESS.sub(lambda m: "".join(sorted(m.group(1))) + m.group(2), line)
        if line.startswith("plugins: "):
            names = line.removeprefix("plugins: ").split(", ")
            line = "plugins: " + ", ".join(n for n in names if not n.startswith("kosmos-dr-"))
        out.append(line)
    return out


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *args)


def _dr_leftovers(pytester: pytest.Pytester, tmp: str) -> list[str]:
    from pathlib import Path

    return sorted(p.name for p in Path(tmp).glob("kosmos-dr-run-*")) + \
        sorted(str(p) for p in pytester.path.rglob("*") if "scorecard" in p.name or p.name == "reports")


@pytest.mark.parametrize("workers", [[], pytest.param(["-n", "2"], marks=pytest.mark.slow)], ids=["one-process", "xdist"])
def test_a_plain_project_looks_as_if_the_plugin_were_not_installed(pytester, tmp_path, monkeypatch, workers):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # where a DR run folder would appear
    pytester.makepyfile(test_plain=PLAIN_PROJECT)
    without = _run(pytester, "-p", "no:kosmos_dr", *workers)
    with_plugin = _run(pytester, *workers)
    assert with_plugin.ret == without.ret == pytest.ExitCode.TESTS_FAILED
    text = "\n".join(with_plugin.outlines)
    assert "BROKEN" not in text and "could not verify" not in text and "kosmos-dr:" not in text
    assert "2 failed, 1 passed" in with_plugin.outlines[-1]
    if not workers:  # xdist prints results in the order the workers finish them
        assert _normalised(with_plugin.outlines) == _normalised(without.outlines)
        assert with_plugin.errlines == without.errlines
    else:
        assert _normalised(with_plugin.outlines[-1:]) == _normalised(without.outlines[-1:])
        assert sorted(_normalised(with_plugin.outlines, True)) == sorted(_normalised(without.outlines, True))
    assert _dr_leftovers(pytester, str(tmp)) == []


def test_in_a_mixed_run_only_the_dr_test_is_broken(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    pytester.makepyfile(test_mixed=MIXED_PROJECT)
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["BROKEN test_mixed.py::test_dr_check_could_not_look - *could not verify*"])
    result.stdout.fnmatch_lines(["FAILED test_mixed.py::test_plain_disk_gone - OSError: disk gone"])
    assert "BROKEN test_mixed.py::test_plain_disk_gone" not in result.stdout.str()
    assert "1 failed, 1 broken" in result.outlines[-1]
    assert not list(tmp_path.glob("kosmos-dr-run-*"))  # the run folder is removed at the end, as always
