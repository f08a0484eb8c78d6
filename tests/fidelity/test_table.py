"""docs/sandbox-fidelity.md is generated from commands.toml and must not drift from it."""

from __future__ import annotations

import pytest

from .catalog import Command, json_path, load, mismatches
from .table import DOC, render


def test_the_doc_is_the_list():
    assert DOC.read_text() == render(load()), "regenerate: python -m tests.fidelity.table --write"


def test_the_list_covers_the_clients_and_the_plans_path():
    commands = load()
    assert len(commands) >= 60
    assert {c.client for c in commands} >= {"kubectl", "aws", "psql", "curl", "dig"}
    plan = {c.id for c in commands if c.plan_path}
    for needed in ("kubectl-get-nodes", "kubectl-get-pods-context", "kubectl-top-pods", "aws-describe-db-snapshots",
                   "aws-s3-ls-agent-state", "psql-select-1", "psql-plan-names", "curl-api-health",
                   "curl-grafana-health", "dig-api-record"):
        assert needed in plan


def test_every_entry_holds_the_real_behaviour_to_something():
    for command in load():
        assert command.expect_pattern or command.expect_json or command.expect_exit != 0 or \
            command.client in ("script", "aws"), command.id


@pytest.mark.parametrize("path, present", [("a.b[0].c", True), ("a.b[1]", False), ("[0]", False), ("a.x", False)])
def test_json_path(path, present):
    assert json_path({"a": {"b": [{"c": None}]}}, path) is present


def test_mismatches_name_each_difference():
    command = Command(id="x", client="curl", command="true", real="r", expect_exit=0, expect_pattern="^ok$",
                      expect_json=("status",))
    assert mismatches(command, 0, '{"status": 1}', "") == ["output does not match '^ok$'"]
    assert len(mismatches(command, 7, "", "")) == 3  # exit, pattern, JSON
    assert mismatches(Command(id="y", client="curl", command="c", real="r", expect_exit=0), 0, "", "") == []
