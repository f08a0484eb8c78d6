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


@dataclass(frozen=True)
class BackupSettings:
    bucket: str = "kosmos-backups"
    agent_state_prefix: str = "agent-state/"
    config_bundle: str = "config/kosmos-infrastructure.bundle"  # Git bundle of the config repository


@dataclass(frozen=True)
class KubernetesSettings:
    kubeconfig: str = ""  # empty: $KUBECONFIG, else ~/.kube/config
    context: str = "dr-cluster"
    namespace: str = "kosmos"
    in_cluster: bool = False  # use the pod's service account instead of a kubeconfig


@dataclass(frozen=True)
class Agent:
    name: str
    pod: str = ""  # empty: "<name>-0" (StatefulSet ordinal 0)
    selector: str = ""  # empty: "app.kubernetes.io/name=<name>"
    state_path: str = "/var/lib/agent/state/"

    @property
    def pod_name(self) -> str:
        return self.pod or f"{self.name}-0"

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
class ConfigRepository:
    url: str = "https://github.com/Nuvanta-Holding/kosmos-infrastructure.git"
    branch: str = "production"
    overlay: str = "overlays/production"


@dataclass(frozen=True)
class Timeouts:
    connect: timedelta = timedelta(seconds=5)
    read: timedelta = timedelta(seconds=15)
    converge: timedelta = timedelta(minutes=2)  # how long convergent checks (pods Ready) may wait


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
    agents: tuple[Agent, ...] = (Agent("zeus-orchestrator"),)
    endpoints: Endpoints = field(default_factory=Endpoints)
    config_repo: ConfigRepository = field(default_factory=ConfigRepository)
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
