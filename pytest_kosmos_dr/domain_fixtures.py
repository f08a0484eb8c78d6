"""Domain fixtures: the DR environment in the plan's terms, so that a suite test states only the
criterion and the assertion. Each listing or description is made once per run (on first use) with
the session clients of ``fixtures.py``; the Kubernetes API paths, the regions each fact is read in
and the target's limits live here, not in the suites.

* ``dr_rds``: production (primary region) and the DR replica (secondary region), their snapshots
  and automated backups; ``dr_rds.production_snapshot_history`` / ``production_restore_window`` /
  ``production_backup_copies``: what each BAK-DB-* criterion judges (``checks.backups.ProductionBackups``).
* ``dr_kosmos``: the KOSMOS namespace of the DR cluster, listed afresh on each call.
* ``kosmos_workloads``, ``dr_agents``, ``backup_reference``: what several suites evaluate.
* ``agent_state_drill``: REC-AGENT-STATE's drill (``drills.agent_state``) into a scratch folder;
  ``kill_switch_control``: SCN-SECURITY-BREACH's, the switch put back as found.
* ``known_incident_start``, ``gate_verdicts``: the incident (not verified without one) and the run's gate
  board (OBJ-RTO).
* ``incident_record``, ``status_page_incident``, ``drill_ledger``: the recorded evidence (COM-*, SCH-*).

The reads the gate tests make are started early, in ``gate_reads.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from .errors import DRUnverifiable
from .prefetch import starts


class DrRds:
    """The target's databases in RDS: ``production`` and its listings are read in the primary region
    as ``PrimaryRead`` (``.value``, or ``.down`` while that region answers like an outage); the
    ``replica`` (the DR instance) and the copies in the secondary region."""

    READS = ("production", "production_snapshots", "production_automated_backups", "secondary_snapshots",
             "secondary_automated_backups", "replica", "replica_multi_az", "production_resource_id_if_answered")

    def __init__(self, aws, target, prefetch=None) -> None:
        self._aws, self._target, self._prefetch = aws, target, prefetch
        self.primary, self.secondary = target.aws.primary_region, target.aws.secondary_region
        self.production_id = target.database.production_instance
        self.replica_id = target.database.replica_instance
        self._kept: dict[str, object] = {}

    def rds(self, region: str):
        return self._aws.client("rds", region)

    def start_reads(self) -> None:
        """Begin every read of this view at once (``dr_prefetch``); each is taken on first use."""
        for name in self.READS:
            self._prefetch.start(f"dr_rds.{name}", getattr(self, f"_read_{name}"))

    def _fetched(self, name: str, keep: bool = True):
        """The read ``name``: prefetched (handed out once), else made now; kept for the run when ``keep``
        (an error is not kept: the next use asks again)."""
        if name in self._kept:
            return self._kept[name]
        read = getattr(self, f"_read_{name}")
        value = self._prefetch.take(f"dr_rds.{name}", read) if self._prefetch is not None else read()
        if keep:
            self._kept[name] = value
        return value

    @property
    def production(self):
        """The production instance (value None when RDS says it does not exist)."""
        return self._fetched("production")

    def _read_production(self):
        from .checks import backups

        return backups.PrimaryRead.of(lambda: backups.describe_instance(self.rds(self.primary), self.production_id,
                                                                         self.primary))

    @property
    def production_resource_id(self) -> str | None:
        """Production's DbiResourceId: it tells its backups from those of an earlier instance of the same
        name (None while the primary region is down: its copies are then matched by name)."""
        return (self.production.value or {}).get("DbiResourceId")

    @property
    def production_resource_id_if_answered(self) -> str | None:
        """The resource id asked afresh; None when the primary region's API does not answer (the
        copies must not depend on it: they are then matched by name only)."""
        return self._fetched("production_resource_id_if_answered", keep=False)

    def _read_production_resource_id_if_answered(self) -> str | None:
        from .checks import backups

        try:
            found = backups.describe_instance(self.rds(self.primary), self.production_id, self.primary)
        except DRUnverifiable:  # RegionDown included
            return None
        return (found or {}).get("DbiResourceId")

    @property
    def production_snapshots(self):
        """Every snapshot of production in the primary region (one paginated listing)."""
        return self._fetched("production_snapshots")

    def _read_production_snapshots(self):
        from .checks import backups

        return backups.PrimaryRead.of(lambda: backups.list_snapshots(self.rds(self.primary), self.production_id,
                                                                     self.primary))

    @property
    def production_automated_backups(self):
        """Production's automated backups in the primary region."""
        return self._fetched("production_automated_backups")

    def _read_production_automated_backups(self):
        from .checks import backups

        return backups.PrimaryRead.of(lambda: backups.list_automated_backups(self.rds(self.primary), self.primary,
                                                                             self.production_id))

    @property
    def replica(self) -> dict | None:
        """The DR instance in the secondary region, described now (None when RDS says it does not exist)."""
        return self._fetched("replica", keep=False)

    def _read_replica(self) -> dict | None:
        from .checks import backups

        return backups.describe_instance(self.rds(self.secondary), self.replica_id, self.secondary)

    @property
    def replica_multi_az(self) -> bool:
        """The DR instance's MultiAZ setting (DescribeDBInstances in the secondary region)."""
        return self._fetched("replica_multi_az", keep=False)

    def _read_replica_multi_az(self) -> bool:
        from .clients.aws import call

        described = call(f"RDS DescribeDBInstances {self.replica_id}", self._aws.client("rds").describe_db_instances,
                         DBInstanceIdentifier=self.replica_id)
        return bool(described["DBInstances"][0].get("MultiAZ"))

    @property
    def secondary_snapshots(self) -> list[dict]:
        """Every snapshot in the secondary region (copies of production's among them)."""
        return self._fetched("secondary_snapshots")

    def _read_secondary_snapshots(self) -> list[dict]:
        from .checks import backups

        return backups.list_snapshots(self.rds(self.secondary), None, self.secondary)

    @property
    def secondary_automated_backups(self) -> list[dict]:
        """Automated backups in the secondary region (replicated ones of production among them)."""
        return self._fetched("secondary_automated_backups")

    def _read_secondary_automated_backups(self) -> list[dict]:
        from .checks import backups

        return backups.list_automated_backups(self.rds(self.secondary), self.secondary)

    @property
    def production_down(self):
        """The primary region's outage as the production reads saw it, else None."""
        return (self.production.down or self.production_snapshots.down
                or self.production_automated_backups.down)

    # -- production's backups as each BAK-DB-* criterion reads them (``checks.backups.ProductionBackups``);
    # each takes only the reads its criterion needs, the secondary region's only while the primary is down
    def _backups(self, **read):
        from .checks.backups import ProductionBackups

        return ProductionBackups(self.production_id, self.primary, self.secondary, dr_id=self.replica_id, **read)

    @property
    def production_snapshot_history(self):
        """BAK-DB-SNAPSHOTS-HOURLY: production's snapshots in the primary region; while that listing
        is down, every snapshot of the secondary region (the copies among them)."""
        resource_id = self.production_resource_id
        snapshots = self.production_snapshots
        if snapshots.down is None:
            return self._backups(resource_id=resource_id, snapshots=snapshots.value)
        return self._backups(resource_id=resource_id, secondary_snapshots=self.secondary_snapshots,
                             down=snapshots.down)

    @property
    def production_restore_window(self):
        """BAK-DB-PITR-RETENTION: the DR instance described now, and production with its automated
        backups and snapshots; while the primary region is down, the secondary region's automated
        backups (the replicated ones among them) instead."""
        dr_instance = self.replica
        down = self.production_down
        if down is None:
            return self._backups(production=self.production.value, resource_id=self.production_resource_id,
                                 automated_backups=self.production_automated_backups.value,
                                 snapshots=self.production_snapshots.value, dr_instance=dr_instance)
        return self._backups(dr_instance=dr_instance, secondary_automated_backups=self.secondary_automated_backups,
                             down=down)

    @property
    def production_backup_copies(self):
        """BAK-DB-CROSS-REGION: the secondary region's snapshots and automated backups, and production's
        resource id asked afresh (None when the primary region does not answer: the copies must not
        depend on it, they are then matched by name only)."""
        snapshots, automated = self.secondary_snapshots, self.secondary_automated_backups
        return self._backups(secondary_snapshots=snapshots, secondary_automated_backups=automated,
                             resource_id=self.production_resource_id_if_answered)


@pytest.fixture(scope="session")
def dr_rds(dr_aws, dr_target, dr_prefetch) -> DrRds:
    """The target's RDS instances and backups (``dr_rds.production``, ``dr_rds.replica``, ...); every
    read starts with the run's other reads (``dr_prefetch``)."""
    return DrRds(dr_aws, dr_target, dr_prefetch)


@starts("dr_rds", order=30)
def _start_rds_reads(request, prefetch) -> None:
    request.getfixturevalue("dr_rds").start_reads()


def namespaced_path(namespace: str, group_version: str, plural: str) -> str:
    prefix = "/api" if "/" not in group_version else "/apis"
    return f"{prefix}/{group_version}/namespaces/{namespace}/{plural}"


class KosmosNamespace:
    """The DR cluster as ``kubectl`` shows it for the KOSMOS namespace; each call lists afresh (the
    first call of a listing started with the run's reads takes that one)."""

    def __init__(self, cluster, namespace: str, prefetch=None) -> None:
        self.cluster, self.namespace, self._prefetch = cluster, namespace, prefetch

    def _path(self, group_version: str, plural: str) -> str:
        return namespaced_path(self.namespace, group_version, plural)

    def _ns(self, group_version: str, plural: str) -> list[dict]:
        return self._list(self._path(group_version, plural))

    def _list(self, path: str) -> list[dict]:
        if self._prefetch is None:
            return self.cluster.list(path)
        return self._prefetch.take(f"dr_kosmos {path}", lambda: self.cluster.list(path))

    @staticmethod
    def start(prefetch, cluster, *paths: str) -> None:
        """Begin these listings now (``dr_prefetch``; ``cluster()`` gives the DR cluster in the pool); the
        next call of each on ``dr_kosmos`` takes its answer."""
        for path in paths:
            prefetch.start(f"dr_kosmos {path}", lambda path=path: cluster().list(path))

    def nodes(self) -> list[dict]:
        return self._list("/api/v1/nodes")

    def pods(self) -> list[dict]:
        return self._ns("v1", "pods")

    def workloads(self) -> list[dict]:
        """Deployments and StatefulSets (one list each)."""
        from .checks import cluster

        return cluster.workloads_of(self._ns("apps/v1", "deployments"), self._ns("apps/v1", "statefulsets"))


    def pod_metrics(self) -> list[dict]:
        return self._ns("metrics.k8s.io/v1beta1", "pods")


    def volume_claims(self) -> list[dict]:
        return self._ns("v1", "persistentvolumeclaims")

    def volumes(self) -> list[dict]:
        return self._list("/api/v1/persistentvolumes")

    def storage_classes(self) -> list[dict]:
        return self._list("/apis/storage.k8s.io/v1/storageclasses")



@pytest.fixture(scope="session")
def dr_kosmos(dr_cluster, dr_target, dr_prefetch) -> KosmosNamespace:
    """The KOSMOS namespace of the DR cluster: ``dr_kosmos.pods()``, ``.workloads()``, ``.nodes()``, ..."""
    return KosmosNamespace(dr_cluster, dr_target.kubernetes.namespace, dr_prefetch)


def _start_listings(request, prefetch, *paths: tuple[str, str] | str) -> None:
    """Begin listings of the KOSMOS namespace ((group version, plural)) or cluster-wide paths."""
    from .fixtures import later_cluster

    namespace = request.getfixturevalue("dr_target").kubernetes.namespace
    KosmosNamespace.start(prefetch, later_cluster(request, prefetch),
                          *(p if isinstance(p, str) else namespaced_path(namespace, *p) for p in paths))


@starts("kosmos_workloads", order=20)
def _start_workloads(request, prefetch) -> None:
    _start_listings(request, prefetch, ("apps/v1", "deployments"), ("apps/v1", "statefulsets"))


@pytest.fixture(scope="session")
def kosmos_workloads(dr_kosmos):
    """The KOSMOS namespace's Deployments and StatefulSets (one list each)."""
    return dr_kosmos.workloads()


@starts("VAL-POD-METRICS", order=40)
def _start_pod_metrics(request, prefetch) -> None:
    _start_listings(request, prefetch, ("metrics.k8s.io/v1beta1", "pods"))


@starts("SCN-MULTI-AZ", order=40)
def _start_storage(request, prefetch) -> None:  # SCN-MULTI-AZ: claims, volumes and storage classes
    _start_listings(request, prefetch, ("v1", "persistentvolumeclaims"), "/api/v1/persistentvolumes",
                    "/apis/storage.k8s.io/v1/storageclasses")


@pytest.fixture(scope="session")
def backup_reference(dr_incident_start):
    """The instant backup ages are measured against: the incident start, else now."""
    from .checks.backups import Reference

    return Reference.of(dr_incident_start)


class AgentRoster:
    """The agents whose state must be backed up: the targets file's, and those found running in the DR
    cluster (``discovered``: name -> where it runs) that the file does not list."""

    def __init__(self, listed: list[str], discovered: dict[str, str]) -> None:
        self.listed, self.discovered = listed, discovered

    @property
    def names(self) -> list[str]:
        return self.listed + [name for name in self.discovered if name not in self.listed]


def _roster(target, cluster) -> AgentRoster:
    from .checks import agent_backups

    listed = [agent.name for agent in target.agents]
    selector = target.kubernetes.agent_selector
    if not selector:
        return AgentRoster(listed, {})
    pods = cluster().list(f"/api/v1/namespaces/{target.kubernetes.namespace}/pods", label_selector=selector)
    return AgentRoster(listed, agent_backups.unlisted_running_agents(pods, target.kubernetes.agent_label,
                                                                      target.agents))


@starts("dr_agents", order=20)
def _start_roster(request, prefetch) -> None:
    from .fixtures import later_cluster

    target = request.getfixturevalue("dr_target")
    cluster = later_cluster(request, prefetch) if target.kubernetes.agent_selector else None
    prefetch.start("dr_agents", _roster, target, cluster)


@pytest.fixture(scope="session")
def dr_agents(dr_target, request, dr_prefetch) -> AgentRoster:
    """Every agent: the listed ones plus the agent pods of the DR cluster (kubernetes.agent_selector; one
    read-only pod list, bounded by the target's timeouts; an unreachable cluster: could not verify).
    Without a selector, only the listed agents."""
    return dr_prefetch.take("dr_agents", lambda: _roster(dr_target, lambda: request.getfixturevalue("dr_cluster")))


@pytest.fixture(scope="session")
def drilled_agent(dr_target):
    """The agent whose state the drill restores: the target's first (the plan's zeus-orchestrator)."""
    return dr_target.agents[0]


@pytest.fixture
def agent_state_drill(dr_run, drill_lease, dr_environment, dr_target, dr_aws, agent_pod, drilled_agent, tmp_path):
    """``agent_state_drill(versions)``: the drilled agent's newest archive restored into a scratch folder
    of this run in its pod and read back (a ``CheckResult``); the folder is removed at teardown (the
    live state is untouched)."""
    from .drills import agent_state as drill

    agent = drilled_agent
    agent_pod(agent.name)  # the pod must exist (fails the test otherwise)
    files = drill.PodFiles(dr_environment.kubeconfig, dr_environment.kube_context, dr_target.kubernetes.namespace,
                           agent.pod_name)
    scratch = drill.Scratch(files, dr_run, agent.name, agent.state_path).create()

    def restore(versions):
        return drill.restore_newest_archive(scratch, agent, versions, dr_aws.client("s3"), dr_target.backups,
                                            dr_target.kubernetes.namespace, [a.name for a in dr_target.agents],
                                            tmp_path)

    try:
        yield restore
    finally:
        scratch.discard()


@pytest.fixture
def kill_switch_control(kosmos_api, dr_run, drill_lease):
    """The KOSMOS kill switch's control for SCN-SECURITY-BREACH's drill (``drills.kill_switch``); after the
    drill the switch is put back as it was found (released again only if it was found released)."""
    from .drills.kill_switch import KillSwitchControl

    keeper = KillSwitchControl.of(kosmos_api, dr_run)
    found = keeper.read()
    try:
        yield KillSwitchControl.of(kosmos_api, dr_run)
    finally:
        keeper.put_back(found)


# -- the incident and the run's gate board (OBJ-*) ----------------------------------------------------------

NO_INCIDENT_START = "not verified: no incident start (give --dr-incident-start)"
GATE_WAIT_S = 600


@pytest.fixture(scope="session")
def known_incident_start(dr_incident_start):
    """When the disaster began; without it the test is not verified (skipped with that reason)."""
    if dr_incident_start is None:
        pytest.skip(NO_INCIDENT_START)
    return dr_incident_start


@pytest.fixture
def gate_verdicts(dr_run, known_incident_start) -> list[dict]:
    """Every recovery gate test's verdict, from the run's gate board (OBJ-RTO waits for them). Not verified
    when the run left recovery gate criteria out: OBJ-RTO is judged over the whole gate catalog."""
    from . import gate_board

    _, left_out = gate_board.expected(dr_run.run_dir)
    if left_out:
        pytest.skip(f"not verified: this run left {len(left_out)} recovery gate criteria out ({', '.join(left_out)}); "
                    "OBJ-RTO needs every recovery criterion of the plan")
    verdicts, missing = gate_board.wait_for_all(dr_run.run_dir, GATE_WAIT_S)
    if missing:
        raise DRUnverifiable("OBJ-RTO", f"{len(missing)} gate tests had no verdict after {GATE_WAIT_S} s")
    return verdicts


# -- recorded evidence: the incident record (COM-*) and the drill ledger (SCH-*) ------------------------------

def _record_origin(path, dr_run, request) -> str:
    """Who wrote the record: the user (--dr-evidence) or the sandbox itself (self-attested)."""
    from . import incident_record as records

    published = {}
    if dr_run.target.is_sandbox:
        state = request.getfixturevalue("dr_environment").sandbox_state or {}
        published = {found.resolve(): key for key in ("incident_record", "previous_incident_record")
                     if (found := records.sandbox_evidence_path(state, key)) is not None}
    written_by = published.get(path.resolve())
    if written_by == "incident_record":
        return "written by the sandbox about its own incident: self-attested by the sandbox"
    if written_by == "previous_incident_record":
        return "the sandbox's seeded record of an old drill: self-attested by the sandbox"
    return "given with --dr-evidence"


@pytest.fixture(scope="module")
def incident_record_or_none(dr_run, request):
    """The validated incident record (--dr-evidence, else the sandbox's), or None when there is none; a bad
    record makes the tests broken."""
    from . import incident_record as records

    path = records.record_path_for(dr_run, lambda: request.getfixturevalue("dr_environment"))
    if path is None:
        return None
    try:
        record = records.load(path)
    except records.InvalidRecord as exc:
        raise DRUnverifiable(f"incident record {exc.path}", f"{exc.field + ': ' if exc.field else ''}{exc.problem}",
                             "fix the record; its format is in docs/evidence.md") from None
    return record.with_origin(_record_origin(path, dr_run, request))


@pytest.fixture(scope="module")
def incident_record(incident_record_or_none, dr_incident_start):
    """The record, when it describes the incident this run is about (else not verified, with the reason)."""
    from . import incident_record as records
    from .checks import communication

    if incident_record_or_none is None:
        pytest.skip(records.NO_RECORD)
    try:
        return communication.about_this_incident(incident_record_or_none, dr_incident_start)
    except communication.NotVerified as exc:
        pytest.skip(str(exc))


class IncidentShown(NamedTuple):
    """The incident COM-STATUS-PAGE looks for on the status page, and where its start came from."""

    start: object  # datetime | None
    resolved_at: object  # datetime | None
    provenance: str  # appended to the check's provenance


@pytest.fixture(scope="module")
def status_page_incident(incident_record_or_none, dr_incident_start, dr_run) -> IncidentShown:
    """The incident start (the run's, else the record's) and its resolution (from a record of this same
    incident only: the record of another incident says nothing about this one's resolution)."""
    from . import incident_record as records

    record = incident_record_or_none
    if record is not None and records.other_incident(record, dr_incident_start):
        record = None
    start = dr_incident_start or (record.started_at if record else None)
    resolved = record.resolution.resolved_at if record and record.resolution else None
    source = ("--dr-incident-start" if dr_run.options.incident_start else "the sandbox's incident"
              if dr_incident_start else f"the record {record.path}" if record else "none known")
    provenance = f"; incident start from {source}"
    if dr_run.target.is_sandbox:
        provenance += "; the sandbox's stand-in page (self-attested by the sandbox)"
    return IncidentShown(start, resolved, provenance)


@pytest.fixture(scope="module")
def drill_ledger(dr_run, request):
    """The drill ledger, read and verified: --dr-ledger, else the sandbox's, else reports/drill-ledger.jsonl."""
    from . import ledger

    path = ledger.ledger_path_for_run(dr_run, lambda: request.getfixturevalue("dr_environment").sandbox_state)
    if path is None:
        pytest.skip("not verified: no drill ledger (give --dr-ledger PATH; the sandbox published none)")
    if not path.exists():
        pytest.skip(f"not verified: no drill ledger at {path}")
    try:
        return ledger.load(path, dr_run.options.ledger_head)
    except ledger.LedgerError as exc:
        raise DRUnverifiable("drill ledger", str(exc)) from None
