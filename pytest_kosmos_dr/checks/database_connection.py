"""The DR database answers (VAL-DB-CONNECT): a connection to the target's DR database runs a query,
and what answers is the promoted DR database: out of recovery, holding the KOSMOS tables the target
names (``database.window_tables`` and ``database.expected_schema``) with data in them."""

from __future__ import annotations

import time
from datetime import timedelta

from ..clients.database import classify, connect, pipelined
from ..environment import DatabaseEndpoint
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence
from .integrity import Contract, ident

IDENTITY_SQL = "SELECT pg_is_in_recovery(), current_database()"
TABLE_SQL = "SELECT to_regclass(%s) IS NOT NULL"


def holds_data_sql(schema: str, tables: tuple[str, ...]) -> str:
    """Whether any of ``tables`` has a row (a blank database has none)."""
    return "SELECT " + " OR ".join(f"EXISTS (SELECT 1 FROM {ident(schema)}.{ident(t)})" for t in tables)


def database_connect(endpoint: DatabaseEndpoint, *, connect_timeout: timedelta,
                     statement_timeout: timedelta, database=None) -> CheckResult:
    """VAL-DB-CONNECT: ``SELECT 1`` succeeds on the DR database, and the server that answers is the
    promoted DR database (``pg_is_in_recovery()`` false: a standby still in recovery refuses every
    write) with the target's KOSMOS tables and rows in its window tables (a blank database is not the
    DR copy). ``database``: the target's ``[database]`` settings (None: the endpoint's, else defaults)."""
    import psycopg

    contract = Contract.of(database if database is not None else getattr(endpoint, "settings", None))
    required = tuple(contract.required())
    holding = contract.window_tables
    where = endpoint.describe()
    data_sql = holds_data_sql(contract.schema, holding) if holding else ""
    asked = (f"SELECT 1; {IDENTITY_SQL}; "
             + "; ".join(TABLE_SQL.replace("%s", repr(f"{ident(contract.schema)}.{ident(t)}")) for t in required)
             + (f"; {data_sql}" if data_sql else "") + f"  -- on {where}\n"
             f"(shell: psql -h $PGHOST -U $PGUSER -d {endpoint.dbname} -c \"SELECT 1\" -c \"SELECT pg_is_in_recovery()\")")
    started = time.monotonic()
    try:
        with connect(endpoint, connect_timeout, statement_timeout) as conn:
            with pipelined(conn):  # independent: sent together (one round trip), fetched in order below
                asked_1, identity = conn.execute("SELECT 1"), conn.execute(IDENTITY_SQL)
                tables = {t: conn.execute(TABLE_SQL, (f"{ident(contract.schema)}.{ident(t)}",)) for t in required}
            value = (asked_1.fetchone() or [None])[0]
            elapsed = (time.monotonic() - started) * 1000
            recovering, name = (tuple(identity.fetchone() or ()) + (None, None))[:2]
            present = {t: bool((cursor.fetchone() or [False])[0]) for t, cursor in tables.items()}
            holds_data = ((conn.execute(data_sql).fetchone() or [None])[0]  # only once every table is there
                          if data_sql and all(present.values()) else None)
    except psycopg.Error as exc:
        cannot_look, reason, hint = classify(exc)
        if cannot_look:
            raise DRUnverifiable(f"DR database {where}", reason, hint) from None
        return CheckResult(False, f"DR database {where} did not answer SELECT 1 and the identity queries: {reason}",
                           measured=reason, limit="SELECT 1 = 1", evidence=[Evidence("query", asked, reason)])
    database_name = name or endpoint.dbname
    seen = (f"SELECT 1 = {value} in {elapsed:.0f} ms; in recovery={recovering}; database={name}; KOSMOS tables "
            f"(schema {contract.schema}): " + (", ".join(f"{t}={'yes' if ok else 'MISSING'}" for t, ok in present.items())
                                               or "none named by the target")
            + f"; holds rows in {', '.join(holding) or '-'}={holds_data}")
    evidence = [Evidence("query", asked, seen)]
    problems = []
    if value != 1:
        problems.append(f"SELECT 1 returned {value!r}")
    if recovering is not False:
        problems.append("it is a standby still in recovery (pg_is_in_recovery() = true): not promoted, it refuses writes"
                        if recovering else f"pg_is_in_recovery() answered {recovering!r}: cannot tell it was promoted")
    missing = [t for t, ok in present.items() if not ok]
    if not required:
        problems.append("the target names no KOSMOS table (database.window_tables and expected_schema are empty): "
                        "cannot tell the DR database from any other")
    elif missing:
        problems.append(f"database {database_name} lacks the KOSMOS tables {', '.join(missing)} (schema "
                        f"{contract.schema}): not the DR database")
    elif not holding:
        problems.append("the target names no table that must hold data (database.window_tables is empty): cannot "
                        "tell a blank database from the DR copy")
    elif holds_data is not True:
        problems.append(f"database {database_name} holds no {' or '.join(holding)}: a blank database, not the DR copy "
                        "of production")
    if problems:
        return CheckResult(False, f"DR database {where} answered SELECT 1 in {elapsed:.0f} ms, but "
                           + "; ".join(problems) + " (required: the promoted DR database with KOSMOS's data)",
                           measured=seen, limit="SELECT 1 = 1 on the promoted DR database", offenders=problems,
                           evidence=evidence)
    return CheckResult(True, f"SELECT 1 on {where} returned 1 in {elapsed:.0f} ms; the promoted DR database "
                       f"(not in recovery, {database_name} with the KOSMOS tables {', '.join(required)} and rows in "
                       f"{', '.join(holding)})", measured=value, limit=1, evidence=evidence)
