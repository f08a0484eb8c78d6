"""The criterion ID is written in three places: the check's result (``cid``), the suite test's
``dr_criterion`` marker and ``data/criteria.toml``. Read with ``ast`` (nothing is run), they must agree
for every check, so that they cannot drift: a check's ID is in the catalog, every check is called by a
shipped suite test, and every suite test calling a check is marked with that check's criterion.
``dr_check`` stamps the marker's criterion onto a result naming none (tests/test_custom_suite.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pytest_kosmos_dr.catalog import catalog as load_catalog

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ROOT / "pytest_kosmos_dr" / "checks"
SUITES = ROOT / "suites"
CRITERION = re.compile(r"^(OBJ|SCN|BAK|REC|VAL|COM|SCH)-[A-Z0-9-]+$")
# checks a suite reaches through a fixture rather than by name: check -> (fixture, the suite test's criterion)
THROUGH_FIXTURES = {"agent_state.state_restored": ("agent_state_drill", "REC-AGENT-STATE")}


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _returns_result(fn: ast.FunctionDef) -> bool:
    return getattr(fn.returns, "id", None) == "CheckResult" or _literal(fn.returns) == "CheckResult"


def check_ids() -> dict[str, dict]:
    """Each public check function -> the criterion IDs it writes into its results (``cid = "..."`` or
    ``CheckResult("...", ...)``) and the default of its ``criterion`` parameter if it takes one (none: the
    caller names the criterion, e.g. ``schedule.drill_recency("SCH-RESTORE-MONTHLY", ...)``)."""
    found = {}
    for path in sorted(CHECKS.glob("*.py")):
        for fn in ast.parse(path.read_text()).body:
            if not isinstance(fn, ast.FunctionDef) or fn.name.startswith("_"):
                continue
            ids = set()
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "cid" for t in node.targets):
                    ids.add(_literal(node.value))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CheckResult" and node.args:
                    ids.add(_literal(node.args[0]))
            args = fn.args.args + fn.args.kwonlyargs
            defaults = dict(zip([a.arg for a in fn.args.args][::-1], fn.args.defaults[::-1]))
            defaults.update({a.arg: d for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults) if d is not None})
            parameter = "criterion" in [a.arg for a in args]
            if parameter:
                ids.add(_literal(defaults.get("criterion")))
            ids.discard(None)
            if _returns_result(fn):
                found[f"{path.stem}.{fn.name}"] = {"ids": ids, "parameter": parameter, "node": fn}
    for name, check in found.items():  # one that returns another check's result writes that one's ID
        if not check["ids"] and not check["parameter"]:
            module = name.split(".")[0]
            for node in ast.walk(check["node"]):
                if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
                    check["ids"] |= found.get(f"{module}.{getattr(node.value.func, 'id', '')}", {}).get("ids", set())
    return found


def _markers(fn: ast.FunctionDef) -> list[str]:
    return [_literal(a) for d in fn.decorator_list if isinstance(d, ast.Call)
            and getattr(d.func, "attr", None) == "dr_criterion" for a in d.args]


def suite_uses(checks: dict) -> list[tuple[str, list[str], str, set[str]]]:
    """(suite test, its marker IDs, check it uses, the criteria it passes): every check named in a
    test's body or in the module's helpers it calls, except one nested in another check's call (it
    speaks for that check: REC-DNS inside SCN-REGIONAL-OUTAGE)."""
    uses = []
    for path in sorted(SUITES.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        aliases = {a.asname or a.name: a.name for node in tree.body if isinstance(node, ast.ImportFrom)
                   and node.module == "pytest_kosmos_dr.checks" for a in node.names}
        helpers = {fn.name: fn for fn in tree.body if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("test_")}

        def named(node) -> str | None:
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                name = f"{aliases[node.value.id]}.{node.attr}"
                return name if name in checks else None
            return None

        def walk(node, seen: tuple, out: list) -> None:
            if isinstance(node, ast.Call) and named(node.func):
                criterion = {_literal(k.value) for k in node.keywords if k.arg == "criterion"} - {None}
                out.append((named(node.func), criterion))
                return  # what its arguments compute speaks for this check
            if named(node):  # passed on, e.g. judged(dr_check, communication.update_cadence, ...)
                out.append((named(node), set()))
                return
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers \
                    and node.func.id not in seen:
                walk(helpers[node.func.id], seen + (node.func.id,), out)
            for child in ast.iter_child_nodes(node):
                walk(child, seen, out)

        for fn in tree.body:
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                found: list = []
                for statement in fn.body:
                    walk(statement, (), found)
                # a check whose caller names the criterion: the IDs written in the test's body
                in_body = {_literal(n) for statement in fn.body for n in ast.walk(statement)
                           if CRITERION.match(_literal(n) or "")}
                for check, criterion in found:
                    if not checks[check]["ids"] and not criterion:
                        criterion = in_body
                    uses.append((f"{path.name}::{fn.name}", _markers(fn), check, criterion))
    return uses


def test_every_check_writes_a_catalogued_criterion():
    catalog = load_catalog()
    checks = check_ids()
    assert len(checks) >= 30, sorted(checks)  # the scan found the checks
    wrong = {name: sorted(found["ids"] - set(catalog)) for name, found in checks.items() if found["ids"] - set(catalog)}
    assert not wrong, f"criterion IDs not in data/criteria.toml: {wrong}"
    assert all(CRITERION.match(cid) for found in checks.values() for cid in found["ids"])


def test_every_suite_test_is_marked_with_the_criterion_of_the_checks_it_calls():
    checks = check_ids()
    wrong = []
    for test, markers, check, criterion in suite_uses(checks):
        ids = criterion or checks[check]["ids"]
        if not ids or not ids <= set(markers):
            wrong.append(f"{test} (marked {markers}) calls {check}, which writes {sorted(ids)}")
    assert not wrong, "\n".join(wrong)


def test_every_suite_marker_is_catalogued():
    catalog = load_catalog()
    markers = {cid for path in SUITES.glob("test_*.py") for fn in ast.walk(ast.parse(path.read_text()))
               if isinstance(fn, ast.FunctionDef) for cid in _markers(fn)}
    assert markers and markers <= set(catalog), sorted(markers - set(catalog))


def test_every_check_is_called_by_a_shipped_suite_test():
    checks = check_ids()
    used = {check for _, _, check, _ in suite_uses(checks)}
    suite_text = "".join(path.read_text() for path in SUITES.glob("test_*.py"))
    for check, (fixture, criterion) in THROUGH_FIXTURES.items():
        assert checks[check]["ids"] == {criterion} and fixture in suite_text, check
        used.add(check)
    assert set(checks) <= used, f"checks no suite test calls: {sorted(set(checks) - used)}"
