"""Connect collected tests to the criteria catalog: kind markers, properties, drill permission."""

from __future__ import annotations

import pytest

from . import gate_board
from .catalog import catalog


def item_criteria(item: pytest.Item) -> list[str]:
    """The criterion IDs a test verifies, in marker order."""
    return [cid for marker in item.iter_markers("dr_criterion") for cid in marker.args]


def is_dr_test(item: pytest.Item) -> bool:
    """A DR test: it verifies a criterion (``dr_criterion``) or uses the DR fixtures (they all hang off
    ``dr_run``). Only DR tests make the plugin act, and only they are classified failed or broken."""
    return bool(item_criteria(item)) or "dr_run" in getattr(item, "fixturenames", ())


def target_name_of(item: pytest.Item) -> str | None:
    """The target a test runs against when the run has several (its ``dr_run`` parameter)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("dr_run") if callspec is not None else None


def apply_criteria_marks(items: list[pytest.Item], target_runs: dict) -> None:
    """Check each test's criteria against the catalog, mark its kind, and skip drills the run may not do.

    ``target_runs``: the run's ``TargetRun`` per target name."""
    known = catalog()
    for item in items:
        name = target_name_of(item)
        if name is not None:  # several targets: keep each target's tests together on one xdist worker
            item.add_marker(pytest.mark.xdist_group(name))
            item.user_properties.append(("dr_target", name))
        ids = item_criteria(item)
        unknown = [cid for cid in ids if cid not in known]
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: unknown DR criterion {', '.join(unknown)} (see `kosmos-dr criteria`)"
            )
        for cid in ids:
            item.user_properties.append(("dr_criterion", cid))
        kinds = {known[cid].kind for cid in ids}
        # A test that creates resources is a drill even when it also proves a gate criterion.
        kind = "drill" if "drill" in kinds else "evidence" if "evidence" in kinds else "gate" if kinds else None
        if kind and not any(item.get_closest_marker(k) for k in ("gate", "drill", "evidence")):
            item.add_marker(kind)
        if item.get_closest_marker("drill") is not None:
            # a drill of no target (not parametrized over several) is refused if any target refuses it
            runs = [target_runs[name]] if name in target_runs else list(target_runs.values())
            reason = next((r for r in map(drill_refusal, runs) if r), None)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def drill_refusal(run) -> str | None:
    """Why drills may not run in this target's run (``run.TargetRun``), or None when they may."""
    if not run.options.allow_restore:
        return "drill creates resources: run with --dr-allow-restore to allow it"
    target = run.target
    if target.production and target.name not in run.options.confirmed_targets:
        return (f"target {target.name!r} is marked production: drills need --dr-allow-restore "
                f"and --dr-confirm-target {target.name}")
    return None


# the one slow read at scale (tens of thousands of versions; gate_reads.py starts it with the run's reads)
SLOW_READ = "agent_state_versions"
# the longest chain at the default size: clone, kubectl kustomize, then the server-side dry run
KUBECTL_READ = "config_kubectl_jobs"


def run_slow_reads_and_rto_last(items: list[pytest.Item]) -> None:
    """OBJ-RTO waits for every other gate verdict: collect it last; before it the tests that evaluate the
    slow agent-state listing, and before those the ones that wait on the configuration's kubectl runs, so
    that the slow reads overlap every other check rather than hold it up (stable for xdist workers)."""
    def key(item):
        used = getattr(item, "fixturenames", ())
        return gate_board.RTO_CRITERION in item_criteria(item), SLOW_READ in used, KUBECTL_READ in used

    items.sort(key=key)


def is_board_gate(item: pytest.Item) -> bool:
    """A gate test OBJ-RTO waits on: one that verifies a recovery criterion (not OBJ-RTO itself)."""
    ids = item_criteria(item)
    if item.get_closest_marker("gate") is None or gate_board.RTO_CRITERION in ids:
        return False
    known = catalog()
    return any(known[cid].role == "recovery" for cid in ids if cid in known)


def require_full_coverage(items: list[pytest.Item]) -> None:
    """--dr-strict-coverage: every criterion of the catalog must have at least one test."""
    covered = {cid for item in items for cid in item_criteria(item)}
    missing = [cid for cid in catalog() if cid not in covered]
    if missing:
        raise pytest.UsageError(f"--dr-strict-coverage: no test for {len(missing)} criteria: {', '.join(missing)}")
