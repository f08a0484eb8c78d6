"""A DR target: where the DR environment lives and what it must achieve.

Defaults are the plan's real DR setup (secondary region us-west-2, context ``dr-cluster``,
namespace ``kosmos``, instance ``kosmos-prod``, bucket ``kosmos-backups``) and its objectives
(RTO 4 h, RPO 15 min, 99.9 %, PITR 30 d, agent state 7 d, hourly snapshots, 5 min trigger).
Secrets are never written in a target: a target names the environment variable that holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

TARGET_KINDS = ("aws", "sandbox")


@dataclass(frozen=True)
class Objectives:
    rto: timedelta = timedelta(hours=4)
    rpo: timedelta = timedelta(minutes=15)
    availability: float = 99.9  # percent, excluding declared maintenance
    availability_window: timedelta = timedelta(days=30)
    pitr_retention: timedelta = timedelta(days=30)
    agent_state_retention: timedelta = timedelta(days=7)
    snapshot_interval: timedelta = timedelta(hours=1)
    snapshot_grace: timedelta = timedelta(minutes=10)
    failover_trigger: timedelta = timedelta(minutes=5)
    max_restarts: int = 3  # container restarts tolerated before "crash loop"
    update_interval: timedelta = timedelta(minutes=30)
    customer_notice: timedelta = timedelta(minutes=15)
    postmortem_within: timedelta = timedelta(hours=48)


@dataclass(frozen=True)
class AwsSettings:
    profile: str = ""  # empty: the standard credential chain
    primary_region: str = "us-east-1"
    secondary_region: str = "us-west-2"
    endpoint_url: str = ""  # empty: AWS itself
    hosted_zone: str = "kosmos.internal."
    api_record: str = "api.kosmos.internal."
    # the regional endpoints the API record fails over between (REC-DNS judges from DNS alone with
    # them when Route53's control plane is unreachable); empty: api.<region>.<hosted_zone>
    secondary_api_endpoint: str = ""
    primary_api_endpoint: str = ""
    min_checker_regions: int = 2  # REC-DNS: a health check judged from fewer regions is no failover trigger


@dataclass(frozen=True)
class DatabaseSettings:
    production_instance: str = "kosmos-prod"
    replica_instance: str = "kosmos-prod-replica"
    host: str = ""  # empty: $PGHOST, else the DR instance's RDS endpoint
    port: int = 5432
    name: str = "kosmos"
    user: str = "admin"
    password_env: str = "PGPASSWORD"
    sslmode: str = "prefer"
    statement_timeout: timedelta = timedelta(seconds=30)
    restore_timeout: timedelta = timedelta(minutes=45)  # bound on waiting for a restored instance
    integrity_window: timedelta = timedelta(hours=1)  # REC-DB-INTEGRITY: rows written this long before the restore point
    schema: str = "public"  # where the application's tables are (tables and foreign keys read from its catalog)
    write_timestamp: str = "created_at"  # the column holding a row's write time (RPO, integrity window)
    window_tables: tuple[str, ...] = ("conversations",)  # tables whose recent writes must survive (the plan's query)
    expected_schema: tuple[str, ...] = ()  # more required "table" or "table.column" entries
    mutable_columns: tuple[str, ...] = ("updated_at",)  # columns left out when restored content is compared
    # restore drills: where the restored instance goes (empty: what RDS picks, the source's class)
    restore_subnet_group: str = ""
    restore_security_groups: tuple[str, ...] = ()
    restore_instance_class: str = ""


ARCHIVE_PLACEHOLDERS = ("agent", "date", "timestamp")


@dataclass(frozen=True)
class BackupSettings:
    bucket: str = "kosmos-backups"
    agent_state_prefix: str = "agent-state/"
    # an agent-state archive's key under the prefix: {agent} (the agent's archive_name), {date}
    # (YYYYMMDD, UTC), {timestamp} (YYYYMMDDTHHMMSSZ); the plan's flat layout by default
    agent_state_key: str = "{agent}-state-{date}.tar.gz"
    # files every archive must hold, relative to its state folder (empty: at least one non-empty file)
    agent_state_members: tuple[str, ...] = ()
    config_bundle: str = "config/kosmos-infrastructure.bundle"  # Git bundle of the config repository
    snapshot_window: timedelta = timedelta(hours=24)  # BAK-DB-SNAPSHOT-HOURLY: the hours judged
    pitr_slack: timedelta = timedelta(hours=1)  # BAK-DB-PITR-RETENTION: first backup after creation


@dataclass(frozen=True)
class KubernetesSettings:
    kubeconfig: str = ""  # empty: $KUBECONFIG, else ~/.kube/config
    context: str = "dr-cluster"
    namespace: str = "kosmos"
    in_cluster: bool = False  # use the pod's service account instead of a kubeconfig
    # agents found in the cluster as well as those listed: pods matching this label selector
    # (empty: only the listed agents); the pod label named by agent_label gives the agent's name
    agent_selector: str = ""
    agent_label: str = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Agent:
    name: str
    pod: str = ""  # empty: "<name>-0" (StatefulSet ordinal 0)
    selector: str = ""  # empty: "app.kubernetes.io/name=<name>"
    state_path: str = "/var/lib/agent/state/"
    archive_name: str = ""  # {agent} in backups.agent_state_key; empty: the agent's name

    @property
    def pod_name(self) -> str:
        return self.pod or f"{self.name}-0"

    @property
    def archive(self) -> str:
        return self.archive_name or self.name

    @property
    def label_selector(self) -> str:
        return self.selector or f"app.kubernetes.io/name={self.name}"


@dataclass(frozen=True)
class Endpoints:
    api: str = "https://api.kosmos.internal"
    grafana: str = "https://grafana.kosmos.internal"
    status_page: str = "https://status.kosmos.ai"
    api_token_env: str = "KOSMOS_API_TOKEN"
    grafana_token_env: str = "GRAFANA_TOKEN"
    verify_tls: bool = True
    ca_bundle: str = ""


@dataclass(frozen=True)
class Health:
    """The API's health answer (VAL-API-HEALTH): fields are dotted paths into the JSON body."""

    path: str = "/health"
    status_field: str = "status"
    ok_values: tuple[str, ...] = ("ok", "healthy", "up", "pass", "green")
    region_field: str = "region"  # empty: the body does not name its region (judged from DNS alone)
    components_field: str = "components"  # empty: the body lists no components
    required_components: tuple[str, ...] = ("database",)
    checked_at_field: str = "checked_at"  # empty: the body carries no time (cannot tell a cached answer)


@dataclass(frozen=True)
class Monitoring:
    """Grafana (VAL-MONITORING, OBJ-AVAILABILITY): the data source and the availability series."""

    datasource: str = "prometheus"  # the Prometheus data source's UID in Grafana
    availability_series: str = 'probe_success{job="kosmos-api"}'  # 1 when a probe of the API succeeded
    maintenance_tag: str = "maintenance"  # Grafana annotations with this tag declare maintenance


@dataclass(frozen=True)
class KillSwitch:
    """The KOSMOS kill switch (SCN-SECURITY-BREACH)."""

    method: str = "PUT"
    path: str = "/v1/admin/kill-switch"
    probe_path: str = "/v1/agents/{agent}/probe"  # agent work the switch must refuse
    engaged_codes: tuple[int, ...] = (423, 503)  # what agent work is answered with while engaged
    wait: timedelta = timedelta(seconds=10)  # how long the switch may take to act and to release


@dataclass(frozen=True)
class SmokeTests:
    """The plan's smoke tests (VAL-SMOKE, VAL-AGENT-ROUTING), run in a KOSMOS checkout.

    Commands are split like a shell would (no shell runs them); ``{agent}`` is the agent's name and
    ``{python}`` this Python. They run with the user's environment, plus ``env``, plus
    KOSMOS_API_URL and the API token under ``endpoints.api_token_env``.
    """

    checkout: str = ""  # the KOSMOS checkout to run in; empty: VAL-SMOKE/VAL-AGENT-ROUTING cannot be verified
    smoke_command: str = "pytest tests/integration/smoke_tests.py"
    routing_command: str = "python scripts/test_agent_routing.py --agent {agent}"
    env: tuple[tuple[str, str], ...] = ()  # extra environment (a table in the file; never secrets)
    timeout: timedelta = timedelta(minutes=10)
    # exits that mean "could not look" (credentials rejected, API unreachable): the criterion is not
    # verified instead of failed; 77 is automake's "cannot test". A pytest-like command's own 2, 3 and 4
    # (interrupted, internal error, usage error) count too.
    cannot_verify_exit_codes: tuple[int, ...] = (77,)


@dataclass(frozen=True)
class Schedule:
    """How long each exercise of the plan's Testing Schedule may be apart (SCH-*)."""

    backup_restore: timedelta = timedelta(days=31)  # monthly
    agent_drill: timedelta = timedelta(days=7)  # weekly agent-state restore
    failover_drill: timedelta = timedelta(days=92)  # quarterly
    full_simulation: timedelta = timedelta(days=366)  # annually
    tabletop: timedelta = timedelta(days=183)  # bi-annually


@dataclass(frozen=True)
class ConfigRepository:
    url: str = "https://github.com/Nuvanta-Holding/kosmos-infrastructure.git"
    branch: str = "production"
    overlay: str = "overlays/production"
    # the clone uses the user's Git credentials (credential helper, SSH agent); a token is taken
    # from the environment variable named here (empty: none) and never printed
    token_env: str = ""


@dataclass(frozen=True)
class Timeouts:
    connect: timedelta = timedelta(seconds=5)
    read: timedelta = timedelta(seconds=15)
    converge: timedelta = timedelta(minutes=2)  # how long convergent checks (pods Ready) may wait


@dataclass(frozen=True)
class SandboxSettings:
    layout: str = "default"  # the sandbox layout this target describes (kosmos-dr sandbox up --layout)


@dataclass(frozen=True)
class Target:
    name: str
    kind: str = "aws"
    description: str = ""
    production: bool = False  # drills need --dr-confirm-target as well
    aws: AwsSettings = field(default_factory=AwsSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    backups: BackupSettings = field(default_factory=BackupSettings)
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    agents: tuple[Agent, ...] = (Agent("zeus-orchestrator", archive_name="zeus"),)  # the plan's zeus-state-*.tar.gz
    endpoints: Endpoints = field(default_factory=Endpoints)
    health: Health = field(default_factory=Health)
    monitoring: Monitoring = field(default_factory=Monitoring)
    kill_switch: KillSwitch = field(default_factory=KillSwitch)
    smoke: SmokeTests = field(default_factory=SmokeTests)
    schedule: Schedule = field(default_factory=Schedule)
    config_repo: ConfigRepository = field(default_factory=ConfigRepository)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    objectives: Objectives = field(default_factory=Objectives)
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def is_sandbox(self) -> bool:
        return self.kind == "sandbox"

    def agent(self, name: str) -> Agent:
        for agent in self.agents:
            if agent.name == name:
                return agent
        known = ", ".join(a.name for a in self.agents)
        raise KeyError(f"agent {name!r} is not defined for target {self.name!r} (known: {known})")
