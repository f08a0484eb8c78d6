"""The gate's reads, started early (issue 18): at the session's first test every read the selected
tests need starts in the run's read pool (``dr_prefetch``, prefetch.py), and each fixture here hands
its test what was read: the value a check evaluates (``agent_state_versions``, ``api_route53``,
``newest_writes``, ``config_bundle`` ...), or, where the check itself reads (health endpoints, the plan's
commands, SQL, downloads), the check's ``CheckResult`` (``api_health``, ``plan_smoke_tests`` ...).

Each read is a private fixture whose resolution starts it (``_..._started``: a ``Future``, registered
with ``prefetch.resolving``) and a public one that waits for it in the setup of the test that needs it:
its value, or the very error it raised (``DRUnverifiable``, ``RegionDown``, an SQL error ...). Reads that
need another read's answer start after it, holding no worker while they wait (DNS after Route53's look;
the GitOps chain after the clone and the render; the agent-state checks after the listing and the roster).
The DR database is read on three connections, each in its *lane* (its reads one after another, in the
tests' order): BAK-DB-REPLICATION on the first, REC-DB-INTEGRITY on a second, OBJ-RPO on a third; within a read,
independent queries go out together (``clients.database.pipelined``). The checks still evaluate in the
suites' order: the same evidence and verdicts as reading one after another.

The agent-state listing is the one slow read at scale (tens of thousands of versions): the tests that
evaluate it run last (``criteria_marks.run_slow_reads_and_rto_last``), so it overlaps every other check.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import pytest

from .prefetch import finished_value, resolving

# -- reads several tests evaluate ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _agent_state_listing_started(dr_prefetch, dr_aws, dr_target):
    from .checks import agent_backups

    return dr_prefetch.start("agent_state_versions", lambda: agent_backups.list_agent_versions(
        dr_aws.client("s3"), dr_target.backups, dr_target.agents))


@pytest.fixture(scope="session")
def agent_state_versions(_agent_state_listing_started):
    """Every version under the agent-state prefix (one paginated list-object-versions): the backup
    criteria and OBJ-RPO evaluate the same listing. It carries the target's archive layout (key pattern,
    archive names, expected members)."""
    return _agent_state_listing_started.result()


@pytest.fixture(scope="session")
def _api_route53_started(dr_prefetch, dr_aws, dr_target):
    from .checks import failover
    from .clients.aws import ROUTE53_CONTROL_PLANE

    return dr_prefetch.start("api_route53", lambda: failover.route53_look(
        dr_aws.client("route53", ROUTE53_CONTROL_PLANE), dr_target.aws.hosted_zone, dr_target.aws.api_record))


@pytest.fixture(scope="session")
def api_route53(_api_route53_started):
    """The API name's failover records and their health checks (config and status), looked at once; or
    ``ControlPlaneDown`` when Route53's API is lost with its region. The client is signed for the region
    serving Route53's API (us-east-1), as boto3 signs it against AWS itself whatever the client's region."""
    return _api_route53_started.result()


@pytest.fixture(scope="session")
def dns_resolver(dr_environment, dr_target):
    """The sandbox's DNS server, or the system resolver for a real target."""
    from .checks import failover

    return failover.resolver_for(dr_environment.sandbox_state, dr_target.timeouts.read)


def _dns_on_secondary(looking, resolver, target):
    """REC-DNS once Route53's look is in, against the target's regional endpoint names
    (``aws.<role>_api_endpoint``, else ``<api label>.<region>.<hosted zone>``)."""
    from .checks import failover

    return failover.dns_on_secondary(looking.result(), resolver, max_ttl=target.objectives.failover_trigger,
                                     secondary_endpoint=failover.api_endpoint(target.aws, "secondary"),
                                     primary_endpoint=failover.api_endpoint(target.aws, "primary"))


def _resolving_api_name_early(dr_prefetch, key: str, resolver, target):
    """``resolver`` with the API name's answer asked for now, while Route53 is looked at (it does not depend
    on Route53's answer): after the look, the endpoints' lookups are the one round trip left."""
    from .checks import failover

    if resolver is None:
        return None
    early = dr_prefetch.start(f"{key} API name", resolver.resolve, target.aws.api_record)
    return failover.EarlyAnswers(resolver, {target.aws.api_record: early})


@pytest.fixture(scope="session")
def _api_dns_started(dr_prefetch, _api_route53_started, dns_resolver, dr_target):
    resolver = _resolving_api_name_early(dr_prefetch, "REC-DNS", dns_resolver, dr_target)
    return dr_prefetch.start("REC-DNS", _dns_on_secondary, _api_route53_started, resolver, dr_target,
                             after=(_api_route53_started,))


@pytest.fixture(scope="session")
def api_dns(api_route53, _api_dns_started):
    """REC-DNS's result: the API name answered and resolved (resolved after Route53's look)."""
    return _api_dns_started.result()


@pytest.fixture(scope="session")
def _api_dns_in_outage_started(dr_prefetch, _api_route53_started, dns_resolver, dr_target):
    resolver = _resolving_api_name_early(dr_prefetch, "SCN-REGIONAL-OUTAGE dns", dns_resolver, dr_target)
    return dr_prefetch.start("SCN-REGIONAL-OUTAGE dns", _dns_on_secondary, _api_route53_started, resolver,
                             dr_target, after=(_api_route53_started,))


@pytest.fixture(scope="session")
def api_dns_in_outage(api_route53, _api_dns_in_outage_started):
    """SCN-REGIONAL-OUTAGE's own resolution of the API name (a REC-DNS result of its own)."""
    return _api_dns_in_outage_started.result()


resolving("_agent_state_listing_started", order=10)
resolving("_api_route53_started", order=2)  # the longest AWS chain: its client is made first
resolving("_api_dns_started", order=3)
resolving("_api_dns_in_outage_started", order=3)


# -- the DR database's lanes (one per connection, their reads in the tests' order) ----------------------

class _ReadNow:
    """A read not started early (the connection was not started with the run's reads): made when asked."""

    def __init__(self, read) -> None:
        self._read = read

    def result(self):
        return self._read()


class _Client:
    """An AWS client made at its first call (``make()``)."""

    def __init__(self, make) -> None:
        self._make, self._client = make, None

    def __getattr__(self, name: str):
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


def _after(looking, fn, *args):
    """``fn(looking.result(), *args)``: a read that needs another read's answer (started after it)."""
    return fn(looking.result(), *args)


def _on_dr_database(dr_prefetch, request, fn, *args, lane: int = 1, **kwargs):
    """Start ``fn(connection, *args, **kwargs)`` behind its connection's start: in lane 1 on the run's
    connection (``dr_database``), in lane 2 or 3 on a connection of that lane's own (``_lane_connection``)."""
    connecting = dr_prefetch.started("dr_database")
    if connecting is None:
        return _ReadNow(lambda: fn(request.getfixturevalue("dr_database"), *args, **kwargs))
    name = "database"
    if lane > 1:
        connecting, name = _lane_connection(dr_prefetch, request, lane), f"database {lane}"
    return dr_prefetch.start(f"dr_database {fn.__module__}.{fn.__qualname__}", _after, connecting,
                             functools.partial(fn, **kwargs), *args, lane=name)


def _lane_connection(dr_prefetch, request, lane: int):
    """Another read-only connection to the DR database (same endpoint, timeouts and session settings), opened
    in its lane: REC-DB-INTEGRITY reads on the second, OBJ-RPO on the third, while BAK-DB-REPLICATION reads
    on the run's (it waits for RDS's description of the replica). Each lane's statements go one after
    another; the lanes' at once. Closed when the run's reads end."""
    from .clients.database import connect_or_unverifiable

    environment, target = request.getfixturevalue("dr_environment"), request.getfixturevalue("dr_target")
    key = f"dr_database (connection {lane})"
    if dr_prefetch.started(key) is None:
        connecting = dr_prefetch.start(key, connect_or_unverifiable, environment.database, target.timeouts.connect,
                                       target.database.statement_timeout, lane=f"database {lane}")

        def close_lane() -> None:
            connection = finished_value(connecting)
            if connection is not None:
                connection.close()

        dr_prefetch.on_close(close_lane)
    return dr_prefetch.started(key)


@pytest.fixture(scope="session")
def _replication_started(dr_prefetch, request, dr_aws, dr_rds, dr_target, dr_environment, dr_incident_start):
    from .checks import backups

    # the replica's description (RDS) does not need the connection: asked while it opens
    describing = None
    if dr_prefetch.started("dr_database") is not None:
        describing = dr_prefetch.start("BAK-DB-REPLICATION replica", lambda: backups.describe_instance(
            dr_rds.rds(dr_rds.secondary), dr_rds.replica_id, dr_rds.secondary))

    def replication(connection):  # (clients made when used: the lane does not wait on another read's client)
        return backups.replication(_Client(lambda: dr_rds.rds(dr_rds.secondary)),
                                   _Client(lambda: dr_aws.client("cloudwatch", dr_rds.secondary)),
                                   connection, dr_rds.replica_id, dr_rds.production_id, dr_rds.secondary,
                                   dr_incident_start, rpo=dr_target.objectives.rpo,
                                   where=dr_environment.database.describe(), database=dr_target.database,
                                   described=describing)

    return _on_dr_database(dr_prefetch, request, replication)


@pytest.fixture(scope="session")
def database_replication(dr_database, _replication_started):
    """BAK-DB-REPLICATION's result: the replica described (RDS, CloudWatch) and its lag read on the DR
    database."""
    return _replication_started.result()


@pytest.fixture(scope="session")
def _integrity_started(dr_prefetch, request, dr_incident_start, dr_target):
    from .checks import integrity

    if dr_incident_start is None:
        return None
    return _on_dr_database(dr_prefetch, request, integrity.database_integrity, dr_incident_start, "DR database",
                           newest_must_precede=False, database=dr_target.database, lane=2)


@pytest.fixture(scope="session")
def dr_database_integrity(dr_database, known_incident_start, _integrity_started):
    """REC-DB-INTEGRITY's result: the DR database's rows, keys and schema up to the incident."""
    return _integrity_started.result()


@pytest.fixture(scope="session")
def _newest_writes_started(dr_prefetch, request, dr_incident_start, dr_target):
    from .checks import objectives

    if dr_incident_start is None:
        return None
    return _on_dr_database(dr_prefetch, request, objectives.newest_writes_before, dr_incident_start,
                           dr_target.database, lane=3)


@pytest.fixture(scope="session")
def newest_writes(dr_database, _newest_writes_started):
    """OBJ-RPO's newest write per window table before the incident, on the DR database (None: no incident)."""
    return None if _newest_writes_started is None else _newest_writes_started.result()


resolving("_replication_started", order=6)
resolving("_integrity_started", order=7)
resolving("_newest_writes_started", order=8)


# -- the gate tests' own reads -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def plan_command_env(dr_target, dr_environment, dr_incident_start):
    """The environment the plan's commands run with: the DR API's URL and token, the DR context."""
    from . import plan_commands

    return plan_commands.command_environment(
        api_url=dr_environment.api_url, api_token=dr_environment.api_token,
        token_env=dr_target.endpoints.api_token_env, extra=dr_target.smoke.env,
        context=plan_commands.dr_context(dr_target, dr_incident_start), ca_bundle=dr_target.endpoints.ca_bundle)


@pytest.fixture(scope="session")
def _smoke_started(dr_prefetch, dr_run, dr_target, plan_command_env):
    from .checks import validation

    return dr_prefetch.start("VAL-SMOKE", validation.smoke_tests, dr_target.smoke, plan_command_env,
                             dr_run.run_dir / "plan-commands")


@pytest.fixture(scope="session")
def plan_smoke_tests(_smoke_started):
    """VAL-SMOKE's result: the plan's smoke tests, run against the DR API."""
    return _smoke_started.result()


@pytest.fixture(scope="session")
def _routing_started(dr_prefetch, dr_run, dr_target, plan_command_env):
    from .checks import validation

    agents = tuple(agent.name for agent in dr_target.agents)
    return dr_prefetch.start("VAL-AGENT-ROUTING", validation.agent_routing, dr_target.smoke, agents,
                             plan_command_env, dr_run.run_dir / "plan-commands")


@pytest.fixture(scope="session")
def plan_agent_routing(_routing_started):
    """VAL-AGENT-ROUTING's result: the plan's routing script, run for every agent."""
    return _routing_started.result()


@pytest.fixture(scope="session")
def _select_1_started(dr_prefetch, dr_environment, dr_target):
    from .checks import database_connection

    return dr_prefetch.start("VAL-DB-CONNECT", database_connection.database_connect, dr_environment.database,
                             connect_timeout=dr_target.timeouts.connect,
                             statement_timeout=dr_target.database.statement_timeout)


@pytest.fixture(scope="session")
def select_1(_select_1_started):
    """VAL-DB-CONNECT's result: a connection of its own to the DR database, and SELECT 1."""
    return _select_1_started.result()


@pytest.fixture(scope="session")
def _api_health_started(dr_prefetch, kosmos_api, dr_target, dr_incident_start):
    from .checks import validation

    return dr_prefetch.start("VAL-API-HEALTH", validation.api_health, kosmos_api, dr_target.health,
                             region=dr_target.aws.secondary_region, incident_start=dr_incident_start)


@pytest.fixture(scope="session")
def api_health(_api_health_started):
    """VAL-API-HEALTH's result: the API's health endpoint, asked in the DR region."""
    return _api_health_started.result()


def _status_summary(url, timeouts, verify):
    from .checks import communication
    from .clients.http import http_client

    with http_client(url, timeouts, None, verify) as page:
        return communication.status_summary(page)


@pytest.fixture(scope="session")
def _status_summary_started(dr_prefetch, dr_environment, dr_target):
    if not dr_environment.status_page_url:  # the status_page fixture says so, where the test asks
        return _ReadNow(lambda: None)
    return dr_prefetch.start("COM-STATUS-PAGE summary", _status_summary, dr_environment.status_page_url,
                             dr_target.timeouts, dr_environment.verify_tls)


@pytest.fixture(scope="session")
def status_page_summary(_status_summary_started):
    """COM-STATUS-PAGE's read: the status page's summary as it answered (judged in the test, against the
    incident it must show)."""
    return _status_summary_started.result()


@pytest.fixture(scope="session")
def _grafana_health_started(dr_prefetch, grafana, dr_target):
    from .checks import validation

    return dr_prefetch.start("VAL-MONITORING", validation.grafana_health, grafana, dr_target.monitoring)


@pytest.fixture(scope="session")
def grafana_health(_grafana_health_started):
    """VAL-MONITORING's result: Grafana's health and its data source, asked."""
    return _grafana_health_started.result()


@pytest.fixture(scope="session")
def _availability_started(dr_prefetch, grafana, dr_target, dr_objectives):
    from .checks import availability

    return dr_prefetch.start("OBJ-AVAILABILITY", availability.availability, grafana,
                             objective=dr_objectives.availability, window=dr_objectives.availability_window,
                             monitoring=dr_target.monitoring)


@pytest.fixture(scope="session")
def availability_over_the_window(_availability_started):
    """OBJ-AVAILABILITY's result: the availability series and maintenance windows, asked through Grafana."""
    return _availability_started.result()


@pytest.fixture(scope="session")
def _lifecycle_started(dr_prefetch, dr_aws, dr_target):
    from .checks import agent_backups

    return dr_prefetch.start("BAK-AGENT-RETENTION", lambda: agent_backups.lifecycle_rules(
        dr_aws.client("s3"), dr_target.backups.bucket))


@pytest.fixture(scope="session")
def agent_state_lifecycle_rules(_lifecycle_started):
    """The backup bucket's lifecycle rules."""
    return _lifecycle_started.result()


@pytest.fixture(scope="session")
def _config_bundle_started(dr_prefetch, dr_aws, dr_target):
    from .clients.aws import fetch_object

    return dr_prefetch.start("BAK-CONFIG-MIRROR", lambda: fetch_object(
        dr_aws.client("s3"), dr_target.backups.bucket, dr_target.backups.config_bundle))


@pytest.fixture(scope="session")
def config_bundle(_config_bundle_started):
    """The configuration's Git bundle in the backup bucket (bytes; None when absent)."""
    return _config_bundle_started.result()


def _mirror_verdict(checkout, bundle, bucket: str, key: str, run_dir):
    """BAK-CONFIG-MIRROR once the clone and the bucket's copy are in: the bundle listed and cloned from (git)
    in a folder of its own in the run's folder, removed after."""
    import tempfile
    from pathlib import Path

    from .checks import configuration

    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="config-mirror-", dir=run_dir) as work:
        return configuration.mirror_matches(checkout.result(), bucket, key, bundle.result(), Path(work))


@pytest.fixture(scope="session")
def _config_mirror_started(dr_prefetch, request, _config_bundle_started, dr_target, dr_run):
    bucket, key = dr_target.backups.bucket, dr_target.backups.config_bundle
    cloning = dr_prefetch.started("config_checkout")
    if cloning is None:
        return _ReadNow(lambda: _mirror_verdict(_ReadNow(lambda: request.getfixturevalue("config_checkout")),
                                                _config_bundle_started, bucket, key, dr_run.run_dir))
    return dr_prefetch.start("BAK-CONFIG-MIRROR verdict", _mirror_verdict, cloning, _config_bundle_started, bucket,
                             key, dr_run.run_dir, after=(cloning, _config_bundle_started))


@pytest.fixture(scope="session")
def config_mirror(config_checkout, _config_mirror_started):
    """BAK-CONFIG-MIRROR's result: the bucket's Git bundle compared with the production head and cloned from
    (its git runs in the read pool, while the tests before it wait on theirs)."""
    return _config_mirror_started.result()


for _name, _order in (("_smoke_started", 1), ("_routing_started", 2), ("_select_1_started", 3),
                      ("_api_health_started", 40), ("_grafana_health_started", 40), ("_availability_started", 40),
                      ("_lifecycle_started", 40), ("_config_bundle_started", 40), ("_config_mirror_started", 41),
                      ("_status_summary_started", 40)):
    resolving(_name, order=_order)


# -- the configuration in Git against the DR cluster ----------------------------------------------------

class GitopsObjects(NamedTuple):
    """What BAK-CONFIG-GITOPS compares: the overlay rendered, and the DR cluster's objects of its kinds."""

    rendered: list
    render_error: str | None
    live: dict
    applied: list
    unserved: tuple


def _gitops_objects(checkout, jobs, cluster, overlay, namespace) -> GitopsObjects:
    """The rendered overlay, then the live objects of every kind it renders (as API discovery maps it)."""
    from .checks import configuration

    rendered, error = ([], None) if checkout.path is None else configuration.render_overlay(checkout, overlay,
                                                                                              jobs["render"])
    live, applied, unserved = {}, [], ()
    if rendered:
        kinds, live, applied = configuration.gitops_reads(cluster, rendered, namespace)
        unserved = kinds.unserved
    return GitopsObjects(rendered, error, live, applied, unserved)


@pytest.fixture(scope="session")
def _gitops_started(dr_prefetch, request, dr_target):
    from .fixtures import later_cluster

    overlay, namespace = dr_target.config_repo.overlay, dr_target.kubernetes.namespace
    cloning, starting = dr_prefetch.started("config_checkout"), dr_prefetch.started("config_kubectl_jobs")
    if cloning is None or starting is None:
        return _ReadNow(lambda: _gitops_objects(request.getfixturevalue("config_checkout"),
                                                request.getfixturevalue("config_kubectl_jobs"),
                                                request.getfixturevalue("dr_cluster"), overlay, namespace))
    cluster = later_cluster(request, dr_prefetch)
    return dr_prefetch.start("BAK-CONFIG-GITOPS", lambda: _gitops_objects(cloning.result(), starting.result(),
                                                                           cluster(), overlay, namespace),
                             after=(cloning, starting, dr_prefetch.started("dr_cluster")))


@pytest.fixture(scope="session")
def gitops_objects(config_checkout, config_kubectl_jobs, _gitops_started) -> GitopsObjects:
    """The production overlay rendered, and the DR cluster's live and applied objects of every kind it
    renders (started after the clone and the render)."""
    return _gitops_started.result()


@pytest.fixture(scope="session")
def rendered_overlay(config_checkout, config_kubectl_jobs, dr_target) -> list:
    """The objects the production overlay renders (``kubectl kustomize``; none without a checkout)."""
    from .checks import configuration

    if config_checkout.path is None:
        return []
    return configuration.render_overlay(config_checkout, dr_target.config_repo.overlay,
                                        config_kubectl_jobs["render"])[0]


resolving("_gitops_started", order=1)


# -- every agent's state, judged over the listing ---------------------------------------------------------

def _with_agents(listed, roster, fn, *args, **kwargs):
    """``fn(listing, names, *args, discovered=...)`` once the agent-state listing and the agents are read."""
    agents = roster.result()
    return fn(listed.result(), agents.names, *args, discovered=agents.discovered, **kwargs)


def _agent_reads(dr_prefetch, request, key, fn, *args, **kwargs):
    """Start an agent-state check's own reads after the listing and the roster (both started before)."""
    listed, roster = dr_prefetch.started("agent_state_versions"), dr_prefetch.started("dr_agents")
    if listed is None or roster is None:
        def now():
            listing, agents = request.getfixturevalue("agent_state_versions"), request.getfixturevalue("dr_agents")
            return fn(listing, agents.names, *args, discovered=agents.discovered, **kwargs)
        return _ReadNow(now)
    return dr_prefetch.start(key, _with_agents, listed, roster, fn, *args, after=(listed, roster), **kwargs)


@pytest.fixture(scope="session")
def _versioning_started(dr_prefetch, request, dr_aws, dr_target, backup_reference):
    from .checks import agent_backups

    def versioning(listing, names, reference, **limits):
        return agent_backups.agent_versioning(dr_aws.client("s3"), listing, names, reference, **limits)

    return _agent_reads(dr_prefetch, request, "BAK-AGENT-VERSIONING", versioning, backup_reference,
                        retention=dr_target.objectives.agent_state_retention)


@pytest.fixture(scope="session")
def agent_state_versioning(agent_state_versions, dr_agents, _versioning_started):
    """BAK-AGENT-VERSIONING's result: the bucket's versioning asked, every agent judged over the listing."""
    return _versioning_started.result()


@pytest.fixture(scope="session")
def _archives_started(dr_prefetch, request, dr_aws):
    from .checks import agent_backups

    def archives(listing, names, **kwargs):
        return agent_backups.agent_archive(dr_aws.client("s3"), listing, names, **kwargs)

    return _agent_reads(dr_prefetch, request, "BAK-AGENT-ARCHIVE", archives)


@pytest.fixture(scope="session")
def agent_state_archives(agent_state_versions, dr_agents, _archives_started):
    """BAK-AGENT-ARCHIVE's result: every agent's newest archive downloaded and read."""
    return _archives_started.result()


resolving("_versioning_started", order=45)
resolving("_archives_started", order=45)
