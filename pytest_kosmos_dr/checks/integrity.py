"""Integrity of a recovered database (REC-DB-INTEGRITY, used by REC-DB-PITR, REC-DB-SNAPSHOT and
SCN-DATA-CORRUPTION): the window before the restore point is there, nothing is newer than the
restore point, every foreign key holds, the schema has the expected tables and, where a source is
given, the recovered rows are the source's rows, table by table.

Tables, columns and foreign keys are read from the database's own catalog (``pg_class``,
``pg_attribute``, ``pg_constraint`` of the connected database, schema ``database.schema``), never
from a list kept here. What the catalog cannot say comes from the target (``Contract``): the
write-timestamp column (``database.write_timestamp``), the tables that must have rows in the window
(``database.window_tables``, by default the plan's ``conversations``), further expected tables or
columns (``database.expected_schema``), the columns the live service edits (``database.mutable_columns``)
and the window (``database.integrity_window``).

The source of a restore drill is the DR database: since the failover it carries production's data,
so its rows created at or before the restore point are what a restore to that point must hold.
Compared per table carrying the write timestamp: the rows created in the window before the restore
point (count and an md5 of the rows, mutable columns left out) and every row created at or before
it (count); and the restored catalog must have the source's tables, columns and foreign keys. Rows
the live service edited after the failover would show as a difference: a false alarm, never a false
pass. A schema that declares no foreign key at all fails: "foreign keys hold" cannot be shown on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clients.database import pipelined
from ..results import CheckResult, Evidence
from ..target import DatabaseSettings
from ..timeparse import format_duration, isoformat

# The target's [database] keys this module reads (docs/configuration.md); their defaults state the
# plan's integrity query: SELECT COUNT(*) FROM conversations WHERE created_at > <restore point - 1 h>.
CONTRACT_KEYS = ("schema", "write_timestamp", "window_tables", "expected_schema", "mutable_columns")


@dataclass(frozen=True)
class Contract:
    """What the integrity check takes from the target's ``[database]`` table."""

    schema: str
    window: timedelta
    write_timestamp: str
    window_tables: tuple[str, ...]
    expected_schema: tuple[str, ...]  # "table" or "table.column"
    mutable_columns: tuple[str, ...]

    @classmethod
    def of(cls, database=None) -> "Contract":
        """The contract of ``database`` (a target's ``DatabaseSettings``; None: the defaults)."""
        if isinstance(database, Contract):
            return database
        database = database if database is not None else DatabaseSettings()
        value = {key: getattr(database, key) for key in CONTRACT_KEYS}
        return cls(window=database.integrity_window, **{k: (tuple(v) if isinstance(v, (list, tuple)) else v)
                                                         for k, v in value.items()})

    def required(self) -> dict[str, tuple[str, ...]]:
        """Table -> columns the database must have: the window tables with the write timestamp, and
        the expected schema's entries."""
        need: dict[str, list[str]] = {t: [self.write_timestamp] for t in self.window_tables}
        for entry in self.expected_schema:
            table, _, column = entry.partition(".")
            need.setdefault(table, [])
            if column and column not in need[table]:
                need[table].append(column)
        return {t: tuple(c) for t, c in need.items()}


@dataclass(frozen=True)
class ForeignKey:
    name: str
    child: str
    columns: tuple[str, ...]
    parent_schema: str
    parent: str
    parent_columns: tuple[str, ...]
    validated: bool = True

    def describe(self) -> str:
        return (f"{self.name}: {self.child}({', '.join(self.columns)}) -> {self.parent}"
                f"({', '.join(self.parent_columns)})" + ("" if self.validated else " NOT VALID"))

    def shape(self) -> tuple:
        """What makes two databases' foreign keys the same one (names may differ)."""
        return self.child, self.columns, self.parent, self.parent_columns


@dataclass(frozen=True)
class Catalog:
    database: str
    schema: str
    columns: dict[str, tuple[str, ...]]  # table -> columns, in order
    foreign_keys: tuple[ForeignKey, ...]


# Ordinary and partitioned tables of the schema (a partition is counted through its parent).
TABLES_SQL = ("SELECT c.relname, a.attname FROM pg_catalog.pg_class c "
              "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
              "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
              "WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
              "ORDER BY c.relname, a.attnum")
# Every foreign key declared on those tables (not the copies PostgreSQL makes on partitions).
FOREIGN_KEYS_SQL = (
    "SELECT con.conname, ch.relname, pn.nspname, pa.relname, con.convalidated, "
    "array_agg(ca.attname ORDER BY k.ord), array_agg(pc.attname ORDER BY k.ord) "
    "FROM pg_catalog.pg_constraint con "
    "JOIN pg_catalog.pg_class ch ON ch.oid = con.conrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = ch.relnamespace "
    "JOIN pg_catalog.pg_class pa ON pa.oid = con.confrelid "
    "JOIN pg_catalog.pg_namespace pn ON pn.oid = pa.relnamespace "
    "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_att, parent_att, ord) "
    "JOIN pg_catalog.pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child_att "
    "JOIN pg_catalog.pg_attribute pc ON pc.attrelid = con.confrelid AND pc.attnum = k.parent_att "
    "WHERE con.contype = 'f' AND con.conparentid = 0 AND n.nspname = %(schema)s AND NOT ch.relispartition "
    "GROUP BY con.oid, con.conname, ch.relname, pn.nspname, pa.relname, con.convalidated "
    "ORDER BY ch.relname, con.conname")
DATABASE_SQL = "SELECT current_database()"


def span(window: timedelta) -> str:
    """The window in words: ``hour``, ``3 h``, ``90 min``."""
    seconds = int(window.total_seconds())
    if seconds == 3600:
        return "hour"
    if seconds > 0 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return format_duration(window)


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def read_catalog(conn, schema: str) -> Catalog:
    """The tables, columns and foreign keys of ``schema`` in the connected database (three queries, sent
    together)."""
    with pipelined(conn):  # (the results are in when the pipeline ends)
        asked = [conn.execute(DATABASE_SQL), conn.execute(TABLES_SQL, {"schema": schema}),
                 conn.execute(FOREIGN_KEYS_SQL, {"schema": schema})]
    row, listed, declared = asked[0].fetchone(), asked[1].fetchall(), asked[2].fetchall()
    database = (row or [None])[0] or "?"
    columns: dict[str, list[str]] = {}
    for table, column in listed or []:
        if table and column:
            columns.setdefault(table, []).append(column)
    keys = []
    for name, child, parent_schema, parent, validated, cols, parent_cols in declared or []:
        if child and parent and cols and parent_cols:
            keys.append(ForeignKey(name or "?", child, tuple(cols), parent_schema or schema, parent,
                                   tuple(parent_cols), validated is not False))
    return Catalog(database, schema, {t: tuple(c) for t, c in columns.items()}, tuple(keys))


def timestamped_tables(catalog: Catalog, contract: Contract) -> list[str]:
    """The catalog's tables carrying the write-timestamp column, by name."""
    return sorted(t for t, cols in catalog.columns.items() if contract.write_timestamp in cols)


def newest_writes_before(conn, before: datetime, database=None, tables=None) -> dict[str, datetime | None]:
    """Per table carrying the write timestamp (discovered; or ``tables``): its newest write at or before
    ``before``."""
    contract = Contract.of(database)
    if tables is None:
        tables = timestamped_tables(read_catalog(conn, contract.schema), contract)
    stamp = ident(contract.write_timestamp)
    with pipelined(conn):  # one query per table, sent together
        asked = {table: conn.execute(f"SELECT max({stamp}) FROM {ident(contract.schema)}.{ident(table)} "
                                     f"WHERE {stamp} <= %(t)s", {"t": before}) for table in tables}
    return {table: cursor.fetchone()[0] for table, cursor in asked.items()}


def orphans_sql(schema: str, key: ForeignKey) -> str:
    """Rows of the child whose (non-NULL) key has no parent row."""
    present = " AND ".join(f"c.{ident(c)} IS NOT NULL" for c in key.columns)
    match = " AND ".join(f"p.{ident(pc)} = c.{ident(c)}" for c, pc in zip(key.columns, key.parent_columns))
    return (f"SELECT count(*) FROM {ident(schema)}.{ident(key.child)} c WHERE {present} AND NOT EXISTS "
            f"(SELECT 1 FROM {ident(key.parent_schema)}.{ident(key.parent)} p WHERE {match})")


def window_sql(schema: str, table: str, columns: tuple[str, ...], stamp: str) -> str:
    """Count and md5 of ``table``'s rows (``columns``) created in (since, until], in a fixed order."""
    shown = ", ".join(ident(c) for c in columns)
    return (f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM "
            f"(SELECT {shown} FROM {ident(schema)}.{ident(table)} WHERE {ident(stamp)} > %(since)s "
            f"AND {ident(stamp)} <= %(until)s) r")


def history_sql(schema: str, table: str, stamp: str) -> str:
    """Count of ``table``'s rows created at or before the restore point."""
    return f"SELECT count(*) FROM {ident(schema)}.{ident(table)} WHERE {ident(stamp)} <= %(until)s"


def newer_sql(schema: str, table: str, stamp: str) -> str:
    return (f"SELECT count(*), max({ident(stamp)}) FROM {ident(schema)}.{ident(table)} "
            f"WHERE {ident(stamp)} > %(until)s")


def _content_columns(catalog: Catalog, table: str, contract: Contract,
                     other: Catalog | None = None) -> tuple[str, ...]:
    """The columns a row's content is compared by: all but the mutable ones (and, compared with
    ``other``, those both databases have)."""
    return tuple(c for c in catalog.columns[table] if c not in contract.mutable_columns
                 and (other is None or table not in other.columns or c in other.columns[table]))


def _fingerprint(conn, catalog: Catalog, tables: list[str], contract: Contract, restore_point: datetime,
                 with_history: bool, other: Catalog | None = None) -> dict[str, dict]:
    """Per table: window count and md5, and (``with_history``) the count at or before the restore point."""
    with pipelined(conn):  # its queries sent together
        asked = _ask_fingerprint(conn, catalog, tables, contract, restore_point, with_history, other)
    return _fingerprint_of(asked)


def _ask_fingerprint(conn, catalog: Catalog, tables: list[str], contract: Contract, restore_point: datetime,
                     with_history: bool, other: Catalog | None = None) -> dict[str, tuple]:
    """``_fingerprint``'s queries, executed (fetched by ``_fingerprint_of``): per table its window cursor and
    (``with_history``) its history cursor."""
    params = {"since": restore_point - contract.window, "until": restore_point}
    stamp = contract.write_timestamp
    return {table: (conn.execute(window_sql(catalog.schema, table, _content_columns(catalog, table, contract, other),
                                            stamp), params),
                    conn.execute(history_sql(catalog.schema, table, stamp), params) if with_history else None)
            for table in tables}


def _fingerprint_of(asked: dict[str, tuple]) -> dict[str, dict]:
    found = {}
    for table, (window, history) in asked.items():
        count, digest = window.fetchone()
        found[table] = {"window": count or 0, "md5": digest}
        if history is not None:
            found[table]["history"] = history.fetchone()[0] or 0
    return found


def _ask_newer_and_orphans(conn, catalog: Catalog, tables: list[str], contract: Contract, restore_point: datetime,
                           newest_must_precede: bool) -> tuple[dict, list]:
    """The queries after the fingerprint, executed: per table its rows newer than the restore point (when
    ``newest_must_precede``), and per foreign key (key, its orphans query, the cursor)."""
    stamp = contract.write_timestamp
    newer = ({table: conn.execute(newer_sql(contract.schema, table, stamp), {"until": restore_point})
              for table in tables} if newest_must_precede else {})
    orphans = [(key, sql, conn.execute(sql)) for key in catalog.foreign_keys
               for sql in (orphans_sql(contract.schema, key),)]
    return newer, orphans


def _describe(fingerprint: dict[str, dict]) -> str:
    return "\n".join(f"{table}: {v['window']} rows in the window, md5 {v['md5']}"
                     + (f", {v['history']} rows at or before the restore point" if "history" in v else "")
                     for table, v in fingerprint.items()) or "no table carries the write timestamp"


def _difference(n: int, expected: int) -> str:
    return f"missing {expected - n}" if n < expected else f"{n - expected} more"


def _describe_catalog(catalog: Catalog) -> str:
    tables = "\n".join(f"{t}({', '.join(c)})" for t, c in catalog.columns.items())
    keys = "\n".join(k.describe() for k in catalog.foreign_keys)
    return (f"database {catalog.database}, schema {catalog.schema}: {len(catalog.columns)} tables, "
            f"{len(catalog.foreign_keys)} foreign keys\n{tables or 'no tables'}\n{keys or 'no foreign keys'}")


def _schema_problems(catalog: Catalog, contract: Contract, source: Catalog | None, source_name: str) -> list[str]:
    """What the catalog lacks: the target's expected tables and columns, and the source's."""
    if not catalog.columns:
        return [f"no tables in schema {catalog.schema} of database {catalog.database}"]
    missing = []
    for table, columns in contract.required().items():
        if table not in catalog.columns:
            missing.append(f"table {table}")
        else:
            missing += [f"{table}.{c}" for c in columns if c not in catalog.columns[table]]
    problems = ["schema lacks " + ", ".join(missing)] if missing else []
    if source is not None:
        lacks = []
        for table, columns in source.columns.items():
            if table not in catalog.columns:
                lacks.append(f"table {table}")
            else:
                lacks += [f"{table}.{c}" for c in columns if c not in catalog.columns[table]]
        ours = {k.shape() for k in catalog.foreign_keys}
        lacks += [f"foreign key {k.describe()}" for k in source.foreign_keys if k.shape() not in ours]
        lacks = [what for what in lacks if what not in missing]
        if lacks:
            problems.append(f"schema lacks what {source_name} has: " + ", ".join(lacks))
    return problems


def database_integrity(conn, restore_point: datetime | None, where: str, source_conn=None, source_name: str = "",
                       newest_must_precede: bool = True, criterion: str = "",
                       database=None) -> CheckResult:
    """All integrity conditions on ``conn``; ``source_conn`` (optional) holds the rows expected.

    ``database`` is the target's ``[database]`` settings (or a ``Contract``; None: the defaults).
    ``newest_must_precede`` is False for a live DR database, which legitimately takes writes after
    the incident. ``criterion`` names the drill the integrity is proven for (REC-DB-PITR, ...) when the
    test is marked with more than one criterion; empty: the test's only marker decides.
    """
    contract = Contract.of(database)
    window = span(contract.window)
    if restore_point is None:
        return CheckResult(False, f"{where}: no restore point to check the database against",
                           measured=None, limit="a restore point", criterion=criterion)
    problems: list[str] = []
    evidence: list[Evidence] = []
    shown = {"since": repr(isoformat(restore_point - contract.window)), "until": repr(isoformat(restore_point))}
    schema_param = {"schema": repr(contract.schema)}

    catalog = read_catalog(conn, contract.schema)
    compare = source_conn is not None
    theirs_catalog = read_catalog(source_conn, contract.schema) if compare else None
    evidence.append(Evidence("catalog (tables, columns, foreign keys)",
                             f"{TABLES_SQL % schema_param};\n{FOREIGN_KEYS_SQL % schema_param}",
                             f"on {where}:\n{_describe_catalog(catalog)}"
                             + (f"\non {source_name}:\n{_describe_catalog(theirs_catalog)}" if compare else "")))
    lacking = _schema_problems(catalog, contract, theirs_catalog, source_name)
    if lacking:
        return CheckResult(False, f"{where}: " + "; ".join(lacking), measured="schema incomplete",
                           limit="expected schema", offenders=lacking, evidence=evidence, criterion=criterion)

    tables = timestamped_tables(catalog, contract)
    # a table only the restored database has holds none of the source's data: not compared
    compared = [t for t in tables if contract.write_timestamp in theirs_catalog.columns.get(t, ())] if compare else []
    untimed = [f"{t} (no {contract.write_timestamp} column)" for t in sorted(set(catalog.columns) - set(tables))]
    with pipelined(conn):  # these depend on the catalog only: sent together, fetched once all are in
        asked = _ask_fingerprint(conn, catalog, tables, contract, restore_point, compare, theirs_catalog)
        # with a source, its queries run between ours and the rest (the first failing one raises, as before)
        later = None if compare else _ask_newer_and_orphans(conn, catalog, tables, contract, restore_point,
                                                            newest_must_precede)
    ours = _fingerprint_of(asked)
    theirs = (_fingerprint(source_conn, catalog, compared, contract, restore_point, True, theirs_catalog)
              if compare else None)
    if later is None:
        with pipelined(conn):  # (their results are in when the pipeline ends: fetched below)
            later = _ask_newer_and_orphans(conn, catalog, tables, contract, restore_point, newest_must_precede)
    newer_asked, orphans_asked = later
    stamp = contract.write_timestamp
    queries = "\n".join(window_sql(contract.schema, t, _content_columns(catalog, t, contract, theirs_catalog),
                                   stamp) % shown
                        + (f";\n{history_sql(contract.schema, t, stamp) % shown}" if compare else "") for t in tables)
    if compare and set(tables) - set(compared):
        untimed += [f"{t} (not in {source_name})" for t in sorted(set(tables) - set(compared))]
    evidence.append(Evidence(f"per table: the {window} before the restore point"
                             + (" and all rows up to it" if compare else ""),
                             f"{queries}\n(shell: psql -h <endpoint> -U $PGUSER -d {catalog.database} -c \"<query>\")",
                             f"on {where}:\n{_describe(ours)}" + (f"\non {source_name}:\n{_describe(theirs)}"
                                                                  if compare else "\nsource not compared")
                             + (f"\nnot compared: {', '.join(untimed)}" if untimed else "")))
    first = contract.window_tables[0] if contract.window_tables else None
    count = ours[first]["window"] if first in ours else None
    if first is None:
        problems.append("no table named to hold the window (database.window_tables is empty): the recovered data "
                        "cannot be judged")
    for table in contract.window_tables:
        if ours[table]["window"] == 0:
            extra = f" ({count} {first})" if table != first else ""
            problems.append(f"no {table} in the {window} before {isoformat(restore_point)}{extra}")
    if compare:
        for table in compared:
            mine, source = ours[table], theirs[table]
            if mine["window"] != source["window"]:
                problems.append(f"{mine['window']} {table} in the {window} before {isoformat(restore_point)}, source "
                                f"{source_name} has {source['window']} ({_difference(mine['window'], source['window'])})")
            elif mine["md5"] != source["md5"]:
                problems.append(f"{table} in the {window} before {isoformat(restore_point)} differ in content from "
                                f"{source_name} (md5 {str(mine['md5'])[:12]}... vs {str(source['md5'])[:12]}...)")
            if mine["history"] != source["history"]:
                problems.append(f"{mine['history']} {table} created at or before {isoformat(restore_point)}, source "
                                f"{source_name} has {source['history']} "
                                f"({_difference(mine['history'], source['history'])})")

    if newest_must_precede:
        newer = []
        for table in tables:
            rows, newest = newer_asked[table].fetchone()
            if rows:
                after = f", {format_duration(newest - restore_point)} after" if newest is not None else ""
                newer.append(f"{table}: {rows} rows newer than the restore point (newest "
                             f"{isoformat(newest) if newest is not None else '?'}{after})")
        evidence.append(Evidence("rows newer than the restore point",
                                 f"SELECT count(*), max({stamp}) FROM <table> WHERE {stamp} > {shown['until']}",
                                 "\n".join(newer) or "none"))
        problems += newer

    if not catalog.foreign_keys:
        problems.append(f"no foreign keys declared in schema {contract.schema}: orphaned rows cannot be ruled out "
                        f"({len(catalog.columns)} tables)")
    for key, sql, cursor in orphans_asked:
        found = cursor.fetchone()[0]
        evidence.append(Evidence(f"orphans {key.describe()}", sql, str(found)))
        if found:
            problems.append(f"{found} {key.child} rows whose {', '.join(key.columns)} has no {key.parent} "
                            f"(foreign key {key.name}{'' if key.validated else ', NOT VALID'})")

    limit = theirs[first]["window"] if compare and first in (theirs or {}) else "> 0"
    if problems:
        return CheckResult(False, f"{where}: " + "; ".join(problems), measured=count,
                           limit=limit, offenders=problems, evidence=evidence, criterion=criterion)
    matched = (f" (every table = source {source_name}: counts and md5 over the {window}, counts up to the restore "
               "point)" if compare else " (source not reachable: not compared)")
    held = ", ".join(f"{ours[t]['window']} {t}" for t in contract.window_tables)
    return CheckResult(True, f"{where}: {held} in the {window} before {isoformat(restore_point)}{matched}, "
                       f"{len(catalog.foreign_keys)} foreign keys without orphans, expected schema"
                       + (", nothing newer than the restore point" if newest_must_precede else ""),
                       measured=count, limit=limit, evidence=evidence, criterion=criterion)
