"""The criterion ID a check speaks for is written in its docstring (it opens with ``BAK-DB-REPLICATION:``, or
by its caller for a check that takes a ``criterion``), the suite test's ``dr_criterion`` marker decides it
(``dr_check`` stamps it on a result naming none: tests/test_custom_suite.py) and ``data/criteria.toml``
catalogues it. Read with ``ast`` (nothing is run), they must agree for every check: a check's ID is in
the catalog, every check is called by something a shipped suite test uses (its body, a helper of its
module, or a gate-read fixture of ``pytest_kosmos_dr/gate_reads.py`` it requests), and every suite test
that way calling a check is marked with that check's criterion."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pytest_kosmos_dr.catalog import catalog as load_catalog

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ROOT / "pytest_kosmos_dr" / "checks"
SUITES = ROOT / "suites"
GATE_READS = ROOT / "pytest_kosmos_dr" / "gate_reads.py"
CRITERION = re.compile(r"^(OBJ|SCN|BAK|REC|VAL|COM|SCH)-[A-Z0-9-]+$")
DOCSTRING_ID = re.compile(r"^((?:OBJ|SCN|BAK|REC|VAL|COM|SCH)-[A-Z0-9-]+)\b")
# checks a suite reaches through a fixture rather than by name: check -> (fixture, the suite test's criterion)
THROUGH_FIXTURES = {"agent_state.state_restored": ("agent_state_drill", "REC-AGENT-STATE")}


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _returns_result(fn: ast.FunctionDef) -> bool:
    return getattr(fn.returns, "id", None) == "CheckResult" or _literal(fn.returns) == "CheckResult"


def check_ids() -> dict[str, dict]:
    """Each public check function -> the criterion IDs it speaks for: the one its docstring opens with
    (``REC-DNS: ...``), any it writes into its results (``cid = "..."``, ``criterion="..."``) and the
    default of its ``criterion`` parameter if it takes one (none: the caller names the criterion, e.g.
    ``schedule.drill_recency("SCH-RESTORE-MONTHLY", ...)``, or the test's marker decides)."""
    found = {}
    for path in sorted(CHECKS.glob("*.py")):
        for fn in ast.parse(path.read_text()).body:
            if not isinstance(fn, ast.FunctionDef) or fn.name.startswith("_"):
                continue
            opening = DOCSTRING_ID.match(ast.get_docstring(fn) or "")
            ids = {opening.group(1) if opening else None}
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "cid" for t in node.targets):
                    ids.add(_literal(node.value))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CheckResult":
                    ids.update(_literal(k.value) for k in node.keywords if k.arg == "criterion")
                    if node.args and _literal(node.args[0]):  # the ID as the first positional argument (older form)
                        ids.add(_literal(node.args[0]))
            args = fn.args.args + fn.args.kwonlyargs
            defaults = dict(zip([a.arg for a in fn.args.args][::-1], fn.args.defaults[::-1]))
            defaults.update({a.arg: d for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults) if d is not None})
            parameter = "criterion" in [a.arg for a in args]
            if parameter:
                ids.add(_literal(defaults.get("criterion")))
            ids -= {None, ""}
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


def _check_aliases(tree: ast.Module, relative: bool = False) -> dict[str, str]:
    """Local name -> check module, from every ``from pytest_kosmos_dr.checks import ...`` (or, inside the
    package, ``from .checks import ...``) anywhere in the module (function-local imports included)."""
    return {a.asname or a.name: a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module == "pytest_kosmos_dr.checks" or (relative and node.level == 1 and node.module == "checks"))
            for a in node.names}


def _is_fixture(fn: ast.FunctionDef) -> bool:
    return any("fixture" in ast.unparse(d) for d in fn.decorator_list)


def gate_read_uses(checks: dict) -> dict[str, set[str]]:
    """Each fixture of gate_reads.py -> the checks it calls or hands to a started read: in its body (nested
    functions and lambdas included), in the module's helpers it names, and in the gate-read fixtures it
    requests."""
    tree = ast.parse(GATE_READS.read_text())
    aliases = _check_aliases(tree, relative=True)
    functions = {fn.name: fn for fn in tree.body if isinstance(fn, ast.FunctionDef)}
    fixtures = {name for name, fn in functions.items() if _is_fixture(fn)}

    def named_checks(fn: ast.FunctionDef, seen: set[str]) -> set[str]:
        found = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                name = f"{aliases[node.value.id]}.{node.attr}"
                found |= {name} & set(checks)
            elif isinstance(node, ast.Name) and node.id in functions and node.id not in fixtures \
                    and node.id not in seen:  # a helper called or handed to the read pool
                seen.add(node.id)
                found |= named_checks(functions[node.id], seen)
        return found

    def closure(name: str, seen: set[str]) -> set[str]:
        seen.add(name)
        fn = functions[name]
        found = named_checks(fn, set())
        for arg in fn.args.args:
            if arg.arg in fixtures and arg.arg not in seen:
                found |= closure(arg.arg, seen)
        return found

    return {name: closure(name, set()) for name in fixtures}


def suite_uses(checks: dict) -> list[tuple[str, list[str], str, set[str], bool]]:
    """(suite test, its marker IDs, check it uses, the criteria it passes, whether it speaks for the
    test's own criterion): every check named in a test's body or in the module's helpers it calls, and
    every check of the gate-read fixtures it requests. A check nested in another check's call (or a
    gate-read fixture handed to one) speaks for that check, not for the test: REC-DNS inside
    SCN-REGIONAL-OUTAGE; it still counts as used."""
    uses = []
    through_fixtures = gate_read_uses(checks)
    for path in sorted(SUITES.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        aliases = _check_aliases(tree)
        helpers = {fn.name: fn for fn in tree.body if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("test_")}

        def named(node) -> str | None:
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                name = f"{aliases[node.value.id]}.{node.attr}"
                return name if name in checks else None
            return None

        def walk(node, seen: tuple, out: list, handed: set) -> None:
            if isinstance(node, ast.Call) and named(node.func):
                criterion = {_literal(k.value) for k in node.keywords if k.arg == "criterion"} - {None}
                out.append((named(node.func), criterion))
                handed |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                return  # what its arguments compute speaks for this check
            if named(node):  # passed on, e.g. judged(dr_check, communication.update_cadence, ...)
                out.append((named(node), set()))
                return
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers \
                    and node.func.id not in seen:
                walk(helpers[node.func.id], seen + (node.func.id,), out, handed)
            for child in ast.iter_child_nodes(node):
                walk(child, seen, out, handed)

        for fn in tree.body:
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                found: list = []
                handed: set = set()
                for statement in fn.body:
                    walk(statement, (), found, handed)
                # a check whose caller names the criterion: the IDs written in the test's body
                in_body = {_literal(n) for statement in fn.body for n in ast.walk(statement)
                           if CRITERION.match(_literal(n) or "")}
                test = f"{path.name}::{fn.name}"
                for check, criterion in found:
                    if not checks[check]["ids"] and not criterion:
                        criterion = in_body
                    uses.append((test, _markers(fn), check, criterion, True))
                for fixture in (a.arg for a in fn.args.args if a.arg in through_fixtures):
                    for check in sorted(through_fixtures[fixture]):
                        uses.append((test, _markers(fn), check, set(), fixture not in handed))
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
    for test, markers, check, criterion, own in suite_uses(checks):
        ids = criterion or checks[check]["ids"]
        if not own:
            continue
        if not ids and len(markers) == 1:
            continue  # a check naming no criterion speaks for the test's only marker (dr_check stamps it)
        if not ids or not ids <= set(markers):
            wrong.append(f"{test} (marked {markers}) calls {check}, which writes {sorted(ids)}")
    assert not wrong, "\n".join(wrong)


def test_every_suite_marker_is_catalogued():
    catalog = load_catalog()
    markers = {cid for path in SUITES.glob("test_*.py") for fn in ast.walk(ast.parse(path.read_text()))
               if isinstance(fn, ast.FunctionDef) for cid in _markers(fn)}
    assert markers and markers <= set(catalog), sorted(markers - set(catalog))


def test_every_check_is_called_by_a_shipped_suite_test():
    """Called by a suite test's body (or a helper of its module), or by a gate-read fixture a suite test
    requests (directly or through another gate-read fixture): a check only a fixture no suite uses calls,
    or none at all, fails here."""
    checks = check_ids()
    used = {check for _, _, check, _, _ in suite_uses(checks)}
    suite_text = "".join(path.read_text() for path in SUITES.glob("test_*.py"))
    for check, (fixture, criterion) in THROUGH_FIXTURES.items():
        assert checks[check]["ids"] == {criterion} and fixture in suite_text, check
        used.add(check)
    assert set(checks) <= used, f"checks no suite test calls: {sorted(set(checks) - used)}"


def test_gate_read_fixtures_are_seen_through():
    """The scan sees the checks behind the gate-read fixtures (else the rule above would be vacuous for them),
    and a check reached only through a fixture no suite test requests is not counted as used."""
    checks = check_ids()
    through = gate_read_uses(checks)
    assert "failover.dns_on_secondary" in through["api_dns"] and "validation.smoke_tests" in through["plan_smoke_tests"]
    assert "integrity.database_integrity" in through["dr_database_integrity"]
    assert not through["agent_state_versions"] & set(checks)  # a listing, no check
    used_by_suites = {check for _, _, check, _, _ in suite_uses(checks)}
    requested = {a.arg for path in SUITES.glob("test_*.py") for fn in ast.walk(ast.parse(path.read_text()))
                 if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_") for a in fn.args.args}
    for fixture, found in through.items():
        if fixture in requested:
            assert found <= used_by_suites, fixture


class _Item:
    """What ``run_slow_reads_and_rto_last`` looks at: a test's fixtures and its criterion markers."""

    def __init__(self, name: str, fixtures: tuple = (), criteria: tuple = ()) -> None:
        import pytest

        self.name, self.fixturenames = name, list(fixtures)
        self._marks = [pytest.mark.dr_criterion(*criteria).mark] if criteria else []

    def iter_markers(self, name: str):
        return (mark for mark in self._marks if mark.name == name)


def test_slow_reads_and_the_rto_run_last_each_tier_in_collection_order():
    from pytest_kosmos_dr.criteria_marks import run_slow_reads_and_rto_last

    items = [_Item("rto", ("dr_run",), ("OBJ-RTO",)), _Item("dry run", ("config_kubectl_jobs",)),
             _Item("listing", ("agent_state_versions",)), _Item("nodes", ("dr_nodes",)),
             _Item("gitops", ("config_kubectl_jobs", "gitops_objects")), _Item("dns", ("api_dns",)),
             _Item("both", ("agent_state_versions", "config_kubectl_jobs"))]
    run_slow_reads_and_rto_last(items)
    assert [i.name for i in items] == ["nodes", "dns", "dry run", "gitops", "listing", "both", "rto"]
