"""The KOSMOS DR suites. Fixtures come from the pytest-kosmos-dr plugin (pytest_kosmos_dr); the
agent-state listing several suites evaluate is made here, once per run (the other shared listings are
the plugin's domain fixtures, pytest_kosmos_dr/domain_fixtures.py).

The agent-state listing is the one slow read at scale (tens of thousands of versions): it is
started in the background as soon as the session's first test runs, and the tests that evaluate
it run last, so the listing overlaps every other check instead of adding to them.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_kosmos_dr.criteria_marks import item_criteria

PREFETCHED = "agent_state_versions"


def pytest_collection_modifyitems(config, items):
    # stable: the plugin already put OBJ-RTO last (it waits for every other gate verdict)
    items.sort(key=lambda item: ("OBJ-RTO" in item_criteria(item), PREFETCHED in getattr(item, "fixturenames", ())))


@pytest.fixture(scope="session")
def _agent_state_listing(dr_aws, dr_target):
    """The listing, running in a background thread (its errors surface where it is used)."""
    from pytest_kosmos_dr.checks import agent_backups

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kosmos-dr-prefetch")
    future = executor.submit(agent_backups.list_agent_versions, dr_aws.client("s3"), dr_target.backups,
                             dr_target.agents)
    yield future
    executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session", autouse=True)
def _prefetch_slow_listings(request):
    """Start the agent-state listing early when this session has a test that evaluates it."""
    if any(PREFETCHED in getattr(item, "fixturenames", ()) for item in request.session.items):
        try:
            request.getfixturevalue("_agent_state_listing")
        except Exception:  # could not even start it: the tests that need it report why
            pass


@pytest.fixture(scope="session")
def agent_state_versions(_agent_state_listing):
    """Every version under the agent-state prefix (one paginated list-object-versions): the backup
    criteria and OBJ-RPO evaluate the same listing. It carries the target's archive layout (key pattern,
    archive names, expected members)."""
    return _agent_state_listing.result()
