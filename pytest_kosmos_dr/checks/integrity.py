"""Integrity of a recovered database (REC-DB-INTEGRITY, used by REC-DB-PITR, REC-DB-SNAPSHOT and
SCN-DATA-CORRUPTION): the last hour before the restore point is there, nothing is newer than the
restore point, foreign keys hold, the schema is the expected one, and, where a source is given, the
recovered rows are the source's rows, table by table.

The source of a restore drill is the DR database: since the failover it carries production's data,
so its rows created at or before the restore point are what a restore to that point must hold.
Compared per table: the rows created in the hour before the restore point (count and an md5 of the
ordered rows) and every row created at or before it (count). Rows the live service edited after
the failover would show as a difference: a false alarm, never a false pass.
"""

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
# The columns a row's content is compared by (conversations.updated_at moves with the live service).
CONTENT_COLUMNS = {
    "agents": ("id", "display_name", "created_at"),
    "conversations": ("id", "agent_id", "title", "created_at"),
    "messages": ("id", "conversation_id", "role", "body", "created_at"),
}
# Tables whose window must not be empty: a chat service that created conversations wrote messages.
WINDOW_MUST_HOLD = ("conversations", "messages")
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


def window_sql(table: str) -> str:
    """Count and md5 of ``table``'s rows created in (since, until], ordered by id."""
    columns = ", ".join(CONTENT_COLUMNS[table])
    stamp = WRITE_TIMESTAMPS[table]
    return (f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r.id), '')) FROM "
            f"(SELECT {columns} FROM {table} WHERE {stamp} > %(since)s AND {stamp} <= %(until)s) r")


def history_sql(table: str) -> str:
    """Count of ``table``'s rows created at or before the restore point."""
    return f"SELECT count(*) FROM {table} WHERE {WRITE_TIMESTAMPS[table]} <= %(until)s"


def window_count(conn, restore_point: datetime) -> int:
    return conn.execute(WINDOW_COUNT_SQL, (restore_point - WINDOW, restore_point)).fetchone()[0]


def _fingerprint(conn, restore_point: datetime, with_history: bool) -> dict[str, dict]:
    """Per table: window count and md5, and (``with_history``) the count at or before the restore point."""
    params = {"since": restore_point - WINDOW, "until": restore_point}
    found = {}
    for table in WRITE_TIMESTAMPS:
        count, digest = conn.execute(window_sql(table), params).fetchone()
        found[table] = {"window": count, "md5": digest}
        if with_history:
            found[table]["history"] = conn.execute(history_sql(table), params).fetchone()[0]
    return found


def _describe(fingerprint: dict[str, dict]) -> str:
    return "\n".join(f"{table}: {v['window']} rows in the window, md5 {v['md5']}"
                     + (f", {v['history']} rows at or before the restore point" if "history" in v else "")
                     for table, v in fingerprint.items())


def _difference(n: int, expected: int) -> str:
    return f"missing {expected - n}" if n < expected else f"{n - expected} more"


def database_integrity(conn, restore_point: datetime | None, where: str, source_conn=None, source_name: str = "",
                       newest_must_precede: bool = True, criterion: str = "REC-DB-INTEGRITY") -> CheckResult:
    """All integrity conditions on ``conn``; ``source_conn`` (optional) holds the rows expected.

    ``newest_must_precede`` is False for a live DR database, which legitimately takes writes after
    the incident. ``criterion`` names the drill the integrity is proven for (REC-DB-PITR, ...).
    """
    cid = criterion
    if restore_point is None:
        return CheckResult(cid, False, f"{where}: no restore point to check the database against",
                           measured=None, limit="a restore point")
    problems: list[str] = []
    evidence: list[Evidence] = []
    since = restore_point - WINDOW
    shown = {"since": repr(isoformat(since)), "until": repr(isoformat(restore_point))}

    columns: dict[str, list[str]] = {}
    for table, column in conn.execute(SCHEMA_SQL).fetchall():
        columns.setdefault(table, []).append(column)
    missing = []
    for table, expected in EXPECTED_SCHEMA.items():
        if table not in columns:
            missing.append(f"table {table}")
        else:
            missing += [f"{table}.{c}" for c in expected if c not in columns[table]]
    evidence.append(Evidence("schema", SCHEMA_SQL, "\n".join(f"{t}({', '.join(c)})" for t, c in columns.items())
                             or "no tables in schema public"))
    if missing:
        problems.append("schema lacks " + ", ".join(missing))
        return CheckResult(cid, False, f"{where}: " + "; ".join(problems), measured="schema incomplete",
                           limit="expected schema", offenders=problems, evidence=evidence)

    compare = source_conn is not None
    ours = _fingerprint(conn, restore_point, compare)
    theirs = _fingerprint(source_conn, restore_point, True) if compare else None
    queries = "\n".join(window_sql(t) % shown + (f";\n{history_sql(t) % shown}" if compare else "")
                        for t in WRITE_TIMESTAMPS)
    evidence.append(Evidence("per table: the hour before the restore point" + (" and all rows up to it" if compare else ""),
                             f"{queries}\n(shell: psql -h <endpoint> -U $PGUSER -d kosmos -c \"<query>\")",
                             f"on {where}:\n{_describe(ours)}" + (f"\non {source_name}:\n{_describe(theirs)}"
                                                                  if compare else "\nsource not compared")))
    count = ours["conversations"]["window"]
    for table in WINDOW_MUST_HOLD:
        if ours[table]["window"] == 0:
            extra = f" ({count} conversations)" if table != "conversations" else ""
            problems.append(f"no {table} in the hour before {isoformat(restore_point)}{extra}")
    if compare:
        for table in WRITE_TIMESTAMPS:
            mine, source = ours[table], theirs[table]
            if mine["window"] != source["window"]:
                problems.append(f"{mine['window']} {table} in the hour before {isoformat(restore_point)}, source "
                                f"{source_name} has {source['window']} ({_difference(mine['window'], source['window'])})")
            elif mine["md5"] != source["md5"]:
                problems.append(f"{table} in the hour before {isoformat(restore_point)} differ in content from "
                                f"{source_name} (md5 {mine['md5'][:12]}... vs {source['md5'][:12]}...)")
            if mine["history"] != source["history"]:
                problems.append(f"{mine['history']} {table} created at or before {isoformat(restore_point)}, source "
                                f"{source_name} has {source['history']} "
                                f"({_difference(mine['history'], source['history'])})")

    if newest_must_precede:
        newer = []
        for table, column in WRITE_TIMESTAMPS.items():
            sql = f"SELECT count(*), max({column}) FROM {table} WHERE {column} > %s"
            rows, newest = conn.execute(sql, (restore_point,)).fetchone()
            if rows:
                newer.append(f"{table}: {rows} rows newer than the restore point (newest {isoformat(newest)}, "
                             f"{format_duration(newest - restore_point)} after)")
        evidence.append(Evidence("rows newer than the restore point",
                                 f"SELECT count(*), max(created_at) FROM <table> WHERE created_at > "
                                 f"{shown['until']}", "\n".join(newer) or "none"))
        problems += newer

    orphans = []
    for child, column, parent, parent_column in FOREIGN_KEYS:
        sql = ORPHANS_SQL.format(child=child, column=column, parent=parent, parent_column=parent_column)
        found = conn.execute(sql).fetchone()[0]
        evidence.append(Evidence(f"orphans {child}.{column}", sql, str(found)))
        if found:
            orphans.append(f"{found} {child} rows whose {column} has no {parent}")
    problems += orphans

    limit = theirs["conversations"]["window"] if compare else "> 0"
    if problems:
        return CheckResult(cid, False, f"{where}: " + "; ".join(problems), measured=count,
                           limit=limit, offenders=problems, evidence=evidence)
    matched = (f" (every table = source {source_name}: counts and md5 over the hour, counts up to the restore point)"
               if compare else " (source not reachable: not compared)")
    return CheckResult(cid, True, f"{where}: {count} conversations and {ours['messages']['window']} messages in the hour "
                       f"before {isoformat(restore_point)}{matched}, no orphans, expected schema"
                       + (", nothing newer than the restore point" if newest_must_precede else ""),
                       measured=count, limit=limit, evidence=evidence)
