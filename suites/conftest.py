"""The KOSMOS DR suites. Fixtures come from the pytest-kosmos-dr plugin (pytest_kosmos_dr); the
reads several suites evaluate, and the reads each gate test makes, are started here.

Fetched concurrently (issue 18): at the session's first test every read the selected tests need
starts in the run's read pool (``dr_prefetch``, pytest_kosmos_dr/prefetch.py): the plugin's shared
listings (nodes, pods, workloads, RDS, the agents, the configuration clone and its kubectl runs, the
database connection) and the fixtures below, each a started read (a ``Future``) whose test takes
``.result()``: the check's value or the error it raised, in the test's call, as before. The reads
that share the DR database's one connection run one after another in its lane. Checks still
evaluate in their tests, in the suites' order: the same evidence and verdicts.

The agent-state listing is the one slow read at scale (tens of thousands of versions): the tests
that evaluate it run last, so the listing overlaps every other check instead of adding to them.
"""

import functools

import pytest

from pytest_kosmos_dr import plan_commands
from pytest_kosmos_dr.criteria_marks import item_criteria
from pytest_kosmos_dr.prefetch import resolving

PREFETCHED = "agent_state_versions"


def pytest_collection_modifyitems(config, items):
    # stable: the plugin already put OBJ-RTO last (it waits for every other gate verdict)
    items.sort(key=lambda item: ("OBJ-RTO" in item_criteria(item), PREFETCHED in getattr(item, "fixturenames", ())))


# -- shared reads ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def _agent_state_listing(dr_prefetch, dr_aws, dr_target):
    """The listing, started in the run's read pool (its errors surface where it is used)."""
    from pytest_kosmos_dr.checks import agent_backups

    return dr_prefetch.start("agent_state_versions", lambda: agent_backups.list_agent_versions(
        dr_aws.client("s3"), dr_target.backups, dr_target.agents))


resolving("_agent_state_listing", order=10)


@pytest.fixture(scope="session")
def agent_state_versions(_agent_state_listing):
    """Every version under the agent-state prefix (one paginated list-object-versions): the backup
    criteria and OBJ-RPO evaluate the same listing. It carries the target's archive layout (key pattern,
    archive names, expected members)."""
    return _agent_state_listing.result()


@pytest.fixture(scope="session")
def _api_route53_look(dr_prefetch, dr_aws, dr_target):
    from pytest_kosmos_dr.checks import failover
    from pytest_kosmos_dr.clients.aws import ROUTE53_CONTROL_PLANE

    return dr_prefetch.start("api_route53", lambda: failover.route53_look(
        dr_aws.client("route53", ROUTE53_CONTROL_PLANE), dr_target.aws.hosted_zone, dr_target.aws.api_record))


resolving("_api_route53_look", order=15)


@pytest.fixture(scope="session")
def api_route53(_api_route53_look):
    """The API name's failover records and their health checks (config and status), looked at once; or
    ``ControlPlaneDown`` when Route53's API is lost with its region. The client is signed for the region
    serving Route53's API (us-east-1), as boto3 signs it against AWS itself whatever the client's region."""
    return _api_route53_look.result()


@pytest.fixture(scope="session")
def dns_resolver(dr_environment, dr_target):
    """The sandbox's DNS server, or the system resolver for a real target."""
    from pytest_kosmos_dr.checks import failover

    return failover.resolver_for(dr_environment.sandbox_state, dr_target.timeouts.read)


def dns_on_secondary(api_route53, dns_resolver, dr_target):
    """REC-DNS against the target's regional endpoint names (``aws.<role>_api_endpoint``, else
    ``<api label>.<region>.<hosted zone>``)."""
    from pytest_kosmos_dr.checks import failover

    return failover.dns_on_secondary(api_route53, dns_resolver, max_ttl=dr_target.objectives.failover_trigger,
                                     secondary_endpoint=failover.api_endpoint(dr_target.aws, "secondary"),
                                     primary_endpoint=failover.api_endpoint(dr_target.aws, "primary"))


def _after(looked, fn, *args):
    """``fn(looked.result(), *args)``: a read that needs another read's answer (started after it)."""
    return fn(looked.result(), *args)


@pytest.fixture(scope="session")
def api_dns(dr_prefetch, _api_route53_look, dns_resolver, dr_target):
    """REC-DNS's resolution, started after the Route53 look (``.result()``: its CheckResult)."""
    return dr_prefetch.start("REC-DNS", _after, _api_route53_look, dns_on_secondary, dns_resolver, dr_target)


@pytest.fixture(scope="session")
def api_dns_in_outage(dr_prefetch, _api_route53_look, dns_resolver, dr_target):
    """SCN-REGIONAL-OUTAGE's own resolution of the API name (``.result()``: its CheckResult)."""
    return dr_prefetch.start("SCN-REGIONAL-OUTAGE dns", _after, _api_route53_look, dns_on_secondary, dns_resolver,
                             dr_target)


resolving("api_dns", order=16)
resolving("api_dns_in_outage", order=16)


# -- the DR database's lane (one connection, one query at a time, in the tests' order) ------------------

class _Now:
    """A read not started early (the connection was not started with the run's reads): made when asked."""

    def __init__(self, read) -> None:
        self._read = read

    def result(self):
        return self._read()


def _on_dr_database(dr_prefetch, request, fn, *args, **kwargs):
    """Start ``fn(connection, *args, **kwargs)`` in the database lane, behind the connection's start."""
    connecting = dr_prefetch.started("dr_database")
    if connecting is None:
        return _Now(lambda: fn(request.getfixturevalue("dr_database"), *args, **kwargs))
    return dr_prefetch.start(f"dr_database {fn.__module__}.{fn.__qualname__}", _after, connecting,
                             functools.partial(fn, **kwargs), *args, lane="database")


@pytest.fixture(scope="session")
def replication_read(dr_prefetch, request, dr_aws, dr_rds, dr_target, dr_environment, dr_incident_start):
    """BAK-DB-REPLICATION's reads and evaluation (RDS, CloudWatch, the DR database), in the database lane."""
    from pytest_kosmos_dr.checks import backups

    def replication(connection):
        return backups.replication(dr_rds.rds(dr_rds.secondary), dr_aws.client("cloudwatch", dr_rds.secondary),
                                   connection, dr_rds.replica_id, dr_rds.production_id, dr_rds.secondary,
                                   dr_incident_start, rpo=dr_target.objectives.rpo,
                                   where=dr_environment.database.describe(), database=dr_target.database)

    return _on_dr_database(dr_prefetch, request, replication)


@pytest.fixture(scope="session")
def integrity_read(dr_prefetch, request, dr_incident_start, dr_target):
    """REC-DB-INTEGRITY's queries and evaluation of the DR database, in the database lane (None: no incident)."""
    from pytest_kosmos_dr.checks import integrity

    if dr_incident_start is None:
        return None
    return _on_dr_database(dr_prefetch, request, integrity.database_integrity, dr_incident_start, "DR database",
                           newest_must_precede=False, database=dr_target.database)


@pytest.fixture(scope="session")
def newest_writes(dr_prefetch, request, dr_incident_start, dr_target):
    """OBJ-RPO's newest writes per window table before the incident, in the database lane (None: no incident)."""
    from pytest_kosmos_dr.checks import objectives

    if dr_incident_start is None:
        return None
    return _on_dr_database(dr_prefetch, request, objectives.newest_writes_before, dr_incident_start, dr_target.database)


resolving("replication_read", order=6)
resolving("integrity_read", order=7)
resolving("newest_writes", order=8)


# -- each gate test's own reads, started with the rest ---------------------------------------------------

@pytest.fixture(scope="session")
def plan_command_env(dr_target, dr_environment, dr_incident_start):
    """The environment the plan's commands run with: the DR API's URL and token, the DR context."""
    return plan_commands.command_environment(
        api_url=dr_environment.api_url, api_token=dr_environment.api_token,
        token_env=dr_target.endpoints.api_token_env, extra=dr_target.smoke.env,
        context=plan_commands.dr_context(dr_target, dr_incident_start), ca_bundle=dr_target.endpoints.ca_bundle)


@pytest.fixture(scope="session")
def smoke_run(dr_prefetch, dr_run, dr_target, plan_command_env):
    """VAL-SMOKE: the plan's smoke tests, running (``.result()``: their CheckResult)."""
    from pytest_kosmos_dr.checks import validation

    return dr_prefetch.start("VAL-SMOKE", validation.smoke_tests, dr_target.smoke, plan_command_env,
                             dr_run.run_dir / "plan-commands")


@pytest.fixture(scope="session")
def routing_run(dr_prefetch, dr_run, dr_target, plan_command_env):
    """VAL-AGENT-ROUTING: the plan's routing script for every agent, running (``.result()``)."""
    from pytest_kosmos_dr.checks import validation

    agents = tuple(agent.name for agent in dr_target.agents)
    return dr_prefetch.start("VAL-AGENT-ROUTING", validation.agent_routing, dr_target.smoke, agents,
                             plan_command_env, dr_run.run_dir / "plan-commands")


@pytest.fixture(scope="session")
def select_1(dr_prefetch, dr_environment, dr_target):
    """VAL-DB-CONNECT: a connection of its own and SELECT 1 (``.result()``)."""
    from pytest_kosmos_dr.checks import database_connection

    return dr_prefetch.start("VAL-DB-CONNECT", database_connection.database_connect, dr_environment.database,
                             connect_timeout=dr_target.timeouts.connect,
                             statement_timeout=dr_target.database.statement_timeout)


@pytest.fixture(scope="session")
def api_health_read(dr_prefetch, kosmos_api, dr_target, dr_incident_start):
    """VAL-API-HEALTH: the API's health endpoint, asked (``.result()``)."""
    from pytest_kosmos_dr.checks import validation

    return dr_prefetch.start("VAL-API-HEALTH", validation.api_health, kosmos_api, dr_target.health,
                             region=dr_target.aws.secondary_region, incident_start=dr_incident_start)


@pytest.fixture(scope="session")
def grafana_health_read(dr_prefetch, grafana, dr_target):
    """VAL-MONITORING: Grafana's health, asked (``.result()``)."""
    from pytest_kosmos_dr.checks import validation

    return dr_prefetch.start("VAL-MONITORING", validation.grafana_health, grafana, dr_target.monitoring)


@pytest.fixture(scope="session")
def availability_read(dr_prefetch, grafana, dr_target, dr_objectives):
    """OBJ-AVAILABILITY: the availability series and maintenance windows, asked (``.result()``)."""
    from pytest_kosmos_dr.checks import availability

    return dr_prefetch.start("OBJ-AVAILABILITY", availability.availability, grafana,
                             objective=dr_objectives.availability, window=dr_objectives.availability_window,
                             monitoring=dr_target.monitoring)


@pytest.fixture(scope="session")
def lifecycle_read(dr_prefetch, dr_aws, dr_target):
    """BAK-AGENT-RETENTION: the bucket's lifecycle rules (``.result()``)."""
    from pytest_kosmos_dr.checks import agent_backups

    return dr_prefetch.start("BAK-AGENT-RETENTION", lambda: agent_backups.lifecycle_rules(
        dr_aws.client("s3"), dr_target.backups.bucket))


@pytest.fixture(scope="session")
def config_bundle_read(dr_prefetch, dr_aws, dr_target):
    """BAK-CONFIG-MIRROR: the configuration bundle in the bucket (``.result()``: bytes, None when absent)."""
    from pytest_kosmos_dr.clients.aws import fetch_object

    return dr_prefetch.start("BAK-CONFIG-MIRROR", lambda: fetch_object(
        dr_aws.client("s3"), dr_target.backups.bucket, dr_target.backups.config_bundle))


for _name, _order in (("smoke_run", 1), ("routing_run", 2), ("select_1", 3), ("api_health_read", 40),
                      ("grafana_health_read", 40), ("availability_read", 40), ("lifecycle_read", 40),
                      ("config_bundle_read", 40)):
    resolving(_name, order=_order)


def _gitops_reads(checkout, jobs, cluster, overlay, namespace):
    """BAK-CONFIG-GITOPS's reads: the rendered overlay, then the live objects of every kind it renders."""
    from pytest_kosmos_dr.checks import configuration

    rendered, error = ([], None) if checkout.path is None else configuration.render_overlay(checkout, overlay,
                                                                                              jobs["render"])
    live, applied, unserved = {}, [], ()
    if rendered:  # every kind the overlay renders, as the cluster's API discovery maps it
        kinds = configuration.rendered_kinds(cluster.discovery(), rendered)
        live = configuration.live_objects_for(cluster, rendered, namespace, kinds)
        applied = configuration.applied_objects(cluster, rendered, namespace, kinds)
        unserved = kinds.unserved
    return rendered, error, live, applied, unserved


@pytest.fixture(scope="session")
def gitops_reads(dr_prefetch, request, dr_target):
    """(rendered, render error, live objects, applied objects, kinds not served): started after the clone and
    the render (``.result()``)."""
    from pytest_kosmos_dr.fixtures import later_cluster

    overlay, namespace = dr_target.config_repo.overlay, dr_target.kubernetes.namespace
    cloning, starting = dr_prefetch.started("config_checkout"), dr_prefetch.started("config_kubectl_jobs")
    if cloning is None or starting is None:
        return _Now(lambda: _gitops_reads(request.getfixturevalue("config_checkout"),
                                          request.getfixturevalue("config_kubectl_jobs"),
                                          request.getfixturevalue("dr_cluster"), overlay, namespace))
    cluster = later_cluster(request, dr_prefetch)
    return dr_prefetch.start("BAK-CONFIG-GITOPS", lambda: _gitops_reads(cloning.result(), starting.result(),
                                                                         cluster(), overlay, namespace))


resolving("gitops_reads", order=1)


def _with_agents(listed, roster, fn, *args, **kwargs):
    """``fn(listing, names, *args, discovered=...)`` once the agent-state listing and the agents are read."""
    agents = roster.result()
    return fn(listed.result(), agents.names, *args, discovered=agents.discovered, **kwargs)


def _agent_reads(dr_prefetch, request, key, fn, *args, **kwargs):
    """Start an agent-state check's own reads after the listing and the roster (both started before)."""
    listed, roster = dr_prefetch.started("agent_state_versions"), dr_prefetch.started("dr_agents")
    if listed is None or roster is None:
        return _Now(lambda: fn(request.getfixturevalue("agent_state_versions"), request.getfixturevalue("dr_agents").names,
                               *args, discovered=request.getfixturevalue("dr_agents").discovered, **kwargs))
    return dr_prefetch.start(key, _with_agents, listed, roster, fn, *args, **kwargs)


@pytest.fixture(scope="session")
def versioning_read(dr_prefetch, request, dr_aws, dr_target, backup_reference):
    """BAK-AGENT-VERSIONING: the bucket's versioning asked, judged over the listing (``.result()``)."""
    from pytest_kosmos_dr.checks import agent_backups

    def versioning(listing, names, reference, **limits):
        return agent_backups.agent_versioning(dr_aws.client("s3"), listing, names, reference, **limits)

    return _agent_reads(dr_prefetch, request, "BAK-AGENT-VERSIONING", versioning, backup_reference,
                        retention=dr_target.objectives.agent_state_retention)


@pytest.fixture(scope="session")
def archives_read(dr_prefetch, request, dr_aws):
    """BAK-AGENT-ARCHIVE: every agent's newest archive downloaded and read (``.result()``)."""
    from pytest_kosmos_dr.checks import agent_backups

    def archives(listing, names, **kwargs):
        return agent_backups.agent_archive(dr_aws.client("s3"), listing, names, **kwargs)

    return _agent_reads(dr_prefetch, request, "BAK-AGENT-ARCHIVE", archives)


resolving("versioning_read", order=45)
resolving("archives_read", order=45)
