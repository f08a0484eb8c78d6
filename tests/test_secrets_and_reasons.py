"""Secrets never reach an output (issue 15 item 12) and "could not verify" reads as plain words with the
criterion ID (item 8): masked reprs (``--debug``), token-only URLs, ``kosmos-dr targets``, the DR
database's lost connections, REC-CONFIG-APPLY when the cluster API refuses or hangs, and the terminal's
one-line reason for an unexpected exception."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from conftest import REPO, SUITES
from pytest_kosmos_dr.checks import configuration
from pytest_kosmos_dr.checks.configuration import ConfigCheckout
from pytest_kosmos_dr.clients import database
from pytest_kosmos_dr.config import load_config
from pytest_kosmos_dr.environment import resolve
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.outcomes import plain_words
from pytest_kosmos_dr.redaction import MASK, Secret, SecretUrl, hide_secrets, redact

GIT_TOKEN = "ghp_PlantedGitToken0042"


# -- item 12 (a): a secret is a type whose repr is masked ----------------------------------------
def test_a_secret_is_its_value_for_code_and_masked_in_every_repr():
    password = Secret("planted-Passw0rd-1")
    assert password == "planted-Passw0rd-1" and f"{password}" == "planted-Passw0rd-1" and str(password) == password
    assert "planted" not in repr(password) + repr({"p": password}) + repr([password])
    assert redact("got planted-Passw0rd-1") == f"got {MASK}"  # creating it registered it
    assert json.loads(json.dumps({"p": password})) == {"p": "planted-Passw0rd-1"}


def test_the_environment_repr_holds_no_secret():
    state = {
        "api": {"url": "http://127.0.0.1:1", "token": "planted-api-Token-1"},
        "grafana": {"url": "http://127.0.0.1:2", "token": "planted-grafana-Token-1"},
        "database": {"host": "127.0.0.1", "port": 5, "dbname": "kosmos", "user": "kosmos",
                     "password": "planted-db-Password-1"},
        "aws": {"endpoint_url": "http://127.0.0.1:3", "access_key_id": "AKIAPLANTED000000001",
                "secret_access_key": "planted-aws-Secret-1"},
        "kubernetes": {"kubeconfig": "/k", "context": "c",
                       "config_repo": f"https://{GIT_TOKEN}@git.example/kosmos/config.git"},
    }
    env = resolve(load_config(REPO, None).target("sandbox"), state)
    shown = repr(env) + str(env) + repr(state)
    for planted in ("planted-api-Token-1", "planted-grafana-Token-1", "planted-db-Password-1",
                    "AKIAPLANTED000000001", "planted-aws-Secret-1", GIT_TOKEN):
        assert planted not in shown, planted
    assert env.database.password == "planted-db-Password-1" and env.api_token == "planted-api-Token-1"
    assert env.aws_credentials["aws_secret_access_key"] == "planted-aws-Secret-1"
    assert env.config_repo_url.startswith(f"https://{GIT_TOKEN}@") and "git.example" in repr(env.config_repo_url)


def test_hide_secrets_masks_nested_secret_keys_in_place():
    state = {"a": {"password": "pw-planted-22"}, "b": [{"token": "tk-planted-22"}], "c": {"url": "u"}}
    assert hide_secrets(state) is state
    assert "planted" not in repr(state) and state["a"]["password"] == "pw-planted-22"
    assert repr(state["c"]["url"]) == "'u'"


# -- item 12 (b): userinfo in a URL, with or without a password -----------------------------------
@pytest.mark.parametrize(("text", "secret", "kept"), [
    (f"cloning https://{GIT_TOKEN}@github.com/kosmos/config.git", GIT_TOKEN, "github.com/kosmos/config.git"),
    ("https://x-access-token:planted-Pat-99@git.example/r.git", "planted-Pat-99", "x-access-token:"),
    ("postgresql://kosmos:planted-Pg-99@db:5432/kosmos", "planted-Pg-99", "db:5432/kosmos"),
])
def test_userinfo_in_a_url_is_masked_with_or_without_a_password(text, secret, kept):
    cleaned = redact(text)
    assert secret not in cleaned and MASK in cleaned and kept in cleaned


def test_a_url_without_userinfo_and_an_at_sign_in_its_path_stay_as_they_are():
    assert redact("http://host/a@b and mail ops@example.com") == "http://host/a@b and mail ops@example.com"
    assert repr(SecretUrl("https://host/r.git")) == "'https://host/r.git'"


# -- item 12 (c): kosmos-dr targets ---------------------------------------------------------------
TARGETS_WITH_CREDENTIALS = f"""
[targets.leaky]
kind = "aws"
[targets.leaky.endpoints]
api = "https://svc:planted-Api-Pass9@api.dr.example"
grafana = "https://{GIT_TOKEN}@grafana.dr.example"
[targets.leaky.config_repo]
url = "https://deploy:planted-Repo-Pass9@git.example/kosmos/config.git"
"""


def test_targets_never_prints_credentials_written_into_urls(tmp_path):
    (tmp_path / "kosmos-dr.toml").write_text(TARGETS_WITH_CREDENTIALS)
    kosmos_dr = str(Path(__import__("sys").executable).parent / "kosmos-dr")
    for args in (["targets"], ["targets", "--json"]):
        done = subprocess.run([kosmos_dr, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        out = done.stdout + done.stderr
        for planted in ("planted-Api-Pass9", "planted-Repo-Pass9", GIT_TOKEN):
            assert planted not in out, (args, planted)
        assert "git.example/kosmos/config.git" in out and "grafana.dr.example" in out
    data = json.loads(done.stdout)
    assert data["targets"]["leaky"]["config_repo"]["url"] == "https://deploy:***@git.example/kosmos/config.git"


# -- item 8: the DR database's lost connections are "could not verify" in plain words -------------
class _Conn:
    def __init__(self, exc):
        self.exc = exc

    def execute(self, *args, **kwargs):
        raise self.exc


@pytest.mark.parametrize(("exc", "words"), [
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), "server shut down"),
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), "statement timeout"),
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
     "connection lost"),
    (psycopg.OperationalError("the connection is closed"), "connection lost"),
])
def test_a_lost_database_is_could_not_verify_in_plain_words(exc, words):
    conn = database.DRConnection(_Conn(exc), "kosmos@db:5432/kosmos")
    with pytest.raises(DRUnverifiable) as raised:
        conn.execute("SELECT 1")
    text = str(raised.value)
    assert text.startswith("could not verify: DR database kosmos@db:5432/kosmos: ") and words in text
    assert "psycopg" not in text and "Error" not in text and "Shutdown" not in text


def test_an_sql_error_stays_an_sql_error():
    conn = database.DRConnection(_Conn(psycopg.errors.UndefinedTable("relation x does not exist")), "db")
    with pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("SELECT * FROM x")


def test_a_server_shutdown_of_the_real_dr_database_session_is_could_not_verify(sandbox):
    """A real AdminShutdown: the session is terminated by pg_terminate_backend from another session."""
    env = resolve(load_config(REPO, None).target("sandbox"), sandbox.state)
    target = load_config(REPO, None).target("sandbox")
    conn = database.connect_or_unverifiable(env.database, target.timeouts.connect, target.database.statement_timeout)
    try:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        with database.connect(env.database, target.timeouts.connect, target.database.statement_timeout) as other:
            assert other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        with pytest.raises(DRUnverifiable) as raised:
            conn.execute("SELECT 1").fetchone()
        text = str(raised.value)
        assert text.startswith(f"could not verify: DR database {env.database.describe()}: ")
        assert "psycopg" not in text and "AdminShutdown" not in text
        assert "shut down" in text or "connection lost" in text, text
    finally:
        conn.close()


# -- item 8: REC-CONFIG-APPLY: the API refused or hung is broken, a rejected manifest is failed ----
class _Done:
    def __init__(self, returncode, stderr):
        self.done = subprocess.CompletedProcess(["kubectl"], returncode, "", stderr)

    def result(self, timeout=0):
        return self.done


CHECKOUT = ConfigCheckout("file:///repo", "production", Path("/tmp"), "a" * 40)


def _apply(stderr):
    return configuration.apply_dry_run(CHECKOUT, "overlays/production", "", "dr-cluster", _Done(1, stderr),
                                       rendered=[{"kind": "ConfigMap", "metadata": {"name": "kosmos-config"}}])


@pytest.mark.parametrize(("stderr", "reason"), [
    ("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?",
     "the cluster API refused the connection"),
    ('error: error validating "overlays/production": error validating data: failed to download openapi: Get '
     '"https://127.0.0.1:6443/openapi/v2?timeout=32s": dial tcp 127.0.0.1:6443: connect: connection refused',
     "the cluster API refused the connection"),
    ('Unable to connect to the server: net/http: request canceled (Client.Timeout exceeded while awaiting headers)',
     "the cluster API did not answer in time"),
    ('Error from server (Timeout): error when retrieving current configuration of: the server was unable to '
     'return a response in the time allotted', "the cluster API did not answer in time"),
    ("Error from server (ServiceUnavailable): the server is currently unable to handle the request",
     "the cluster API is unavailable"),
    ('Error from server (Forbidden): configmaps "kosmos-config" is forbidden: User "dr-reader" cannot patch '
     'resource "configmaps" in API group "" in the namespace "kosmos"', "may not run the dry run"),
])
def test_apply_is_could_not_verify_when_the_cluster_api_refuses_or_hangs(stderr, reason):
    with pytest.raises(DRUnverifiable) as raised:
        _apply(stderr)
    text = str(raised.value)
    assert text.startswith("could not verify: kubectl apply --dry-run=server on dr-cluster: ") and reason in text


@pytest.mark.parametrize("stderr", [
    'The ConfigMap "kosmos-config" is invalid: metadata.name: Invalid value: "Kosmos": a lowercase RFC 1123 '
    'subdomain must consist of lower case alphanumeric characters\nError from server (Invalid): error when '
    'applying patch: from server for: "overlays/production": ConfigMap "kosmos-config" is invalid',
    'error: resource mapping not found for name: "x": no matches for kind "Rollout" in version "argoproj.io/v1alpha1"',
    'Error from server (Forbidden): error when applying patch: from server for: "x": statefulsets "z" is '
    'forbidden: the DR policy freezes StatefulSet objects',
    # one manifest rejected while another request timed out: the rejection is enough to fail
    'Error from server (Invalid): error when creating "x": ConfigMap "a" is invalid\n'
    'Unable to connect to the server: net/http: TLS handshake timeout',
])
def test_apply_fails_when_the_api_rejects_a_manifest(stderr):
    result = _apply(stderr)
    assert not result.passed and "does not apply to the DR cluster" in result.summary


# -- item 8: the terminal's one-line reason for an unexpected exception ---------------------------
def test_plain_words_carry_no_python_class_names():
    for exc in (psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
                RecursionError("maximum recursion depth exceeded"), ConnectionRefusedError(111, "refused"),
                RuntimeError("psycopg.errors.UndefinedTable: relation x"), KeyError("status")):
        words = plain_words(exc)
        assert words and "psycopg" not in words and "Error" not in words and "UndefinedTable" not in words, words


UNEXPECTED = '''
import psycopg, pytest

@pytest.mark.dr_criterion("VAL-DB-CONNECT")
def test_database_shut_down_mid_query():
    raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")

def _deeper(n):
    return _deeper(n + 1)

@pytest.mark.dr_criterion("VAL-API-HEALTH")
def test_check_recursed():
    _deeper(0)
'''


def test_broken_one_line_reason_is_could_not_verify_with_the_criterion_and_no_class_names(pytester, tmp_path):
    pytester.makepyfile(test_unexpected=UNEXPECTED)
    card = tmp_path / "card.json"
    junit = tmp_path / "junit.xml"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--dr-scorecard={card}", f"--junitxml={junit}")
    assert "2 broken" in result.outlines[-1]
    lines = dict(line.split(" - ", 1) for line in result.outlines if line.startswith("BROKEN test_unexpected.py::"))
    shutdown = lines["BROKEN test_unexpected.py::test_database_shut_down_mid_query"]
    recursed = lines["BROKEN test_unexpected.py::test_check_recursed"]
    assert shutdown.startswith("VAL-DB-CONNECT: could not verify: DR database: the server shut down"), shutdown
    assert recursed.startswith("VAL-API-HEALTH: could not verify: the check ran into endless recursion"), recursed
    for line in (shutdown, recursed):
        assert "psycopg" not in line and "Error" not in line and "AdminShutdown" not in line
    # the scorecard says the same, and the full traceback stays in the report for debugging
    problems = {p["criterion"]: p["reason"] for p in json.loads(card.read_text())["problems"]}
    assert "could not verify: DR database: the server shut down" in problems["VAL-DB-CONNECT"]
    assert "psycopg" not in problems["VAL-DB-CONNECT"] and "RecursionError" not in problems["VAL-API-HEALTH"]
    report = junit.read_text()
    assert "psycopg.errors.AdminShutdown" in report and "RecursionError" in report


# -- item 12: every output path, with planted secrets, under --debug ------------------------------
LEAKY = f'''
import logging
import pytest

@pytest.mark.dr_criterion("VAL-SMOKE")
def test_looks_at_the_sandbox_before_the_environment_is_resolved(dr_sandbox):
    print(f"sandbox {{dr_sandbox!r}}")

@pytest.mark.dr_criterion("VAL-DB-CONNECT")
def test_prints_a_token_only_url_and_the_environment(dr_environment, dr_sandbox):
    url = "https://{GIT_TOKEN}@github.com/kosmos/config.git"
    print(f"cloning {{url}} with {{dr_environment!r}} from {{dr_sandbox!r}}")
    logging.getLogger("kosmos.leak").warning("cloning %s", url)
    assert dr_environment.database.password is not None, repr(dr_environment)
    assert url.endswith("x.git"), f"wrong repository {{url}} for {{dr_environment}}"
'''


def test_no_planted_secret_in_any_output_even_with_debug(sandbox, pytester, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest_subprocess(
        str(pytester.path / "test_leaky.py"), str(SUITES / "test_recovery_validation.py"),
        "-p", "no:cacheprovider", "--rootdir", str(REPO), "-rA", "-o", "log_cli=true", "-o", "junit_logging=all",
        f"--debug={out / 'pytestdebug.log'}", f"--junitxml={out / 'junit.xml'}",
        f"--alluredir={out / 'allure-results'}", f"--dr-scorecard={out / 'dr-scorecard.json'}",
    )
    assert result.ret != 0 and (out / "pytestdebug.log").stat().st_size > 10_000
    planted = set(sandbox.secrets()) | {GIT_TOKEN}
    for section in sandbox.state.values():
        if isinstance(section, dict):
            planted |= {str(section[k]) for k in ("secret_access_key", "access_key_id") if section.get(k)}
    assert len(planted) >= 5
    outputs = {"terminal": "\n".join(result.outlines + result.errlines)}
    outputs.update({str(p): p.read_bytes().decode("utf-8", "replace") for p in out.rglob("*") if p.is_file()})
    assert {"junit.xml", "pytestdebug.log", "dr-scorecard.json"} <= {Path(p).name for p in outputs}
    assert any("allure-results" in p for p in outputs)
    leaks = [(where, s[:4] + "...") for where, text in outputs.items() for s in planted if s in text]
    assert not leaks, leaks
    assert "https://***@github.com/kosmos/config.git" in outputs["terminal"]
    assert "Secret('***')" in outputs[str(out / "pytestdebug.log")]
