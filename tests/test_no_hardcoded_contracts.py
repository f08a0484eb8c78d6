"""No criterion's logic names KOSMOS: every name, path and number of the estate comes from the target.

The checks, drills and suites are scanned for string literals (docstrings and comments aside) that
carry a KOSMOS name, region, path or file the plan or the sandbox uses. Their only home is the
targets file's documented defaults (pytest_kosmos_dr/target.py, docs/configuration.md). The
alternate sandbox layout (tests/test_config_contracts.py, .ci/run) proves the same from the other side.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SCANNED = sorted([*ROOT.glob("pytest_kosmos_dr/checks/*.py"), *ROOT.glob("pytest_kosmos_dr/drills/*.py"),
                  *(ROOT / "pytest_kosmos_dr" / name for name in ("plan_commands.py", "archive_keys.py", "environment.py", "fixtures.py")),
                  *ROOT.glob("suites/*.py")])
# what the plan and the sandbox call things: any of these in logic is a contract the target must own
# (quoted: the whole literal; Grafana's own /api/health is Grafana's contract, not KOSMOS's)
KOSMOS_NAMES = (
    "kosmos-prod", "kosmos-backups", "agent-state/", "zeus", "athena", "hermes", "kosmos-api",
    "us-east-1", "us-west-2", "kosmos.internal", "kosmos.ai", "dr-cluster", "overlays/production", "Nuvanta",
    "/v1/agents", "/v1/admin", "/v1/conversations", '"/health"', "/probe", "memory.json", "tasks.json",
    "probe_success", '"prometheus"', "kosmos-infrastructure",
)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _literals(path: Path) -> list[tuple[int, str]]:
    """String literals, docstrings aside; an f-string is one literal with ``{}`` for each expression."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            skip.update(id(v) for v in node.values)
            found.append((node.lineno, "".join(parts)))
    found += [(node.lineno, node.value) for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip]
    return found


def test_scan_covers_the_criteria_logic():
    names = {p.name for p in SCANNED}
    assert {"agent_backups.py", "validation.py", "integrity.py", "kill_switch.py", "test_recovery_validation.py"} <= names


@pytest.mark.parametrize("path", SCANNED, ids=[str(p.relative_to(ROOT)) for p in SCANNED])
def test_no_kosmos_name_in_logic(path):
    hits = []
    for line, text in _literals(path):
        for name in KOSMOS_NAMES:
            needle = name.strip('"')
            if (name.startswith('"') and text == needle) or (not name.startswith('"') and needle in text):
                hits.append(f"{path.relative_to(ROOT)}:{line}: {needle!r} in {text[:60]!r}")
    assert not hits, "KOSMOS names in criterion logic (read them from the target instead):\n" + "\n".join(hits)
