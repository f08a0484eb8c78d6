"""Evidence files and ledger input never crash the run (issue 15 item 10): any bytes give a record,
one clear line naming the problem, or "could not verify" — never another exception."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_kosmos_dr import incident_record, ledger
from pytest_kosmos_dr.errors import DRConfigError

CLI = [sys.executable, "-m", "pytest_kosmos_dr.cli"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(["2025-12-13T09:12:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                                     "2025-13-45T99:99:99Z", "\u2028", "", "nan"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=12), inner, max_size=5)),
                    max_leaves=25)
RECORD_KEYS = ["version", "incident", "paging", "declaration", "updates", "customer_email", "resolution",
               "postmortem", "start", "at", "to", "channel", "status"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(body=st.one_of(JSON, st.dictionaries(st.sampled_from(RECORD_KEYS), JSON, max_size=8)))
def test_any_evidence_json_is_a_record_or_one_line(tmp_path, body):
    path = tmp_path / "incident.json"
    path.write_text(json.dumps(body, allow_nan=True))
    try:
        incident_record.load(path)
    except DRConfigError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc), str(exc)


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_any_evidence_bytes_are_one_line(tmp_path, raw):
    path = tmp_path / "incident.json"
    path.write_bytes(raw)
    with pytest.raises(DRConfigError) as raised:
        incident_record.load(path)
    assert "\n" not in str(raised.value)


def test_deeply_nested_evidence_is_one_line(tmp_path):
    path = tmp_path / "incident.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DRConfigError) as raised:
        incident_record.load(path)
    assert "\n" not in str(raised.value)


@SETTINGS
@given(lines=st.lists(st.one_of(st.text(max_size=80), JSON.map(lambda v: json.dumps(v, allow_nan=True))),
                      max_size=6))
def test_any_ledger_file_reads_as_problems_never_a_crash(tmp_path, lines):
    path = tmp_path / "drill-ledger.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass") if all(
        "\ud800" > c or c > "\udfff" for line in lines for c in line) else path.write_bytes(b"\xff")
    try:
        loaded = ledger.load(path, key=None)
    except ledger.LedgerError as exc:
        assert "\n" not in str(exc)
        return
    assert all("\n" not in p for p in loaded.problems)
    if lines and any(line.strip() for line in lines):
        assert loaded.problems or loaded.entries  # something was read or something was wrong


@SETTINGS
@given(field=st.sampled_from(["by", "ref", "note", "target"]),
       value=st.one_of(st.text(max_size=40), st.sampled_from(["\x1b[2J\x1b[H", "line\nbreak", "sep\u2028x",
                                                              "", " ", "a" * 5000, "\x00"])))
def test_any_manual_ledger_value_is_recorded_safely_or_one_line(tmp_path, field, value):
    entry = {"kind": "tabletop", "at": "2025-06-01T10:00:00Z", "target": "sandbox", "source": "manual",
             "by": "J. Doe", "ref": "INC-1", "note": "ran it"}
    entry[field] = value
    path = tmp_path / "drill-ledger.jsonl"
    try:
        written = ledger.append(path, entry, key=None)
    except DRConfigError as exc:
        assert "\n" not in str(exc) and field in str(exc), str(exc)
        return
    for text in (written.get("by"), written.get("ref"), written.get("note"), written.get("target")):
        assert text is None or not any(ord(c) < 32 or c in "\x7f\u2028\u2029\x85" for c in text), (
            f"{field}: a control character reached the ledger: {text!r}")
    assert not ledger.load(path, key=None).problems


@pytest.mark.parametrize("value", ["\x1b[31mFAKE PASS\x1b[0m", "a\nb", "x\u2028y", ""])
def test_ledger_record_cli_refuses_control_characters_in_one_line(tmp_path, value):
    done = subprocess.run([*CLI, "ledger", "record", "tabletop", "--ledger", str(tmp_path / "l.jsonl"), "--by", value,
                           "--ref", "INC-1", "--date", "2025-06-01"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr  # the CLI's "bad input" (pytest's is 4)
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "l.jsonl").exists() or "FAKE" not in (tmp_path / "l.jsonl").read_text()
