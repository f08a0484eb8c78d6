"""No secret reaches any output: Allure results, JUnit XML, terminal, live logs, log file, scorecard.

Unit tests for the patterns, then real runs of the suites against the sandbox (alone and under
pytest-xdist) with a test that deliberately prints, logs and asserts on secrets; every file written
and the terminal are searched for every credential in the sandbox's sandbox.json."""

import json

import pytest

from conftest import REPO, SUITES
from pytest_kosmos_dr.redaction import MASK, redact, redact_deep, register_secret


@pytest.mark.parametrize(("text", "secret"), [
    ("postgresql://admin:pa55word-x@db:5432/kosmos", "pa55word-x"),
    ("mysql://root:hunter22@h/db", "hunter22"),
    ("host=db user=admin password=pa55word-x dbname=k", "pa55word-x"),
    ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi.abc.def"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI/K7MDENG"),
    ("key id AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ("users:\n- name: dr\n  user:\n    token: kube-t0ken-value\n", "kube-t0ken-value"),
    ("    client-key-data: LS0tLS1CRUdJTiBSU0E=\n", "LS0tLS1CRUdJTiBSU0E="),
    ("https://s3/x?X-Amz-Signature=abcdef0123&X-Amz-Date=1", "abcdef0123"),
])
def test_secret_shapes_are_masked_even_when_never_registered(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned and MASK in cleaned


SHAPES = [
    "postgresql://admin:pa55word-x@db:5432/kosmos", "https://ghp_t0kenvalue123@github.com/org/repo.git",
    "host=db user=admin PASSWORD = 'a b' dbname=k", "Authorization: Basic dXNlcjpwYXNz", "bearer abcdefgh12345",
    "aws_session_token: \"IQoJb3JpZ2luX2VjE\"", "SecretAccessKey=wJalrXUtnFEMI", "SessionToken: x1y2z3w4v5",
    "AROAIOSFODNN7EXAMPLE", "https://s3/x?X-Amz-Credential=AKIA%2F2025&access_token=abc&apikey=q&Token=t",
    "  - password: hunter22\n  secret: s3cr3t\nrefresh-token: r", "id-token: eyJ.x.y",
    "to\u212aen: kelvin-sign-k-value", "pa\u017f\u017fword=long-s-value", "\u00fcser: password=umlaut-text",
    "nothing secret here: 2,000 pods Running, 20,001 versions", "", "x" * 50 + "://" + "y" * 50,
]


@pytest.mark.parametrize("text", SHAPES)
def test_literal_prefilter_masks_exactly_what_every_pattern_masks(text):
    """Patterns skipped for want of their literal would have matched nothing: the same text as running all
    of them (non-ASCII text, where IGNORECASE matches letters lowercasing misses, runs all of them)."""
    from pytest_kosmos_dr import redaction

    expected = text
    for secret in sorted(redaction._known, key=len, reverse=True):  # values other tests registered
        expected = expected.replace(secret, MASK)
    for pattern, _ in redaction._PATTERNS:
        expected = pattern.sub(redaction._mask, expected)
    assert redact(text) == expected


def test_registered_secret_is_masked_everywhere_in_nested_objects():
    register_secret("registered-S3cret-value")

    class Holder:
        def __init__(self):
            self.message = "got registered-S3cret-value back"
            self.items = [("k", "registered-S3cret-value"), {"deep": ["x registered-S3cret-value"]}]

    held = redact_deep(Holder())
    assert "registered-S3cret-value" not in repr(held.message) + repr(held.items)
    assert redact("plain text stays") == "plain text stays"


LEAKY_TEST = '''
import logging, sys
import pytest
from pytest_kosmos_dr.redaction import register_secret

DELIBERATE = "deliberate-Secret-4711-xyz"

@pytest.mark.dr_criterion("VAL-DB-CONNECT")
def test_prints_logs_and_asserts_on_secrets(dr_environment):
    register_secret(DELIBERATE)
    password, token = dr_environment.database.password, dr_environment.api_token
    print(f"dsn postgresql://kosmos:{password}@db/kosmos token {token} {DELIBERATE}")
    print(f"stderr {password} {DELIBERATE}", file=sys.stderr)
    logging.getLogger("kosmos.leak").warning("password %s token %s %s", password, token, DELIBERATE)
    assert password == DELIBERATE, f"compared {password} with {DELIBERATE}"

@pytest.mark.dr_criterion("VAL-SMOKE")
@pytest.mark.parametrize("password", ["param-S3cret-in-id"], ids=["from-vault"])  # node IDs are printed as they are
def test_exception_and_parameter_carry_secrets(dr_environment, password):
    register_secret(password)
    raise RuntimeError(f"could not use {dr_environment.aws_credentials} {password}")
'''


def sandbox_secrets(sandbox) -> set[str]:
    found = set(sandbox.secrets())
    for section in sandbox.state.values():
        if isinstance(section, dict):
            found |= {str(section[k]) for k in ("secret_access_key", "access_key_id") if section.get(k)}
    return found | {"deliberate-Secret-4711-xyz", "param-S3cret-in-id"}


@pytest.mark.parametrize("parallel", [[], pytest.param(["-n", "2"], marks=pytest.mark.slow)], ids=["one-process", "xdist"])
def test_no_secret_in_any_output(sandbox, pytester, tmp_path, parallel):
    out = tmp_path / "out"
    pytester.makepyfile(test_leaky=LEAKY_TEST)
    result = pytester.runpytest_subprocess(
        str(pytester.path / "test_leaky.py"), str(SUITES / "test_recovery_validation.py"), *parallel,
        "-p", "no:cacheprovider", "--rootdir", str(REPO), "-rA", "-o", "log_cli=true",
        "-o", "junit_logging=all", f"--alluredir={out / 'allure-results'}", f"--junitxml={out / 'junit.xml'}",
        f"--log-file={out / 'pytest.log'}", f"--dr-scorecard={out / 'dr-scorecard.json'}",
    )
    result.assert_outcomes(passed=5, failed=1)  # the parametrized one is broken, counted apart
    assert "1 broken" in result.outlines[-1]
    secrets = sandbox_secrets(sandbox)
    assert len(secrets) >= 5, secrets
    outputs = {"terminal": "\n".join(result.outlines + result.errlines)}
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 20 and (out / "junit.xml").exists() and (out / "pytest.log").exists()
    outputs.update({str(p): p.read_bytes().decode("utf-8", "replace") for p in files})
    leaks = [(where, s[:4] + "...") for where, text in outputs.items() for s in secrets if s in text]
    assert not leaks, leaks
    # ... and the outputs still say what happened, with the secret masked
    assert "compared *** with ***" in outputs["terminal"]
    assert "password *** token ***" in outputs[str(out / "pytest.log")]
    results = [json.loads(p.read_text()) for p in out.glob("allure-results/*-result.json")]
    leaky = next(r for r in results if r["name"].startswith("test_exception_and_parameter"))
    assert leaky["status"] == "broken" and leaky["parameters"][0]["value"] == "'***'"
