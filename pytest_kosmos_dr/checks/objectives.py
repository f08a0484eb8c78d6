"""Recovery objectives measured: RPO per data source and RTO from the incident to a green gate."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence
from ..timeparse import format_duration, isoformat


def newest_writes_before(conn, incident_start: datetime, database=None) -> dict[str, datetime | None]:
    """Per table with a continuous write stream (the target's ``database.window_tables``, the tables
    REC-DB-INTEGRITY requires rows of in its window): the newest write at or before the incident start.
    Reference data written rarely says nothing about lost writes, so it is not measured."""
    from .integrity import Contract
    from .integrity import newest_writes_before as newest

    return newest(conn, incident_start, database, tables=list(Contract.of(database).window_tables))


def newest_current_backups(listing, agents: list[str], before: datetime) -> dict[str, datetime | None]:
    """Per agent: the newest state backup at or before ``before`` that a restore still finds (current,
    not behind a delete marker, not a placeholder too small to be an archive), from the run's one
    listing of every version under the prefix (``checks.agent_backups.AgentVersions``)."""
    from .agent_backups import backups_at
    from .backups import _aware

    newest: dict[str, datetime | None] = {}
    for agent in agents:
        found, _ = backups_at(listing, agent, before)
        newest[agent] = max((_aware(v["LastModified"]) for v in found), default=None)
    return newest


def rpo(incident_start: datetime, database: dict[str, datetime | None], agent_state: dict[str, datetime | None],
        *, limit: timedelta, where: str, discovered: dict[str, str] | None = None) -> CheckResult:
    """OBJ-RPO: incident start minus the newest recovered write, per source, at most the RPO. ``discovered``:
    agents found running in the DR cluster that the targets file does not list (named as such)."""
    if incident_start is None:
        raise DRUnverifiable("OBJ-RPO", "no incident start to measure the data-loss window from")
    if not database or not agent_state:
        missing = [what for what, found in (("database tables", database), ("agents", agent_state)) if not found]
        return CheckResult(False, f"nothing to measure the data-loss window on: no {' and no '.join(missing)} "
                           f"(expected every written table of {where} and every agent's state)",
                           measured=None, limit=limit.total_seconds() if limit else None)
    gaps: dict[str, timedelta | None] = {}
    for table, newest in database.items():
        gaps[f"table {table}"] = None if newest is None else incident_start - newest
    for agent, newest in agent_state.items():
        unlisted = " (runs in the DR cluster, not in the targets file)" if discovered and agent in discovered else ""
        gaps[f"agent state {agent}{unlisted}"] = None if newest is None else incident_start - newest
    lines = [f"{source}: {'no data' if gap is None else format_duration(gap)}" for source, gap in gaps.items()]
    evidence = [Evidence("RPO gap per source",
                         f"incident start {isoformat(incident_start)} minus max(created_at) per table on {where}; "
                         "minus the newest current archive's LastModified per agent (aws s3api list-object-versions)", "\n".join(lines))]
    offenders = [f"{source}: {'no recovered data' if gap is None else format_duration(gap)} lost"
                 for source, gap in gaps.items() if gap is None or gap > limit]
    known = [g for g in gaps.values() if g is not None]
    worst = max(known) if known else None
    measured = {source: (None if gap is None else round(gap.total_seconds(), 1)) for source, gap in gaps.items()}
    if offenders:
        return CheckResult(False, f"data loss over the RPO ({format_duration(limit)}): " + "; ".join(offenders),
                           measured=measured, limit=limit.total_seconds(), offenders=offenders, evidence=evidence)
    return CheckResult(True, f"worst data-loss window {format_duration(worst)} over {len(gaps)} sources, "
                       f"limit {format_duration(limit)}", measured=measured, limit=limit.total_seconds(),
                       evidence=evidence)


def rto(incident_start: datetime, verdicts: list[dict], *, limit: timedelta, now: datetime | None = None) -> CheckResult:
    """OBJ-RTO: from the incident start until every gate criterion had passed, at most the RTO.

    Gate tests that only could not look (broken, skipped as not verified) leave the RTO unknown,
    not missed: that raises DRUnverifiable, unless the RTO has run out anyway (then it is missed).
    """
    if incident_start is None:
        raise DRUnverifiable("OBJ-RTO", "no incident start to measure the recovery time from")
    now = now or datetime.now(incident_start.tzinfo)
    verdicts = [v for v in verdicts or [] if isinstance(v, dict) and v.get("at") and v.get("outcome")]
    not_passed = [v for v in verdicts if v["outcome"] != "passed"]
    lines = [f"{v['at']}  {v['outcome']:<8} {','.join(v.get('criteria') or [])}  {v.get('nodeid', '?')}" for v in verdicts]
    evidence = [Evidence("gate verdicts", "every gate test of this run, when it finished", "\n".join(lines))]
    if not verdicts:
        return CheckResult(False, "no gate criterion ran in this run, so recovery was never validated",
                           measured=None, limit=limit.total_seconds(), evidence=evidence)
    if not_passed:
        names = sorted({c for v in not_passed for c in v.get("criteria") or [v.get("nodeid", "?")]})
        elapsed = now - incident_start
        failed = [v for v in not_passed if v["outcome"] == "failed"]
        if not failed and elapsed <= limit:
            raise DRUnverifiable("OBJ-RTO", f"{len(names)} gate criteria could not be verified ({', '.join(names)}), "
                                 f"so recovery is unknown {format_duration(elapsed)} after the incident start "
                                 f"(RTO {format_duration(limit)})")
        return CheckResult(False, f"not recovered after {format_duration(elapsed)}: {len(names)} gate criteria "
                           f"have not passed ({', '.join(names)}); RTO {format_duration(limit)}"
                           + (" (missed)" if elapsed > limit else ""),
                           measured=elapsed.total_seconds(), limit=limit.total_seconds(), offenders=names,
                           evidence=evidence)
    validated = max(datetime.fromisoformat(v["at"]) for v in verdicts)
    elapsed = validated - incident_start
    ok = elapsed <= limit
    summary = (f"recovery validated {format_duration(elapsed)} after the incident start "
               f"({isoformat(incident_start)} -> {isoformat(validated)}), RTO {format_duration(limit)}"
               + ("" if ok else f": missed by {format_duration(elapsed - limit)}"))
    return CheckResult(ok, summary, measured=elapsed.total_seconds(), limit=limit.total_seconds(),
                       evidence=evidence)
