"""pytest-kosmos-dr: the KOSMOS disaster-recovery plan as executable acceptance tests."""

__version__ = "0.1.0"
