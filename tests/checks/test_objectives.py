"""OBJ-RPO and OBJ-RTO with plain data."""

from datetime import datetime, timedelta, timezone

import pytest

from pytest_kosmos_dr.checks import objectives
from pytest_kosmos_dr.errors import DRUnverifiable

INCIDENT = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
RPO, RTO = timedelta(minutes=15), timedelta(hours=4)


def test_rpo_passes_when_every_source_is_within_and_names_the_worst():
    result = objectives.rpo(INCIDENT, {"conversations": INCIDENT - timedelta(minutes=2),
                                       "messages": INCIDENT - timedelta(minutes=1)},
                            {"zeus": INCIDENT - timedelta(minutes=5)}, limit=RPO, where="the DR database")
    assert result.passed and "worst data-loss window 5 min over 3 sources" in result.summary


def test_rpo_fails_per_source_over_the_limit():
    result = objectives.rpo(INCIDENT, {"conversations": INCIDENT - timedelta(minutes=2),
                                       "messages": INCIDENT - timedelta(minutes=30)},
                            {"zeus": INCIDENT - timedelta(minutes=5)}, limit=RPO, where="the DR database")
    assert not result.passed
    assert result.offenders == ["table messages: 30 min lost"]


def test_rpo_fails_with_nothing_to_measure():
    result = objectives.rpo(INCIDENT, {}, {"zeus": INCIDENT}, limit=RPO, where="the DR database")
    assert not result.passed and "no database tables" in result.summary


def test_rto_within_and_missed():
    at = lambda delta: (INCIDENT + delta).isoformat()  # noqa: E731
    ok = objectives.rto(INCIDENT, [{"nodeid": "a", "criteria": ["VAL-SMOKE"], "outcome": "passed",
                                    "at": at(timedelta(hours=1))}], limit=RTO)
    assert ok.passed and ok.measured == 3600
    late = objectives.rto(INCIDENT, [{"nodeid": "a", "criteria": ["VAL-SMOKE"], "outcome": "passed",
                                      "at": at(timedelta(hours=5))}], limit=RTO)
    assert not late.passed and "missed by 60 min" in late.summary


def test_rto_without_an_incident_start_cannot_be_verified():
    with pytest.raises(DRUnverifiable):
        objectives.rto(None, [], limit=RTO)
