"""Session fixtures: the target, its objectives, and one client per part of the DR environment.

Every client is created lazily (only tests that need it pay for it) with bounded timeouts.
When a client cannot be created, the tests that need it are *broken* with one clear reason.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .criteria_marks import drill_refusal, item_criteria, target_name_of
from .errors import DRCheckFailed, DRUnverifiable, SandboxError
from .prefetch import Prefetch, finished_value, starters_for, starts
from .results import CheckResult
from .session import activate, dr_plugin

if TYPE_CHECKING:  # imported when a DR run starts, not by every pytest process
    from .run import TargetRun
    from .target import Objectives, Target


@pytest.fixture(scope="session")
def dr_run(request: pytest.FixtureRequest) -> TargetRun:
    """This target's part of the run (options, target, sandbox lease); one per target of --dr-target."""
    plugin = dr_plugin(request.config) or activate(request.config)  # a DR fixture asked for at run time
    return plugin.target_run(getattr(request, "param", None))


@pytest.fixture(scope="session")
def dr_prefetch(dr_run):
    """This target's read pool (``prefetch.Prefetch``): the independent reads of its selected tests start
    together at its first test; each test takes what was fetched. One per target: reads are keyed by
    what they read (``"BAK-CONFIG-MIRROR"``), so two targets must never share a pool."""
    prefetch = Prefetch()
    yield prefetch
    prefetch.close()


_READS_STARTED = pytest.StashKey[set]()  # the targets whose reads were started


def _start_reads(request: pytest.FixtureRequest, item) -> None:
    """Once per target, at its first test that uses a prefetched read: start the reads behind every
    prefetched fixture (or criterion) a selected test of that target uses (``prefetch.starts``). A starter
    that cannot even begin (no client) is ignored: the test that needs the value reports why, as before."""
    stash = request.session.stash
    if hasattr(request.config, "workerinput"):
        # a pytest-xdist worker runs a share of the tests it learns one by one: starting every selected
        # test's reads would make them in each worker (twice the requests, and two runs of the plan's
        # commands writing one JUnit file). Each test makes its own reads; the workers are the concurrency.
        return
    target = target_name_of(item)  # None: the run has one target
    started = stash.setdefault(_READS_STARTED, set())
    if target in started or not starters_for([item]):
        return
    started.add(target)
    chosen = starters_for([i for i in request.session.items if target_name_of(i) == target])
    prefetch = request.getfixturevalue("dr_prefetch")
    for starter in chosen:
        try:
            starter(request, prefetch)
        except Exception:  # the fixture's own resolution raises the same error where it is needed
            pass


@pytest.fixture(scope="session", autouse=True)
def _dr_reads_started_first(request: pytest.FixtureRequest):
    """The run's reads start before the first test's own fixtures, when that test uses one."""
    first = getattr(request, "_pyfuncitem", None) or (request.session.items or [None])[0]
    if first is not None:
        _start_reads(request, first)


@pytest.fixture(autouse=True)
def _dr_reads_started(request: pytest.FixtureRequest):
    """Else at the first test that uses one (a test before it, e.g. one that breaks a component, runs
    first; that test's own session fixtures were read already and are not read again)."""
    _start_reads(request, request.node)


@pytest.fixture(scope="session")
def dr_target(dr_run: TargetRun) -> Target:
    """The DR target chosen with --dr-target."""
    return dr_run.target


@pytest.fixture(scope="session")
def dr_objectives(dr_target: Target) -> Objectives:
    """RTO, RPO, retention and the other limits, from the target (plan defaults)."""
    return dr_target.objectives


@pytest.fixture(scope="session")
def dr_sandbox(dr_run: TargetRun):
    """The running sandbox (sandbox target only; other targets skip tests that need it)."""
    if not dr_run.target.is_sandbox:
        pytest.skip(f"needs the sandbox target (this run targets {dr_run.target.name!r})")
    try:
        return dr_run.sandbox()
    except SandboxError as exc:
        raise DRUnverifiable("sandbox", str(exc)) from None


@pytest.fixture(scope="session")
def dr_environment(dr_run: TargetRun):
    """Endpoints and credentials of the target's DR environment."""
    try:
        return dr_run.environment
    except SandboxError as exc:
        raise DRUnverifiable("sandbox", str(exc)) from None


@pytest.fixture(scope="session")
def dr_incident_start(dr_run: TargetRun) -> datetime | None:
    """When the disaster began: --dr-incident-start, or the sandbox's recorded incident."""
    try:
        return dr_run.incident_start
    except SandboxError as exc:
        raise DRUnverifiable("sandbox", str(exc)) from None


@pytest.fixture(scope="session")
def kosmos_api(dr_environment, dr_target):
    """httpx client for the KOSMOS API of the DR region (bearer token from the target)."""
    from .clients.http import http_client

    with http_client(dr_environment.api_url, dr_target.timeouts, dr_environment.api_token,
                     dr_environment.verify_tls) as client:
        yield client


@pytest.fixture(scope="session")
def grafana(dr_environment, dr_target):
    """httpx client for the DR region's Grafana."""
    from .clients.http import http_client

    with http_client(dr_environment.grafana_url, dr_target.timeouts, dr_environment.grafana_token,
                     dr_environment.verify_tls) as client:
        yield client


@pytest.fixture(scope="module")
def status_page(dr_environment, dr_target):
    """httpx client for the public status page (no credentials: it is public)."""
    from .clients.http import http_client

    if not dr_environment.status_page_url:
        raise DRUnverifiable("status page", "the target has no status page URL", "set endpoints.status_page")
    with http_client(dr_environment.status_page_url, dr_target.timeouts, None, dr_environment.verify_tls) as client:
        yield client


def _connect_dr_database(environment, target):
    from .clients.database import connect_or_unverifiable

    return connect_or_unverifiable(environment.database, target.timeouts.connect, target.database.statement_timeout)


@starts("dr_database", order=5)
def _start_dr_database(request, prefetch) -> None:
    """Connect in the database lane: the reads that share the connection queue behind it there."""
    environment, target = request.getfixturevalue("dr_environment"), request.getfixturevalue("dr_target")
    connecting = prefetch.start("dr_database", _connect_dr_database, environment, target, lane="database")
    if connecting is None:
        return

    def close_untaken() -> None:
        connection = finished_value(connecting) if prefetch.started("dr_database") is connecting else None
        if connection is not None:  # opened, and no test took it
            connection.close()

    prefetch.on_close(close_untaken)


@pytest.fixture(scope="session")
def dr_database(dr_environment, dr_target, dr_prefetch):
    """A psycopg connection to the DR database: read-only session, statement timeout."""
    conn = dr_prefetch.take("dr_database", lambda: _connect_dr_database(dr_environment, dr_target))
    yield conn
    conn.close()


@pytest.fixture
def dr_check(request: pytest.FixtureRequest):
    """Record a check's result on the test (for reports) and fail the test when it did not pass.

    The test's ``dr_criterion`` marker decides the criterion: a result that names none is stamped with
    it (the marker must then name exactly one); a result naming another criterion is refused."""
    own = item_criteria(request.node)

    def verify(result: CheckResult) -> CheckResult:
        __tracebackhide__ = True
        from .evidence import attach

        if not result.criterion:
            if len(own) != 1:
                raise DRUnverifiable(
                    "check identity", f"a result naming no criterion was checked in a test marked "
                    f"{', '.join(own) or 'with no dr_criterion'}; the result was not counted",
                    "mark the test with exactly one dr_criterion, or have the check name its criterion")
            result.criterion = own[0]
        if result.criterion not in own:  # a result may only speak for the test's own criteria
            raise DRUnverifiable(
                "check identity", f"a {result.criterion} result was checked in a test marked "
                f"{', '.join(own) or 'with no dr_criterion'}; the result was not counted",
                f"mark the test @pytest.mark.dr_criterion({result.criterion!r}) or check its own criterion")
        (dr_plugin(request.config) or activate(request.config)).record_result(request.node, result)
        attach(result)
        if not result.passed:
            raise DRCheckFailed(f"{result.criterion}: {result.summary}")
        return result

    return verify


@pytest.fixture(scope="session")
def dr_aws(dr_environment, dr_target):
    """AWS clients for the target (botocore's, as boto3 makes them): ``dr_aws.client("rds")`` (secondary
    region by default)."""
    from .clients.aws import AwsClients

    return AwsClients(dr_target.aws.profile, dr_target.aws.secondary_region, dr_target.timeouts,
                      dr_environment.aws_endpoint_url, dr_environment.aws_credentials,
                      primary_region=dr_target.aws.primary_region)


def _connect_cluster(environment, target):
    from .clients.kube import connect

    return connect(environment.kubeconfig, environment.kube_context, target.timeouts,
                   in_cluster=target.kubernetes.in_cluster)


@starts("dr_cluster", order=-10)
def _start_dr_cluster(request, prefetch) -> None:
    """Connect (importing the Kubernetes client is the slow part) in the pool, first of all."""
    environment, target = request.getfixturevalue("dr_environment"), request.getfixturevalue("dr_target")
    connecting = prefetch.start("dr_cluster", _connect_cluster, environment, target)
    if connecting is None:
        return

    def close_untaken() -> None:
        cluster = finished_value(connecting) if prefetch.started("dr_cluster") is connecting else None
        if cluster is not None:  # connected, and no test took it
            cluster.close()

    prefetch.on_close(close_untaken)


def later_cluster(request, prefetch):
    """A callable giving the DR cluster for a started read: the connection started with the run's reads,
    else the ``dr_cluster`` fixture (resolved now; its error raised here, as in any test that needs it)."""
    connecting = prefetch.started("dr_cluster")
    if connecting is not None:
        return connecting.result
    cluster = request.getfixturevalue("dr_cluster")
    return lambda: cluster


@pytest.fixture(scope="session")
def dr_cluster(dr_environment, dr_target, dr_prefetch):
    """The DR cluster's Kubernetes API, for the target's kubeconfig and context."""
    cluster = dr_prefetch.take("dr_cluster", lambda: _connect_cluster(dr_environment, dr_target))
    yield cluster
    cluster.close()


def _kosmos_pods_path(target) -> str:
    return f"/api/v1/namespaces/{target.kubernetes.namespace}/pods"


@starts("dr_nodes", "kosmos_pods", order=20)
def _start_cluster_lists(request, prefetch) -> None:
    cluster = later_cluster(request, prefetch)
    prefetch.start("dr_nodes", lambda: cluster().list("/api/v1/nodes"))
    path = _kosmos_pods_path(request.getfixturevalue("dr_target"))
    prefetch.start("kosmos_pods", lambda: cluster().list(path))


@pytest.fixture(scope="session")
def dr_nodes(dr_cluster, dr_prefetch):
    """Every node of the DR cluster (one paginated list)."""
    return dr_prefetch.take("dr_nodes", lambda: dr_cluster.list("/api/v1/nodes"))


@pytest.fixture(scope="session")
def kosmos_pods(dr_cluster, dr_target, dr_prefetch):
    """Every pod in the KOSMOS namespace (one paginated list)."""
    return dr_prefetch.take("kosmos_pods", lambda: dr_cluster.list(_kosmos_pods_path(dr_target)))


@pytest.fixture(scope="session")
def agent_pod(kosmos_pods, dr_target):
    """``agent_pod("zeus-orchestrator")``: that agent's pod (by the target's pod name)."""

    def find(agent_name: str) -> dict:
        agent = dr_target.agent(agent_name)
        for pod in kosmos_pods:
            if pod["metadata"]["name"] == agent.pod_name:
                return pod
        raise DRCheckFailed(f"agent {agent_name}: pod {agent.pod_name} not found in {dr_target.kubernetes.namespace}")

    return find


def _clone_config(environment, target, dest):
    from .checks.configuration import clone_production

    return clone_production(environment.config_repo_url, target.config_repo.branch, dest)


def _configuration_clone(dr_run, environment, target):
    """The clone started with the session (``early_config``) when there is one, else a fresh one."""
    early = dr_run.early_config
    return early.checkout() if early is not None else _clone_config(environment, target, _checkout_dest(dr_run))


def _start_kubectl_jobs(checkout, target, environment, dr_run=None) -> dict:
    from .checks.configuration import start_apply, start_render

    overlay = target.config_repo.overlay
    early = getattr(dr_run, "early_config", None)
    render = (early.take_render() if early is not None else None) or start_render(checkout, overlay)
    # one rendering: the GitOps check reads it, the dry run applies it
    return {"render": render,
            "apply": start_apply(checkout, overlay, environment.kubeconfig, environment.kube_context, render=render)}


def _kill_jobs(jobs: dict) -> None:
    for job in jobs.values():
        if job is not None:
            job.kill()


def _checkout_dest(dr_run) -> Path:
    """Where this process clones the configuration repository: a private folder in the run's folder
    (removed with it; xdist workers share that folder, so one each). Not pytest's ``tmp_path_factory``:
    it keeps the last three runs' folders (a clone whose remote URL may name a token) and prunes older
    ones at the session's end, other pytest runs' included."""
    import tempfile

    dr_run.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="config-repo-", dir=dr_run.run_dir)) / "checkout"


@starts("config_checkout", order=0)
def _start_config_checkout(request, prefetch) -> None:
    """The clone, then (when a test needs them) the two kubectl runs over it, in the pool."""
    environment, target = request.getfixturevalue("dr_environment"), request.getfixturevalue("dr_target")
    dr_run = request.getfixturevalue("dr_run")
    cloning = prefetch.start("config_checkout", _configuration_clone, dr_run, environment, target)
    if cloning is not None and any("config_kubectl_jobs" in getattr(item, "fixturenames", ()) for item in request.session.items):
        starting = prefetch.start("config_kubectl_jobs",
                                  lambda: _start_kubectl_jobs(cloning.result(), target, environment, dr_run),
                                  after=(cloning,))
        if starting is None:
            return

        def kill_untaken() -> None:  # jobs no test took (the session ended early)
            jobs = finished_value(starting) if prefetch.started("config_kubectl_jobs") is starting else None
            if jobs is not None:
                _kill_jobs(jobs)

        prefetch.on_close(kill_untaken)


@pytest.fixture(scope="session")
def config_checkout(dr_environment, dr_target, dr_run, dr_prefetch):
    """A fresh clone of the configuration repository's production branch."""
    return dr_prefetch.take("config_checkout", lambda: _configuration_clone(dr_run, dr_environment, dr_target))


class RestoredDatabase:
    """A throwaway instance restored by this run: read-only connection and where it came from."""

    def __init__(self, outcome, connection) -> None:
        self.outcome = outcome
        self.connection = connection
        self.identifier = outcome.identifier
        self.restore_point = outcome.restore_time
        self.method = outcome.method
        self.source = outcome.source

    def __repr__(self) -> str:
        return f"<RestoredDatabase {self.identifier} {self.method} @ {self.outcome.restore_point}>"


@pytest.fixture(scope="session")
def drill_lease(request: pytest.FixtureRequest, dr_run, dr_target):
    """The target's drill lease (a Kubernetes Lease in its namespace), held while this run's drills run.

    Every drill fixture needs it: taken before the first drill changes anything, renewed by a
    heartbeat, deleted at the end of the session (also on failure and Ctrl-C). Held by another run:
    the drills are refused (could not verify), so two runs never interleave on one target."""
    from .drills.lease import DrillLease

    refusal = drill_refusal(dr_run)
    if refusal:
        pytest.skip(refusal)
    request.getfixturevalue("dr_prefetch").wait_all()  # no prefetched read overlaps a drill's change
    cluster = request.getfixturevalue("dr_cluster")
    lease = DrillLease(cluster, dr_target.kubernetes.namespace, dr_run).acquire()
    try:
        yield lease
    finally:
        lease.release()


def _restored(dr_run, dr_aws, dr_target, dr_environment, method: str):
    from .clients.database import connect_or_unverifiable
    from .drills import database_restore as restore
    from .drills.resources import drill_tags
    from .environment import DatabaseEndpoint

    primary = dr_target.aws.primary_region
    # the regional outage's path restores in the DR region and never asks the primary one
    region = dr_target.aws.secondary_region if method == "cross-region-snapshot" else primary
    source = dr_target.database.production_instance
    short = {"point-in-time": "pitr", "snapshot": "snap", "cross-region-snapshot": "xreg"}[method]
    identifier = f"kosmos-dr-{short}-{dr_run.run_id}"
    tags = drill_tags(dr_run.run_id, dr_run.owner_pid, f"{method} restore drill")
    timeout = dr_target.database.restore_timeout
    rds = dr_aws.client("rds", region)
    extra = restore.networking(dr_target.database)  # subnet group, security groups, instance class

    def perform():
        if method == "point-in-time":
            return restore.restore_point_in_time(rds, region, source, identifier, dr_run.options.restore_time, tags,
                                                 dr_run.run_dir, dr_run.run_id, timeout, run=dr_run, extra=extra)
        if method == "cross-region-snapshot":
            return restore.restore_cross_region_copy(rds, region, source, primary, identifier, tags, dr_run.run_dir,
                                                     dr_run.run_id, timeout, run=dr_run, extra=extra)
        return restore.restore_snapshot(rds, region, source, identifier, tags, dr_run.run_dir, dr_run.run_id, timeout,
                                        run=dr_run, extra=extra)

    outcome = restore.restore_once(dr_run.run_dir, method, perform)
    db = dr_environment.database
    endpoint = DatabaseEndpoint(outcome.host, outcome.port, db.dbname, db.user, db.password, db.sslmode)
    conn = connect_or_unverifiable(endpoint, dr_target.timeouts.connect, dr_target.database.statement_timeout)
    return RestoredDatabase(outcome, conn)


@pytest.fixture(scope="session")
def restored_database(dr_run, drill_lease, dr_aws, dr_target, dr_environment):
    """Production restored to --dr-restore-time (or the latest restorable time) in a new instance.

    Needs --dr-allow-restore. Once per run (also under xdist); deleted when the run ends.
    """
    restored = _restored(dr_run, dr_aws, dr_target, dr_environment, "point-in-time")
    yield restored
    restored.connection.close()


@pytest.fixture(scope="session")
def regional_restored_database(dr_run, drill_lease, dr_aws, dr_target, dr_environment):
    """The newest cross-region copy of production's snapshots restored in the DR region (the recovery
    path of a regional outage: it works with the primary region down). Needs --dr-allow-restore;
    once per run; deleted when the run ends."""
    restored = _restored(dr_run, dr_aws, dr_target, dr_environment, "cross-region-snapshot")
    yield restored
    restored.connection.close()


@pytest.fixture(scope="session")
def snapshot_restored_database(dr_run, drill_lease, dr_aws, dr_target, dr_environment):
    """Production's newest snapshot restored into a new instance (needs --dr-allow-restore)."""
    restored = _restored(dr_run, dr_aws, dr_target, dr_environment, "snapshot")
    yield restored
    restored.connection.close()


@pytest.fixture(scope="session")
def config_kubectl_jobs(config_checkout, dr_target, dr_environment, dr_prefetch, dr_run):
    """``kubectl kustomize`` and ``kubectl apply --dry-run=server`` of the overlay, started together."""
    jobs = dr_prefetch.take("config_kubectl_jobs", lambda: _start_kubectl_jobs(config_checkout, dr_target,
                                                                               dr_environment, dr_run))
    yield jobs
    _kill_jobs(jobs)
