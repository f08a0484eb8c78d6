"""The targets file describes the plan's contracts: every key documented, validated, and layouts as data."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pytest_kosmos_dr import target as target_module
from pytest_kosmos_dr.config import load_config
from pytest_kosmos_dr.errors import DRConfigError
from pytest_kosmos_dr.sandbox.layout import ALTERNATE, DEFAULT, LAYOUTS, target_toml

DOCS = Path(__file__).parent.parent / "docs" / "configuration.md"


def _sections() -> dict[str, type]:
    sections = {}
    for spec in dataclasses.fields(target_module.Target):
        factory = spec.default_factory
        if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
            sections[spec.name] = factory
    return sections


def test_every_target_key_is_documented():
    text = DOCS.read_text()
    missing = []
    for section, cls in _sections().items():
        block = re.search(rf"^\[targets\.NAME\.{section}\][^\n]*\n(.*?)(?=^\[|^```)", text, re.S | re.M)
        if block is None:
            missing.append(f"[targets.NAME.{section}]")
            continue
        for spec in dataclasses.fields(cls):
            if not re.search(rf"^{spec.name} = ", block.group(1), re.M):
                missing.append(f"{section}.{spec.name}")
    agent_block = re.search(r"^\[targets\.NAME\.agents\.[^\]]+\][^\n]*\n(.*?)(?=^\[)", text, re.S | re.M)
    for spec in dataclasses.fields(target_module.Agent):
        if spec.name != "name" and not re.search(rf"^{spec.name} = ", agent_block.group(1), re.M):
            missing.append(f"agents.*.{spec.name}")
    assert not missing, f"docs/configuration.md does not list: {', '.join(missing)}"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "kosmos-dr.toml"
    path.write_text(body)
    return path


@pytest.mark.parametrize("body, message", [
    ('[targets.t.backups]\nagent_state_key = "{date}.tar.gz"\n', "must contain {agent}"),
    ('[targets.t.backups]\nagent_state_key = "{agent}-{hour}.tar.gz"\n', "unknown placeholder {hour}"),
    ('[targets.t.backups]\nagent_state_key = "{agent}.zip"\n', "must end with .tar.gz"),
    ('[targets.t.backups]\nagent_state_key = "{agent.tar.gz"\n', "brace"),
    ('[targets.t.backups]\nagent_state_members = "memory.json"\n', "expected a list"),
    ('[targets.t.backups]\nagent_state_members = ["../etc/passwd"]\n', "relative path"),
    ('[targets.t.health]\npath = "health"\n', "starting with /"),
    ('[targets.t.health]\nok_values = []\n', "at least one healthy status"),
    ('[targets.t.health]\nstatus_field = ""\n', "status field"),
    ('[targets.t.kill_switch]\nmethod = "DELETE"\n', "expected one of PUT"),
    ('[targets.t.kill_switch]\nengaged_codes = [200]\n', "400-599"),
    ('[targets.t.kill_switch]\nengaged_codes = []\n', "400-599"),
    ('[targets.t.kill_switch]\nengaged_codes = ["423"]\n', "whole number"),
    ('[targets.t.kill_switch]\nwait = "0s"\n', "longer than 0"),
    ('[targets.t.smoke]\nsmoke_command = ""\n', "empty command"),
    ('[targets.t.smoke]\nsmoke_command = "pytest \'unclosed"\n', "quotation"),
    ('[targets.t.smoke]\nrouting_command = "run --agent {name}"\n', "unknown placeholder {name}"),
    ('[targets.t.smoke.env]\n"BAD NAME" = "x"\n', "not an environment variable name"),
    ('[targets.t.smoke]\nenv = ["A=1"]\n', "table"),
    ('[targets.t.schedule]\nbackup_restore = "-1d"\n', "backup_restore"),
    ('[targets.t.aws]\nmin_checker_regions = 0\n', "min_checker_regions"),
    ('[targets.t.database]\nintegrity_window = "0s"\n', "longer than 0"),
    ('[targets.t.database]\nrestore_security_groups = "sg-1"\n', "expected a list"),
    ('[targets.t.config_repo]\ntoken_env = "MY-TOKEN"\n', "environment variable name"),
    ('[targets.t]\nkind = "sandbox"\n[targets.t.sandbox]\nlayout = "tiny"\n', "expected one of default, alternate"),
    ('[targets.t.agents.zeus-orchestrator]\narchive_name = "zeus/../x"\n', "archive_name"),
])
def test_malformed_contracts_give_one_line(tmp_path, body, message):
    with pytest.raises(DRConfigError) as raised:
        load_config(tmp_path, str(_write(tmp_path, body))).target("t")
    text = str(raised.value)
    assert message in text and "\n" not in text, text


def test_the_plans_defaults_describe_the_plans_layout(tmp_path):
    target = load_config(tmp_path).target("dr-cluster")
    zeus = target.agent("zeus-orchestrator")
    at = datetime(2025, 12, 13, 10, 0, tzinfo=timezone.utc)
    key = target.backups.agent_state_prefix + target.backups.agent_state_key.format(
        agent=zeus.archive, date=f"{at:%Y%m%d}", timestamp=f"{at:%Y%m%dT%H%M%SZ}")
    assert key == "agent-state/zeus-state-20251213.tar.gz"  # the plan's `aws s3 cp` line
    assert target.smoke.smoke_command == "pytest tests/integration/smoke_tests.py"
    assert target.smoke.routing_command.format(agent="zeus-orchestrator", python="python") == \
        "python scripts/test_agent_routing.py --agent zeus-orchestrator"
    assert target.smoke.checkout == ""  # a real estate names its checkout; nothing is assumed


def test_lists_and_tables_are_read(tmp_path):
    body = ('[targets.t.database]\nrestore_security_groups = ["sg-1", "sg-2"]\nrestore_subnet_group = "dr-private"\n'
            '[targets.t.smoke.env]\nKOSMOS_ENV = "dr"\n[targets.t.kill_switch]\nengaged_codes = [503]\n')
    target = load_config(tmp_path, str(_write(tmp_path, body))).target("t")
    assert target.database.restore_security_groups == ("sg-1", "sg-2")
    assert target.smoke.env == (("KOSMOS_ENV", "dr"),)
    assert target.kill_switch.engaged_codes == (503,)


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_each_sandbox_layout_has_a_loadable_target(tmp_path, layout):
    path = tmp_path / "layout.toml"
    path.write_text(target_toml(layout, "layout-target"))
    target = load_config(tmp_path, str(path)).target("layout-target")
    assert target.is_sandbox and target.sandbox.layout == layout.name
    assert (target.aws.primary_region, target.aws.secondary_region) == (layout.primary_region, layout.secondary_region)
    assert target.kubernetes.namespace == layout.namespace
    assert (target.backups.bucket, target.backups.agent_state_key) == (layout.bucket, layout.agent_state_key)
    assert target.health.path == layout.health_path and target.monitoring.datasource == layout.grafana_datasource
    at = datetime(2025, 12, 13, 9, 57, tzinfo=timezone.utc)
    for agent in target.agents:
        expected = layout.archive_key(agent.name, at)
        assert target.backups.agent_state_prefix + target.backups.agent_state_key.format(
            agent=agent.archive, date=f"{at:%Y%m%d}", timestamp=f"{at:%Y%m%dT%H%M%SZ}") == expected


def test_the_alternate_layout_renames_everything_a_target_names():
    """Every name the alternate layout keeps from the default would be a name a check could hard-code unseen."""
    same = [f.name for f in dataclasses.fields(DEFAULT)
            if f.name not in ("name",) and getattr(DEFAULT, f.name) == getattr(ALTERNATE, f.name)]
    assert same == [], f"the alternate layout keeps the default's {same}"


def test_a_new_sandbox_target_describes_its_layout_where_it_is_silent(tmp_path):
    body = ('[targets.east]\nkind = "sandbox"\n[targets.east.objectives]\nrpo = "10m"\n'
            '[targets.alt]\nkind = "sandbox"\n[targets.alt.sandbox]\nlayout = "alternate"\n'
            '[targets.alt.agents.zeus-orchestrator]\narchive_name = "zeus"\n')
    config = load_config(tmp_path, str(_write(tmp_path, body)))
    east, alt = config.target("east"), config.target("alt")
    assert east.backups.agent_state_key == DEFAULT.agent_state_key and east.objectives.rpo.total_seconds() == 600
    assert alt.backups.bucket == ALTERNATE.bucket and alt.kubernetes.namespace == ALTERNATE.namespace
    assert [a.name for a in alt.agents] == ["zeus-orchestrator"]  # the file's agents, not merged with the layout's
    aws = load_config(tmp_path, str(_write(tmp_path, '[targets.real]\nkind = "aws"\n'))).target("real")
    assert aws.backups.agent_state_key == "{agent}-state-{date}.tar.gz"  # a real estate: the plan's defaults
