"""The fidelity list (commands.toml): loading, validation and the per-entry verdict."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

COMMANDS_FILE = Path(__file__).with_name("commands.toml")
CLIENTS = ("kubectl", "aws", "psql", "curl", "dig", "script")
FIELDS = {"id", "client", "command", "real", "expect_exit", "expect_pattern", "expect_json", "plan_path",
          "differs", "known_gap"}


@dataclass(frozen=True)
class Command:
    id: str
    client: str
    command: str
    real: str
    expect_exit: int
    expect_pattern: str | None = None
    expect_json: tuple[str, ...] = ()
    plan_path: bool = False
    differs: str | None = None
    known_gap: str | None = None

    @property
    def sandbox(self) -> str:
        """The table's verdict: same, differs (why) or gap (why)."""
        if self.known_gap:
            return f"gap: {self.known_gap}"
        if self.differs:
            return f"differs: {self.differs}"
        return "same"

    @property
    def kind(self) -> str:
        return "gap" if self.known_gap else "differs" if self.differs else "same"


def command_files() -> list[Path]:
    """commands.toml first, then one ``commands_<area>.toml`` per area, in name order (each read-only
    for the others: the list runs in this order against one sandbox)."""
    return [COMMANDS_FILE, *sorted(COMMANDS_FILE.parent.glob("commands_*.toml"))]


def load(paths: list[Path] | None = None) -> list[Command]:
    """The entries, checked: unique ids, known clients and fields, compilable patterns, not both verdicts."""
    entries = [raw for path in (paths or command_files()) for raw in tomllib.loads(path.read_text())["command"]]
    commands, seen = [], set()
    for raw in entries:
        unknown = set(raw) - FIELDS
        if unknown:
            raise ValueError(f"{raw.get('id')}: unknown fields {sorted(unknown)}")
        command = Command(**{**raw, "expect_json": tuple(raw.get("expect_json", ()))})
        if command.id in seen:
            raise ValueError(f"{command.id}: duplicate id")
        seen.add(command.id)
        if command.client not in CLIENTS:
            raise ValueError(f"{command.id}: client {command.client!r} not one of {CLIENTS}")
        if command.differs and command.known_gap:
            raise ValueError(f"{command.id}: either differs or known_gap, not both")
        if not command.real.strip() or not command.command.strip():
            raise ValueError(f"{command.id}: empty command or real behaviour")
        if command.expect_pattern is not None:
            re.compile(command.expect_pattern, re.M)
        commands.append(command)
    return commands


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def json_path(document: object, path: str) -> bool:
    """Whether ``path`` (``a.b[0].c``, ``[0].uid``) exists in ``document``."""
    node = document
    for key, index in _STEP.findall(path):
        if key:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return False
            node = node[int(index)]
    return True


def mismatches(command: Command, exit_code: int, stdout: str, stderr: str) -> list[str]:
    """What in the answer is not what the real system gives (empty: it behaved as real)."""
    problems = []
    if exit_code != command.expect_exit:
        problems.append(f"exit {exit_code}, real: {command.expect_exit}")
    output = stdout + ("\n" if stdout and stderr else "") + stderr
    if command.expect_pattern is not None and not re.search(command.expect_pattern, output.strip(), re.M):
        problems.append(f"output does not match {command.expect_pattern!r}")
    if command.expect_json:
        try:
            document = json.loads(stdout)
        except ValueError:
            problems.append("stdout is not JSON")
        else:
            missing = [p for p in command.expect_json if not json_path(document, p)]
            if missing:
                problems.append(f"JSON lacks {missing}")
    return problems
