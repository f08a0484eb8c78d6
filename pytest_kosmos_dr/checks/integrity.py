"""Integrity of a recovered database (REC-DB-INTEGRITY, used by REC-DB-PITR, REC-DB-SNAPSHOT and
SCN-DATA-CORRUPTION): the last hour before the restore point is there (and matches the source),
nothing is newer than the restore point, foreign keys hold, the schema is the expected one."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..results import CheckResult, Evidence
from ..timeparse import format_duration, isoformat

# The KOSMOS tables the plan's queries rely on, with their write-timestamp columns.
EXPECTED_SCHEMA = {
    "agents": ("id", "display_name", "created_at"),
    "conversations": ("id", "agent_id", "title", "created_at", "updated_at"),
    "messages": ("id", "conversation_id", "role", "body", "created_at"),
}
WRITE_TIMESTAMPS = {"agents": "created_at", "conversations": "created_at", "messages": "created_at"}
# child table, child column, parent table, parent column
FOREIGN_KEYS = (
    ("conversations", "agent_id", "agents", "id"),
    ("messages", "conversation_id", "conversations", "id"),
)
WINDOW = timedelta(hours=1)

WINDOW_COUNT_SQL = "SELECT count(*) FROM conversations WHERE created_at > %s AND created_at <= %s"
ORPHANS_SQL = ("SELECT count(*) FROM {child} c WHERE c.{column} IS NOT NULL AND NOT EXISTS "
               "(SELECT 1 FROM {parent} p WHERE p.{parent_column} = c.{column})")
SCHEMA_SQL = ("SELECT table_name, column_name FROM information_schema.columns "
              "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")


def window_count(conn, restore_point: datetime) -> int:
    return conn.execute(WINDOW_COUNT_SQL, (restore_point - WINDOW, restore_point)).fetchone()[0]


def database_integrity(conn, restore_point: datetime, where: str, source_conn=None, source_name: str = "",
                       newest_must_precede: bool = True, criterion: str = "REC-DB-INTEGRITY") -> CheckResult:
    """All integrity conditions on ``conn``; ``source_conn`` (optional) gives the expected window count.

    ``newest_must_precede`` is False for a live DR database, which legitimately takes writes after
    the incident. ``criterion`` names the drill the integrity is proven for (REC-DB-PITR, ...).
    """
    cid = criterion
    problems: list[str] = []
    evidence: list[Evidence] = []
    since = restore_point - WINDOW
    window_sql = WINDOW_COUNT_SQL.replace("%s", f"'{isoformat(since)}'", 1).replace("%s", f"'{isoformat(restore_point)}'", 1)

    columns: dict[str, list[str]] = {}
    for table, column in conn.execute(SCHEMA_SQL).fetchall():
        columns.setdefault(table, []).append(column)
    missing = []
    for table, expected in EXPECTED_SCHEMA.items():
        if table not in columns:
            missing.append(f"table {table}")
        else:
            missing += [f"{table}.{c}" for c in expected if c not in columns[table]]
    evidence.append(Evidence("schema", SCHEMA_SQL, "\n".join(f"{t}({', '.join(c)})" for t, c in columns.items())))
    if missing:
        problems.append("schema lacks " + ", ".join(missing))
        return CheckResult(cid, False, f"{where}: " + "; ".join(problems), measured="schema incomplete",
                           limit="expected schema", offenders=problems, evidence=evidence)

    count = window_count(conn, restore_point)
    expected = None
    if source_conn is not None:
        expected = window_count(source_conn, restore_point)
    evidence.append(Evidence("last hour before the restore point",
                             f"{window_sql}\n(shell: psql -h <restored endpoint> -U $PGUSER -d kosmos -c \"{window_sql}\")",
                             f"{count} on {where}" + (f"; {expected} on {source_name}" if expected is not None else
                                                      "; source not compared")))
    if count == 0:
        problems.append(f"no conversations in the hour before {isoformat(restore_point)}")
    elif expected is not None and count != expected:
        problems.append(f"{count} conversations in the hour before {isoformat(restore_point)}, "
                        f"source {source_name} has {expected} (missing {expected - count})")

    if newest_must_precede:
        newer = []
        for table, column in WRITE_TIMESTAMPS.items():
            sql = f"SELECT count(*), max({column}) FROM {table} WHERE {column} > %s"
            rows, newest = conn.execute(sql, (restore_point,)).fetchone()
            if rows:
                newer.append(f"{table}: {rows} rows newer than the restore point (newest {isoformat(newest)}, "
                             f"{format_duration(newest - restore_point)} after)")
        evidence.append(Evidence("rows newer than the restore point",
                                 "SELECT count(*), max(created_at) FROM <table> WHERE created_at > <restore point>",
                                 "\n".join(newer) or "none"))
        problems += newer

    orphans = []
    for child, column, parent, parent_column in FOREIGN_KEYS:
        sql = ORPHANS_SQL.format(child=child, column=column, parent=parent, parent_column=parent_column)
        found = conn.execute(sql).fetchone()[0]
        evidence.append(Evidence(f"orphans {child}.{column}", sql, str(found)))
        if found:
            orphans.append(f"{found} {child} rows whose {column} has no {parent}")
    problems += orphans

    summary_ok = (f"{where}: {count} conversations in the hour before {isoformat(restore_point)}"
                  + (f" (= source {source_name})" if expected is not None else " (source not reachable: not compared)")
                  + ", no orphans, expected schema" + (", nothing newer than the restore point" if newest_must_precede else ""))
    if problems:
        return CheckResult(cid, False, f"{where}: " + "; ".join(problems), measured=count,
                           limit=expected if expected is not None else "> 0", offenders=problems, evidence=evidence)
    return CheckResult(cid, True, summary_ok, measured=count, limit=expected if expected is not None else "> 0",
                       evidence=evidence)

