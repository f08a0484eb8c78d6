"""The KOSMOS DR suites. Fixtures come from the pytest-kosmos-dr plugin (pytest_kosmos_dr); the
listings several suites evaluate are made here, once per run.

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
def backup_reference(dr_incident_start):
    """The instant backup ages are measured against: the incident start, else now."""
    from pytest_kosmos_dr.checks.backups import Reference

    return Reference.of(dr_incident_start)


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


class AgentRoster:
    """The agents whose state must be backed up: the targets file's, and those found running in the DR
    cluster (``discovered``: name -> where it runs) that the file does not list."""

    def __init__(self, listed: list[str], discovered: dict[str, str]) -> None:
        self.listed, self.discovered = listed, discovered

    @property
    def names(self) -> list[str]:
        return self.listed + [name for name in self.discovered if name not in self.listed]


@pytest.fixture(scope="session")
def dr_agents(dr_target, request):
    """Every agent: the listed ones plus the agent pods of the DR cluster (kubernetes.agent_selector; one
    read-only pod list, bounded by the target's timeouts; an unreachable cluster: could not verify).
    Without a selector, only the listed agents."""
    from pytest_kosmos_dr.checks import agent_backups

    listed = [agent.name for agent in dr_target.agents]
    selector = dr_target.kubernetes.agent_selector
    if not selector:
        return AgentRoster(listed, {})
    cluster = request.getfixturevalue("dr_cluster")
    pods = cluster.list(f"/api/v1/namespaces/{dr_target.kubernetes.namespace}/pods", label_selector=selector)
    return AgentRoster(listed, agent_backups.unlisted_running_agents(pods, dr_target.kubernetes.agent_label,
                                                                      dr_target.agents))


@pytest.fixture(scope="session")
def kosmos_workloads(dr_cluster, dr_target):
    """The KOSMOS namespace's Deployments and StatefulSets (one list each)."""
    from pytest_kosmos_dr.checks import cluster

    namespace = dr_target.kubernetes.namespace
    return cluster.workloads_of(dr_cluster.list(f"/apis/apps/v1/namespaces/{namespace}/deployments"),
                                dr_cluster.list(f"/apis/apps/v1/namespaces/{namespace}/statefulsets"))
