"""Load and validate DR targets from ``kosmos-dr.toml`` (or ``[tool.kosmos-dr]`` in pyproject.toml).

Every problem becomes one ``DRConfigError`` line naming the file, the key and what is expected.
Targets in the file are merged over the built-in ``sandbox`` and ``dr-cluster`` targets.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from .errors import DRConfigError
from .sandbox import SANDBOX_LAYOUTS, SANDBOX_SCHEMA, SANDBOX_SMOKE
from .target import ARCHIVE_PLACEHOLDERS, TARGET_KINDS, Agent, Target
from .timeparse import parse_duration

CONFIG_FILE = "kosmos-dr.toml"
CONTROL_CHARACTERS = ("\u2028", "\u2029", "\x85", "\x7f")  # Unicode line separators and DEL
PYPROJECT_TABLE = "kosmos-dr"

# Built-in targets: the sandbox (default) and the plan's real DR setup (dataclass defaults).
BUILTIN_TARGETS: dict[str, dict[str, Any]] = {
    "sandbox": {
        "kind": "sandbox",
        "description": "Local DR environment started by the plugin (no cloud needed)",
        "agents": {"zeus-orchestrator": {}, "athena-analyst": {}, "hermes-courier": {}},
        # the sandbox does not converge: it is what it is, so its checks need not wait
        "timeouts": {"converge": "0s"},
        # the default layout keeps per-agent folders of timestamped archives (the alternate one,
        # `kosmos-dr sandbox up --layout alternate`, the plan's flat daily keys)
        "backups": {"agent_state_key": "{agent}/{agent}-state-{timestamp}.tar.gz",
                    "agent_state_members": ["memory.json", "tasks.json"]},
        "database": {"window_tables": ["conversations", "messages"], "expected_schema": list(SANDBOX_SCHEMA)},
        "kubernetes": {"agent_selector": "app.kubernetes.io/component=agent"},
        "smoke": dict(SANDBOX_SMOKE),
    },
    "dr-cluster": {
        "kind": "aws",
        "description": "The plan's DR setup: us-west-2, context dr-cluster, namespace kosmos",
        "production": True,  # real endpoints: drills also need --dr-confirm-target dr-cluster
    },
}
DEFAULT_TARGET = "sandbox"


@dataclass(frozen=True)
class DRConfig:
    """All targets known to a run, and where they came from."""

    targets: dict[str, Target]
    source: str  # the file read, or "built-in"
    default_target: str = DEFAULT_TARGET

    def target(self, name: str) -> Target:
        try:
            return self.targets[name]
        except KeyError:
            known = ", ".join(sorted(self.targets))
            raise DRConfigError(
                f"unknown DR target {name!r} (known targets: {known}; defined in {self.source})"
            ) from None


def find_config(rootdir: Path, explicit: str | None = None) -> tuple[Path | None, dict[str, Any]]:
    """The config file and its kosmos-dr table: ``--dr-config``, else kosmos-dr.toml, else pyproject."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise DRConfigError(f"{path}: no such config file (check --dr-config)")
        data = _read_toml(path)
        if path.name == "pyproject.toml":
            return path, data.get("tool", {}).get(PYPROJECT_TABLE, {})
        return path, data
    candidate = rootdir / CONFIG_FILE
    if candidate.is_file():
        return candidate, _read_toml(candidate)
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get(PYPROJECT_TABLE)
        if table is not None:
            return pyproject, table
    return None, {}


def load_config(rootdir: Path | str = ".", explicit: str | None = None) -> DRConfig:
    """Read, merge over the built-ins and validate all targets."""
    path, data = find_config(Path(rootdir), explicit)
    where = str(path) if path else "built-in"
    if path and path.name == "pyproject.toml":
        where = f"{path} [tool.{PYPROJECT_TABLE}]"
    _check_keys(where, "", data, {"default_target", "targets"})
    raw_targets = data.get("targets", {})
    if not isinstance(raw_targets, dict):
        raise DRConfigError(f"{where}: targets: expected a table of named targets")
    merged = {name: dict(body) for name, body in BUILTIN_TARGETS.items()}
    for name, body in raw_targets.items():
        if not isinstance(body, dict):
            raise DRConfigError(f"{where}: targets.{name}: expected a table")
        base = merged.get(name) or _sandbox_layout_base(where, name, body)
        merged[name] = _deep_merge(base, body)
    targets = {name: _build_target(where, name, body) for name, body in merged.items()}
    default = data.get("default_target", DEFAULT_TARGET)
    if default not in targets:
        raise DRConfigError(
            f"{where}: default_target: unknown target {default!r} (known: {', '.join(sorted(targets))})"
        )
    return DRConfig(targets=targets, source=where, default_target=default)


MAX_CONFIG_BYTES = 1 << 20  # a targets file is a few KB; a huge one is a mistake


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise DRConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB: not a targets file")
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DRConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DRConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise DRConfigError(f"{path}: nested too deeply to be a targets file") from None
    except OSError as exc:
        raise DRConfigError(f"{path}: cannot read config file: {exc.strerror}") from None


def _sandbox_layout_base(where: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A new target of kind ``sandbox`` describes a sandbox layout: what it leaves out is the layout's."""
    if body.get("kind") != "sandbox":
        return {}
    sandbox = body.get("sandbox")
    layout_name = sandbox.get("layout", "default") if isinstance(sandbox, dict) else "default"
    if layout_name not in SANDBOX_LAYOUTS:
        raise DRConfigError(f"{where}: targets.{name}.sandbox.layout: expected one of {', '.join(SANDBOX_LAYOUTS)}, "
                            f"got {layout_name!r}")
    from .sandbox.layout import layout_named

    base = layout_named(layout_name).target_table()
    base.pop("description", None)
    if "agents" in body:  # the agents listed are the file's; the cluster's others are found by agent_selector
        base.pop("agents")
    return base


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _check_keys(where: str, prefix: str, data: dict[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            raise DRConfigError(
                f"{where}: {prefix}{key}: unknown key (expected one of: {', '.join(sorted(allowed))})"
            )


def _build_target(where: str, name: str, body: dict[str, Any]) -> Target:
    check_name(name, f"{where}: targets")
    prefix = f"targets.{name}."
    sections = {f.name: f for f in dataclasses.fields(Target)}
    _check_keys(where, prefix, body, set(sections) - {"name"})
    values: dict[str, Any] = {"name": name}
    for key, raw in body.items():
        spec = sections[key]
        if key == "agents":
            values[key] = _build_agents(where, prefix + key, raw)
        elif dataclasses.is_dataclass(spec.default_factory if spec.default_factory is not dataclasses.MISSING else None):
            values[key] = _build_section(where, prefix + key, spec.default_factory, raw)
        else:
            values[key] = _coerce(where, prefix + key, spec.type, raw)
    if values.get("kind", "aws") not in TARGET_KINDS:
        raise DRConfigError(
            f"{where}: {prefix}kind: expected one of {', '.join(TARGET_KINDS)}, got {values['kind']!r}"
        )
    target = Target(**values)
    _check_ranges(where, prefix, target)
    return target


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_name(name: Any, where: str) -> str:
    """Target and agent names end up in file names, tags and RDS identifiers: letters, digits, '.', '_', '-'."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise DRConfigError(f"{where}: name {name!r}: expected 1-63 letters, digits, '.', '_' or '-', "
                            "starting with a letter or digit")
    return name


# (section, field) -> (lowest, highest, inclusive-low); durations in seconds
_RANGES: dict[tuple[str, str], tuple[float, float, bool]] = {
    ("objectives", "availability"): (0.0, 100.0, False),
    ("objectives", "max_restarts"): (0, 10_000, True),
    ("database", "port"): (1, 65535, True),
    ("timeouts", "converge"): (0, 86400, True),
    ("objectives", "snapshot_grace"): (0, 86400, True),
    ("aws", "min_checker_regions"): (1, 64, True),
    ("backups", "pitr_slack"): (0, 7 * 86400, True),
}
_CHECKED_SECTIONS = ("objectives", "database", "timeouts", "aws", "backups", "kill_switch", "smoke", "schedule")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
COMMAND_PLACEHOLDERS = ("agent", "python")
KILL_SWITCH_METHODS = ("PUT", "POST", "PATCH")


def _check_ranges(where: str, prefix: str, target: Target) -> None:
    """Numbers and durations within what a DR setting can mean (NaN, 150 %, negative, zero timeouts)."""
    import math

    for section in _CHECKED_SECTIONS:
        values = getattr(target, section)
        for field in dataclasses.fields(values):
            value = getattr(values, field.name)
            key = f"{prefix}{section}.{field.name}"
            bounds = _RANGES.get((section, field.name))
            if isinstance(value, timedelta):
                low = bounds[0] if bounds else 0
                if value.total_seconds() < low or (not bounds and value.total_seconds() <= 0):
                    raise DRConfigError(f"{where}: {key}: must be longer than 0 s, got {value}")
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and bounds:
                low, high, inclusive = bounds
                if (isinstance(value, float) and not math.isfinite(value)) or value > high or (
                        value < low if inclusive else value <= low):
                    raise DRConfigError(f"{where}: {key}: expected a number {'from' if inclusive else 'above'} "
                                        f"{low} up to {high}, got {value!r}")
    for agent in target.agents:
        check_name(agent.name, f"{where}: {prefix}agents")
        if agent.archive_name:
            check_name(agent.archive_name, f"{where}: {prefix}agents.{agent.name}.archive_name")
    _check_contracts(where, prefix, target)


def _placeholders(where: str, key: str, text: str, allowed: tuple[str, ...]) -> set[str]:
    """The ``{name}`` placeholders of ``text``; an unknown one or a broken brace is a config error."""
    import string

    try:
        names = {name for _, name, spec, conv in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise DRConfigError(f"{where}: {key}: {exc} (write a literal brace as {{{{ or }}}})") from None
    unknown = sorted(n for n in names if n not in allowed)
    if unknown:
        raise DRConfigError(f"{where}: {key}: unknown placeholder {{{unknown[0]}}} "
                            f"(expected {', '.join('{' + a + '}' for a in allowed)})")
    return names


def _check_contracts(where: str, prefix: str, target: Target) -> None:
    """The service contracts a target describes are usable: patterns, paths, codes, commands."""
    import shlex

    key = f"{prefix}backups.agent_state_key"
    names = _placeholders(where, key, target.backups.agent_state_key, ARCHIVE_PLACEHOLDERS)
    if "agent" not in names:
        raise DRConfigError(f"{where}: {key}: must contain {{agent}}: the key tells whose state an archive holds")
    if not target.backups.agent_state_key.endswith((".tar.gz", ".tgz")):
        raise DRConfigError(f"{where}: {key}: must end with .tar.gz or .tgz (the plan's archives are tar -xzf'd)")
    for member in target.backups.agent_state_members:
        if not member or member.startswith("/") or ".." in member.split("/"):
            raise DRConfigError(f"{where}: {prefix}backups.agent_state_members: {member!r}: "
                                "expected a relative path inside the agent's state folder")
    if not target.database.window_tables:
        raise DRConfigError(f"{where}: {prefix}database.window_tables: name at least one table whose recent "
                            "writes must survive (the plan's: conversations)")
    identifier = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
    for field in ("schema", "write_timestamp"):
        if not identifier.fullmatch(getattr(target.database, field)):
            raise DRConfigError(f"{where}: {prefix}database.{field}: expected an SQL identifier, "
                                f"got {getattr(target.database, field)!r}")
    for field in ("window_tables", "mutable_columns", "expected_schema"):
        for entry in getattr(target.database, field):
            parts = entry.split(".")
            if len(parts) > (2 if field == "expected_schema" else 1) or not all(identifier.fullmatch(x) for x in parts):
                shape = '"table" or "table.column"' if field == "expected_schema" else "an SQL identifier"
                raise DRConfigError(f"{where}: {prefix}database.{field}: {entry!r}: expected {shape}")
    for section, field in (("health", "path"), ("kill_switch", "path"), ("kill_switch", "probe_path")):
        value = getattr(getattr(target, section), field)
        if not value.startswith("/"):
            raise DRConfigError(f"{where}: {prefix}{section}.{field}: expected a path starting with /, got {value!r}")
    _placeholders(where, f"{prefix}kill_switch.probe_path", target.kill_switch.probe_path, ("agent",))
    if not target.health.status_field:
        raise DRConfigError(f"{where}: {prefix}health.status_field: must name the body's status field")
    if target.health.required_components and not target.health.components_field:
        raise DRConfigError(f"{where}: {prefix}health.required_components: the body lists no components "
                            "(health.components_field is empty): set it, or set required_components = []")
    if not target.health.ok_values:
        raise DRConfigError(f"{where}: {prefix}health.ok_values: name at least one healthy status")
    if target.kill_switch.method.upper() not in KILL_SWITCH_METHODS:
        raise DRConfigError(f"{where}: {prefix}kill_switch.method: expected one of {', '.join(KILL_SWITCH_METHODS)}, "
                            f"got {target.kill_switch.method!r}")
    if not target.kill_switch.engaged_codes or any(not 400 <= c <= 599 for c in target.kill_switch.engaged_codes):
        raise DRConfigError(f"{where}: {prefix}kill_switch.engaged_codes: expected HTTP error codes "
                            f"(400-599), got {list(target.kill_switch.engaged_codes)}")
    for field in ("smoke_command", "routing_command"):
        command = getattr(target.smoke, field)
        _placeholders(where, f"{prefix}smoke.{field}", command, COMMAND_PLACEHOLDERS)
        try:
            if not shlex.split(command):
                raise ValueError("empty command")
        except ValueError as exc:
            raise DRConfigError(f"{where}: {prefix}smoke.{field}: {exc}") from None
    for name, _ in target.smoke.env:
        if not ENV_NAME.fullmatch(name):
            raise DRConfigError(f"{where}: {prefix}smoke.env: {name!r} is not an environment variable name")
    for field in ("api_token_env", "grafana_token_env"):
        if not ENV_NAME.fullmatch(getattr(target.endpoints, field)):
            raise DRConfigError(f"{where}: {prefix}endpoints.{field}: expected an environment variable name")
    if target.config_repo.token_env and not ENV_NAME.fullmatch(target.config_repo.token_env):
        raise DRConfigError(f"{where}: {prefix}config_repo.token_env: expected an environment variable name")
    if target.sandbox.layout not in SANDBOX_LAYOUTS:
        raise DRConfigError(f"{where}: {prefix}sandbox.layout: expected one of {', '.join(SANDBOX_LAYOUTS)}, "
                            f"got {target.sandbox.layout!r}")


def _build_section(where: str, key: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise DRConfigError(f"{where}: {key}: expected a table, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(where, key + ".", raw, set(fields))
    return cls(**{k: _coerce(where, f"{key}.{k}", fields[k].type, v) for k, v in raw.items()})


def _build_agents(where: str, key: str, raw: Any) -> tuple[Agent, ...]:
    if not isinstance(raw, dict) or not raw:
        raise DRConfigError(f"{where}: {key}: expected a table of agents, e.g. [{key}.zeus-orchestrator]")
    agents = []
    for agent_name, body in raw.items():
        if not isinstance(body, dict):
            raise DRConfigError(f"{where}: {key}.{agent_name}: expected a table (may be empty)")
        agent = _build_section(where, f"{key}.{agent_name}", Agent, {"name": agent_name, **body})
        agents.append(agent)
    return tuple(agents)


def _coerce(where: str, key: str, type_name: Any, value: Any) -> Any:
    expected = str(type_name)
    if expected == "timedelta":
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise DRConfigError(f"{where}: {key}: {exc}") from None
    if expected == "bool":
        if isinstance(value, bool):
            return value
        raise DRConfigError(f"{where}: {key}: expected true or false, got {value!r}")
    if expected == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise DRConfigError(f"{where}: {key}: expected a whole number, got {value!r}")
    if expected == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise DRConfigError(f"{where}: {key}: expected a number, got {value!r}")
    if expected.startswith("tuple[tuple[str, str]"):
        if not isinstance(value, dict):
            raise DRConfigError(f"{where}: {key}: expected a table of NAME = \"value\"")
        return tuple((str(k), _coerce(where, f"{key}.{k}", "str", v)) for k, v in value.items())
    if expected.startswith("tuple["):
        item = expected[len("tuple["):].split(",")[0].strip()
        if isinstance(value, str) or not isinstance(value, list):
            raise DRConfigError(f"{where}: {key}: expected a list, e.g. [\"a\", \"b\"], got {value!r}")
        return tuple(_coerce(where, f"{key}[{i}]", item, v) for i, v in enumerate(value))
    if expected == "str":
        if isinstance(value, str):
            if any(ch in value for ch in CONTROL_CHARACTERS) or any(ord(ch) < 32 and ch != "\t" for ch in value):
                raise DRConfigError(f"{where}: {key}: contains a line break or control character")
            return value
        raise DRConfigError(f"{where}: {key}: expected a string, got {value!r}")
    raise DRConfigError(f"{where}: {key}: unsupported setting")  # pragma: no cover


def describe_target(target: Target) -> dict[str, Any]:
    """The target as plain data (durations as text); secrets are never part of a target."""

    def plain(value: Any) -> Any:
        if isinstance(value, timedelta):
            from .timeparse import format_duration

            return format_duration(value)
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return plain(target)
