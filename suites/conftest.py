"""The KOSMOS DR suites. Every fixture they use comes from the pytest-kosmos-dr plugin
(pytest_kosmos_dr): the clients (fixtures.py), the DR environment in the plan's terms
(domain_fixtures.py) and the gate's reads, started early and concurrently (gate_reads.py)."""
