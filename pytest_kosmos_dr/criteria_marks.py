"""Connect collected tests to the criteria catalog: kind markers, properties, drill permission."""

from __future__ import annotations

import pytest

from . import gate_board
from .catalog import catalog
from .fixtures import DR_RUN


def item_criteria(item: pytest.Item) -> list[str]:
    """The criterion IDs a test verifies, in marker order."""
    return [cid for marker in item.iter_markers("dr_criterion") for cid in marker.args]


def target_name_of(item: pytest.Item) -> str | None:
    """The target a test runs against when the run has several (its ``dr_run`` parameter)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("dr_run") if callspec is not None else None


def target_run_of(item: pytest.Item):
    run = item.config.stash.get(DR_RUN, None)
    return None if run is None else run.for_name(target_name_of(item))


def dr_target_run_of(item: pytest.Item):
    """The target run of a DR test (one with ``dr_criterion`` markers); None for any other test."""
    return target_run_of(item) if item_criteria(item) else None


def apply_criteria_marks(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = catalog()
    run = config.stash.get(DR_RUN, None)
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
        if item.get_closest_marker("drill") is not None and run is not None:
            reason = drill_refusal(run.for_name(name))
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def drill_refusal(run) -> str | None:
    """Why drills may not run in this run, or None when they may."""
    if not run.options.allow_restore:
        return "drill creates resources: run with --dr-allow-restore to allow it"
    target = run.target
    if target.production and target.name not in run.options.confirmed_targets:
        return (f"target {target.name!r} is marked production: drills need --dr-allow-restore "
                f"and --dr-confirm-target {target.name}")
    return None


def run_rto_last(items: list[pytest.Item]) -> None:
    """OBJ-RTO waits for every other gate verdict: collect it last (stable for xdist workers)."""
    items.sort(key=lambda item: gate_board.RTO_CRITERION in item_criteria(item))


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
