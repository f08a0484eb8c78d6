"""Targets and objectives: plan defaults, overrides, and one-line errors naming file and key."""

from datetime import timedelta

import pytest

from pytest_kosmos_dr.config import load_config
from pytest_kosmos_dr.errors import DRConfigError


def write(tmp_path, text, name="kosmos-dr.toml"):
    (tmp_path / name).write_text(text)
    return tmp_path


def test_builtin_targets_carry_the_plans_setup_and_objectives(tmp_path):
    cfg = load_config(tmp_path)
    assert cfg.default_target == "sandbox" and set(cfg.targets) == {"sandbox", "dr-cluster"}
    dr = cfg.target("dr-cluster")
    assert dr.aws.secondary_region == "us-west-2"
    assert dr.kubernetes.context == "dr-cluster" and dr.kubernetes.namespace == "kosmos"
    assert dr.database.production_instance == "kosmos-prod"
    assert (dr.backups.bucket, dr.backups.agent_state_prefix) == ("kosmos-backups", "agent-state/")
    assert dr.agent("zeus-orchestrator").pod_name == "zeus-orchestrator-0"
    o = dr.objectives
    assert (o.rto, o.rpo, o.availability) == (timedelta(hours=4), timedelta(minutes=15), 99.9)
    assert (o.pitr_retention, o.agent_state_retention) == (timedelta(days=30), timedelta(days=7))
    assert (o.snapshot_interval, o.failover_trigger) == (timedelta(hours=1), timedelta(minutes=5))


def test_repository_config_file_defines_both_targets():
    from conftest import REPO

    cfg = load_config(REPO)
    assert cfg.source.endswith("kosmos-dr.toml")
    assert cfg.target("dr-cluster").production is True
    assert [a.name for a in cfg.target("sandbox").agents][0] == "zeus-orchestrator"


def test_objectives_are_overridden_per_target_and_merged_with_defaults(tmp_path):
    write(tmp_path, '[targets.eu.objectives]\nrpo = "5m"\n[targets.eu.aws]\nsecondary_region = "eu-west-1"\n')
    cfg = load_config(tmp_path)
    eu = cfg.target("eu")
    assert eu.objectives.rpo == timedelta(minutes=5) and eu.objectives.rto == timedelta(hours=4)
    assert eu.aws.secondary_region == "eu-west-1" and eu.aws.primary_region == "us-east-1"


def test_pyproject_table_is_read_when_there_is_no_kosmos_dr_toml(tmp_path):
    write(tmp_path, '[tool.kosmos-dr.targets.lab]\nkind = "aws"\n', name="pyproject.toml")
    cfg = load_config(tmp_path)
    assert "lab" in cfg.targets and "[tool.kosmos-dr]" in cfg.source


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[targets.x.objectives]\nrpoo = "15m"\n', "targets.x.objectives.rpoo: unknown key (expected one of:"),
        ('[targets.x]\ncolour = "red"\n', "targets.x.colour: unknown key"),
        ('[targets.x.objectives]\nrpo = 15\n', "targets.x.objectives.rpo: expected a duration string like '15m'"),
        ('[targets.x.objectives]\nrto = "four hours"\n', "targets.x.objectives.rto: expected a duration like"),
        ('[targets.x.objectives]\navailability = "high"\n', "targets.x.objectives.availability: expected a number"),
        ('[targets.x]\nproduction = "yes"\n', "targets.x.production: expected true or false"),
        ('[targets.x.database]\nport = "5432"\n', "targets.x.database.port: expected a whole number"),
        ('[targets.x]\nkind = "gcp"\n', "targets.x.kind: expected one of aws, sandbox"),
        ('default_target = "nope"\n', "default_target: unknown target 'nope'"),
        ("[targets.x\n", "not valid TOML"),
    ],
)
def test_bad_config_gives_one_line_naming_file_and_key(tmp_path, text, message):
    write(tmp_path, text)
    with pytest.raises(DRConfigError) as info:
        load_config(tmp_path)
    error = str(info.value)
    assert error.startswith(str(tmp_path / "kosmos-dr.toml") + ": ")
    assert message in error and "\n" not in error


def test_missing_explicit_config_file_is_named(tmp_path):
    with pytest.raises(DRConfigError, match=r"no such config file \(check --dr-config\)"):
        load_config(tmp_path, str(tmp_path / "absent.toml"))


def test_unknown_target_lists_the_known_ones(tmp_path):
    with pytest.raises(DRConfigError, match=r"unknown DR target 'nope' \(known targets: dr-cluster, sandbox"):
        load_config(tmp_path).target("nope")
