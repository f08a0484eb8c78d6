"""Sandbox layouts: the same DR environment under different names and contracts.

The ``default`` layout mirrors the plan's names (us-east-1 -> us-west-2, namespace ``kosmos``, bucket
``kosmos-backups``); ``alternate`` renames everything a target can name and changes every contract a
target can describe (the plan's flat archive keys, another health body, another Grafana data source,
more object kinds in the overlay). The suites pass on both with only the targets file changed, which is
how we prove no criterion hard-codes a KOSMOS name. ``target_table`` is that targets-file entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import SANDBOX_LAYOUTS


@dataclass(frozen=True)
class HealthShape:
    """How the KOSMOS API stand-in words its health answer (fields are dotted paths)."""

    status_field: str = "status"
    ok_value: str = "ok"
    degraded_value: str = "degraded"
    region_field: str = "region"
    components_field: str = "components"
    database_component: str = "database"
    checked_at_field: str = "checked_at"


@dataclass(frozen=True)
class Layout:
    name: str
    primary_region: str = "us-east-1"
    secondary_region: str = "us-west-2"
    namespace: str = "kosmos"
    bucket: str = "kosmos-backups"
    agent_state_prefix: str = "agent-state/"
    agent_state_key: str = "{agent}/{agent}-state-{timestamp}.tar.gz"
    agent_state_members: tuple[str, ...] = ("memory.json", "tasks.json")
    archive_names: dict[str, str] = field(default_factory=dict)  # agent -> {agent} in the key (default: its name)
    production_instance: str = "kosmos-prod"
    replica_instance: str = "kosmos-prod-replica"
    health_path: str = "/health"
    health: HealthShape = field(default_factory=HealthShape)
    grafana_datasource: str = "prometheus"
    availability_series: str = 'probe_success{job="kosmos-api"}'
    kill_switch_method: str = "PUT"
    kill_switch_path: str = "/v1/admin/kill-switch"
    kill_switch_codes: tuple[int, ...] = (423, 503)
    # object kinds the configuration overlay renders beyond the workloads, Services and ConfigMaps
    extra_overlay_kinds: tuple[str, ...] = ()

    def archive_name(self, agent: str) -> str:
        return self.archive_names.get(agent, agent)

    def archive_key(self, agent: str, at) -> str:
        """The full S3 key of ``agent``'s archive written at ``at`` (an aware UTC datetime)."""
        key = self.agent_state_key.format(agent=self.archive_name(agent), date=f"{at:%Y%m%d}",
                                          timestamp=f"{at:%Y%m%dT%H%M%SZ}")
        return self.agent_state_prefix + key

    def target_table(self) -> dict[str, Any]:
        """This layout's entry in a targets file (kind ``sandbox``): every name and contract it changes."""
        from . import AGENTS, SANDBOX_SCHEMA, SANDBOX_SMOKE

        shape = self.health
        return {
            "kind": "sandbox",
            "description": f"Local sandbox, layout {self.name!r} (kosmos-dr sandbox up --layout {self.name})",
            "sandbox": {"layout": self.name},
            "timeouts": {"converge": "0s"},
            "aws": {"primary_region": self.primary_region, "secondary_region": self.secondary_region},
            "database": {"production_instance": self.production_instance,
                         "replica_instance": self.replica_instance,
                         "window_tables": ["conversations", "messages"], "expected_schema": list(SANDBOX_SCHEMA)},
            "backups": {"bucket": self.bucket, "agent_state_prefix": self.agent_state_prefix,
                        "agent_state_key": self.agent_state_key,
                        "agent_state_members": list(self.agent_state_members)},
            "kubernetes": {"namespace": self.namespace, "agent_selector": "app.kubernetes.io/component=agent"},
            "agents": {agent: ({"archive_name": self.archive_names[agent]} if agent in self.archive_names else {})
                       for agent in AGENTS},
            "health": {"path": self.health_path, "status_field": shape.status_field, "ok_values": [shape.ok_value],
                       "region_field": shape.region_field, "components_field": shape.components_field,
                       "required_components": [shape.database_component],
                       "checked_at_field": shape.checked_at_field},
            "monitoring": {"datasource": self.grafana_datasource, "availability_series": self.availability_series},
            "kill_switch": {"method": self.kill_switch_method, "path": self.kill_switch_path,
                            "engaged_codes": list(self.kill_switch_codes)},
            "smoke": dict(SANDBOX_SMOKE),
        }


DEFAULT = Layout("default")

ALTERNATE = Layout(
    "alternate",
    primary_region="eu-west-1",
    secondary_region="eu-central-1",
    namespace="kosmos-dr",
    bucket="acme-kosmos-state",
    agent_state_prefix="agents/state/",
    agent_state_key="{agent}-state-{date}.tar.gz",  # the plan's flat layout: one key a day, S3 versions within it
    agent_state_members=("memory.json",),
    archive_names={"zeus-orchestrator": "zeus", "athena-analyst": "athena", "hermes-courier": "hermes"},
    production_instance="kosmos-main",
    replica_instance="kosmos-main-dr",
    health_path="/actuator/health",
    # Spring Boot actuator's shape: UP/DOWN, components by name, extra facts under "details"
    health=HealthShape(status_field="status", ok_value="UP", degraded_value="DOWN", region_field="details.region",
                       components_field="components", database_component="db", checked_at_field="details.time"),
    grafana_datasource="kosmos-metrics",
    availability_series='probe_success{job="blackbox-kosmos-api"}',
    kill_switch_method="POST",
    kill_switch_path="/api/admin/kill-switch",
    kill_switch_codes=(503,),
    extra_overlay_kinds=("Ingress", "HorizontalPodAutoscaler", "ServiceAccount", "Role", "RoleBinding",
                         "PodDisruptionBudget"),
)

LAYOUTS = {layout.name: layout for layout in (DEFAULT, ALTERNATE)}
assert tuple(LAYOUTS) == SANDBOX_LAYOUTS


def layout_named(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown sandbox layout {name!r} (known: {', '.join(LAYOUTS)})") from None


def target_toml(layout: Layout, name: str | None = None) -> str:
    """The targets-file text for ``layout`` (``[targets.NAME...]`` tables), ready to paste."""
    from . import layout_target_name

    name = name or layout_target_name(layout.name)
    lines = [f"# kosmos-dr sandbox, layout {layout.name!r}: `pytest suites/ --dr-target {name}`"]

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        text = str(v).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'

    def emit(path: str, table: dict[str, Any]) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines.append(f"[{path}]")
        lines.extend(f"{k} = {value(v)}" for k, v in scalars.items())
        for key, sub in tables.items():
            lines.append("")
            emit(f"{path}.{key}", sub)

    emit(f"targets.{name}", layout.target_table())
    return "\n".join(lines) + "\n"
