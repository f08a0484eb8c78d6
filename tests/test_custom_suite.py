"""A user's own criterion, written only with the public API: the example of docs/architecture.md
("Write your own criterion"), run as its own project against the sandbox. It passes on the healthy
sandbox and fails, naming the criterion, the measured value and the limit, when the sandbox is wrong
the way it checks. And the marker decides the criterion: ``dr_check`` stamps it on a result naming none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def documented_example() -> str:
    """The Python block of the "Write your own criterion" section, as a reader copies it."""
    section = DOC.read_text().split("## Write your own criterion", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section shows one example"
    return blocks[0]


def test_the_documented_example_uses_only_the_public_api():
    imports = [line for line in documented_example().splitlines() if "import" in line]
    assert any(line.startswith("from pytest_kosmos_dr import ") for line in imports)
    assert not [line for line in imports if "pytest_kosmos_dr." in line], imports


def test_a_custom_criterion_passes_on_the_healthy_sandbox_and_fails_on_its_wrong_world(sandbox, fault, pytester):
    pytester.makepyfile(test_own_criterion=documented_example())
    healthy = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    healthy.assert_outcomes(passed=1)

    fault("dr-instance-retention-1d")  # the promoted DR instance keeps its backups 1 day
    broken = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    broken.assert_outcomes(failed=1)
    broken.stdout.fnmatch_lines(["*DR check failed: BAK-DB-PITR-RETENTION: * keeps automated backups 1 days, "
                                 "limit 30 days (PITR retention)*"])


STAMPED = '''
import pytest
from pytest_kosmos_dr import CheckResult


def unnamed(passed):
    return CheckResult(criterion="", passed=passed, summary=f"a check naming no criterion, passed={passed}",
                       measured=passed, limit=True)


@pytest.mark.dr_criterion("OBJ-AVAILABILITY")
def test_stamped(dr_check, dr_target):
    assert dr_check(unnamed(True)).criterion == "OBJ-AVAILABILITY"


@pytest.mark.dr_criterion("OBJ-AVAILABILITY")
def test_stamped_and_failed(dr_check, dr_target):
    dr_check(unnamed(False))


@pytest.mark.dr_criterion("OBJ-AVAILABILITY", "VAL-SMOKE")
def test_ambiguous(dr_check, dr_target):
    dr_check(unnamed(True))
'''


def test_the_marker_decides_the_criterion_of_a_result_naming_none(sandbox, pytester):
    pytester.makepyfile(test_stamped=STAMPED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.parseoutcomes() == {"passed": 1, "failed": 1, "broken": 1}
    result.stdout.fnmatch_lines([
        "*DR check failed: OBJ-AVAILABILITY: a check naming no criterion, passed=False*",
        "*could not verify: check identity: a result naming no criterion was checked in a test marked "
        "OBJ-AVAILABILITY, VAL-SMOKE*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
