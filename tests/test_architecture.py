"""The package's shape: every module imports, and no module-level import cycle exists.

The graph has one edge per module-level import between modules of ``pytest_kosmos_dr`` (read with
``ast``, so nothing is executed to find them): ``import a.b``, ``from a import b`` (to ``a.b`` when
``b`` is a submodule, else to ``a``), relative imports resolved, statements under module-level
``if``/``try``/``with`` and class bodies included, ``if TYPE_CHECKING:`` blocks excluded (never run).

Function-local imports are excluded on purpose: they are how the package keeps heavy parts lazy
(boto3, kubernetes, the sandbox) and run only after every module is loaded, so they cannot leave a
module half-initialised. A cycle through module-level imports can, and depends on which module is
imported first; it is refused here.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import pytest_kosmos_dr

PACKAGE = "pytest_kosmos_dr"
ROOT = Path(pytest_kosmos_dr.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(body: list[ast.stmt]):
    """Import statements that run when the module is imported (not inside functions)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _module_level_imports(block)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            yield from _module_level_imports(node.body)


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges = graph.setdefault(module, set())
        for node in _module_level_imports(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _resolve(module, node)
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
            edges.update(t for t in targets if t in MODULES and t != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_the_package_s_own_imports():
    graph = import_graph()
    assert f"{PACKAGE}.session" in graph[f"{PACKAGE}.plugin"]
    assert f"{PACKAGE}.catalog" in graph[f"{PACKAGE}.criteria_marks"]


def test_no_import_cycle_among_module_level_imports():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


# The sandbox stands apart from the plugin: of the core it uses only the catalog, the error types and
# stdlib-only helpers (time parsing, secret masking, the plan's archive key format, which the sandbox writes
# and the checks read, botocore's lighter model reading, YAML read by libyaml), never the checks, the run, the fixtures, the config
# or reporting.
SANDBOX_MAY_IMPORT = {f"{PACKAGE}.{name}" for name in ("catalog", "errors", "timeparse", "redaction", "archive_keys",
                                                       "clients.aws_models", "yaml_docs")}


def _every_import(module: str, path: Path) -> set[str]:
    """Every package module ``module`` imports, function-local imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES)
    return found


def test_the_sandbox_imports_only_the_catalog_errors_and_stdlib_only_helpers_of_the_core():
    sandbox = f"{PACKAGE}.sandbox"
    wrong = {module: sorted(t for t in _every_import(module, path)
                            if not (t == sandbox or t.startswith(sandbox + ".")) and t not in SANDBOX_MAY_IMPORT)
             for module, path in MODULES.items() if module == sandbox or module.startswith(sandbox + ".")}
    assert not {m: t for m, t in wrong.items() if t}, "the sandbox reaches into the plugin's core"
    for helper in SANDBOX_MAY_IMPORT:  # and what it may use reaches no further than stdlib-only modules
        beyond = {t for t in _every_import(helper, MODULES[helper]) if _every_import(t, MODULES[t])}
        assert not beyond, f"{helper} imports {sorted(beyond)}, which import more of the core"
