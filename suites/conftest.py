"""The KOSMOS DR suites. Fixtures come from the pytest-kosmos-dr plugin (pytest_kosmos_dr)."""
