"""Bad input of any shape is one clear line (DRConfigError -> exit 4), never an INTERNALERROR or a
traceback: property-based over the targets file's values and the option parsers (issue 15, item 10)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_kosmos_dr.config import _build_target
from pytest_kosmos_dr.errors import DRConfigError
from pytest_kosmos_dr.target import Target
from pytest_kosmos_dr.timeparse import parse_duration, parse_instant

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=40) | st.sampled_from(["", "0s", "-5m", "15m", "99999999999999999999d", "nan",
                                                     "a\u2028b", "../../etc/passwd", "x\x00y"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=12), inner, max_size=3), max_leaves=12)
SECTIONS = ("objectives", "database", "timeouts", "aws", "backups", "kubernetes", "endpoints", "agents",
            "config_repo", "kind", "production", "description", "nope")
FIELDS = ("rto", "rpo", "availability", "max_restarts", "port", "statement_timeout", "connect", "converge",
          "host", "name", "profile", "bucket", "zeus-orchestrator", "nope")


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=20), section=st.sampled_from(SECTIONS), field=st.sampled_from(FIELDS), value=VALUES)
def test_any_targets_file_value_is_a_target_or_one_clear_line(name, section, field, value):
    body = {section: {field: value}} if section not in ("kind", "production", "description") else {section: value}
    try:
        target = _build_target("kosmos-dr.toml", name, body)
    except DRConfigError as exc:
        text = str(exc)
        assert text.startswith("kosmos-dr.toml: ") and "\n" not in text.rstrip("\n"), text
        return
    assert isinstance(target, Target)
    assert 0 < target.objectives.availability <= 100 and math.isfinite(target.objectives.availability)
    assert target.objectives.max_restarts >= 0 and target.database.statement_timeout.total_seconds() > 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_duration_or_time_text_parses_or_is_a_value_error(text):
    for parse in (parse_duration, parse_instant):
        try:
            parse(text)
        except ValueError:
            pass


@pytest.mark.parametrize(("body", "message"), [
    ({"objectives": {"availability": float("nan")}}, "objectives.availability: expected a number above 0.0 up to 100.0"),
    ({"objectives": {"availability": 150}}, "objectives.availability: expected a number above 0.0 up to 100.0"),
    ({"objectives": {"max_restarts": -1}}, "objectives.max_restarts: expected a number from 0"),
    ({"database": {"statement_timeout": "0s"}}, "database.statement_timeout: must be longer than 0 s"),
    ({"objectives": {"rto": "99999999999999d"}}, "objectives.rto: '99999999999999d' is longer than 3660 days"),
    ({"database": {"host": "db\u2028evil"}}, "database.host: contains a line break or control character"),
])
def test_values_out_of_their_range_are_refused_with_the_key(body, message):
    with pytest.raises(DRConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        _build_target("kosmos-dr.toml", "t", body)


@pytest.mark.parametrize("name", ["", "../x", "a/b", "x\u2028y", "-lead", "a" * 64, "sp ace"])
def test_target_names_that_cannot_be_file_names_are_refused(name):
    with pytest.raises(DRConfigError, match="expected 1-63 letters"):
        _build_target("kosmos-dr.toml", name, {})


def test_an_empty_target_option_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_inprocess("--dr-target", "")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --dr-target '': name a target*"])


def test_a_config_file_that_is_not_utf8_or_too_deep_is_one_line(pytester):
    pytester.path.joinpath("kosmos-dr.toml").write_bytes(b"\xff\xfe[targets]")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *kosmos-dr.toml: not UTF-8 text*"])
    pytester.path.joinpath("kosmos-dr.toml").write_text("x = " + "[" * 5000 + "]" * 5000)
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stderr.str() and "INTERNALERROR" not in result.stdout.str()
