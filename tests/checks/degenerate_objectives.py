"""Degenerate inputs for the recovery objectives (OBJ-RPO, OBJ-RTO)."""

from datetime import datetime, timedelta, timezone

from pytest_kosmos_dr.checks import objectives

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
RPO, RTO = timedelta(minutes=15), timedelta(hours=4)

CASES = {
    "objectives.rpo": [
        ("no sources at all", lambda: objectives.rpo(NOW, {}, {}, limit=RPO, where="db")),
        ("no tables", lambda: objectives.rpo(NOW, {}, {"zeus": NOW}, limit=RPO, where="db")),
        ("no agents", lambda: objectives.rpo(NOW, {"conversations": NOW}, {}, limit=RPO, where="db")),
        ("tables without any write", lambda: objectives.rpo(NOW, {"conversations": None}, {"zeus": NOW}, limit=RPO, where="db")),
        ("agent without any backup", lambda: objectives.rpo(NOW, {"conversations": NOW}, {"zeus": None}, limit=RPO, where="db")),
        ("no incident start", lambda: objectives.rpo(None, {"conversations": NOW}, {"zeus": NOW}, limit=RPO, where="db")),
        ("unlisted running agent without any backup",
         lambda: objectives.rpo(NOW, {"conversations": NOW}, {"zeus": NOW, "hermes-x": None}, limit=RPO, where="db",
                                discovered={"hermes-x": "pod hermes-x-0"})),
        ("sources None", lambda: objectives.rpo(NOW, None, None, limit=RPO, where="db")),
    ],
    "objectives.rto": [
        ("no gate verdicts", lambda: objectives.rto(NOW - timedelta(hours=1), [], limit=RTO)),
        ("None verdicts", lambda: objectives.rto(NOW - timedelta(hours=1), None, limit=RTO)),
        ("verdicts missing their fields", lambda: objectives.rto(NOW - timedelta(hours=1), [{}, {"outcome": "passed"}],
                                                                limit=RTO)),
        ("no incident start", lambda: objectives.rto(None, [{"at": NOW.isoformat(), "outcome": "passed"}], limit=RTO)),
    ],
}
