"""The DR database answers (VAL-DB-CONNECT): a connection to the target's DR database runs a query,
and what answers is the promoted DR database: out of recovery, holding the KOSMOS schema and data."""

from __future__ import annotations

import time
from datetime import timedelta

from ..clients.database import classify, connect
from ..environment import DatabaseEndpoint
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence
from .integrity import EXPECTED_SCHEMA

IDENTITY_SQL = ("SELECT pg_is_in_recovery(), current_database(), "
                + ", ".join(f"to_regclass('public.{table}') IS NOT NULL" for table in EXPECTED_SCHEMA))
HOLDS_DATA_SQL = "SELECT EXISTS (SELECT 1 FROM conversations)"


def database_connect(endpoint: DatabaseEndpoint, connect_timeout: timedelta,
                     statement_timeout: timedelta) -> CheckResult:
    """VAL-DB-CONNECT: ``SELECT 1`` succeeds on the DR database, and the server that answers is the
    promoted DR database (``pg_is_in_recovery()`` false: a standby still in recovery refuses every
    write) with the KOSMOS tables and conversations in them (a blank database is not the DR copy)."""
    import psycopg

    cid = "VAL-DB-CONNECT"
    where = endpoint.describe()
    asked = (f"SELECT 1; {IDENTITY_SQL}; {HOLDS_DATA_SQL}  -- on {where}\n"
             f"(shell: psql -h $PGHOST -U $PGUSER -d {endpoint.dbname} -c \"SELECT 1\" -c \"SELECT pg_is_in_recovery()\")")
    started = time.monotonic()
    try:
        with connect(endpoint, connect_timeout, statement_timeout) as conn:
            value = conn.execute("SELECT 1").fetchone()[0]
            elapsed = (time.monotonic() - started) * 1000
            recovering, database, *tables = conn.execute(IDENTITY_SQL).fetchone()
            present = dict(zip(EXPECTED_SCHEMA, tables))
            holds_data = conn.execute(HOLDS_DATA_SQL).fetchone()[0] if all(present.values()) else None
    except psycopg.Error as exc:
        cannot_look, reason, hint = classify(exc)
        if cannot_look:
            raise DRUnverifiable(f"DR database {where}", reason, hint) from None
        return CheckResult(cid, False, f"DR database {where} did not answer SELECT 1 and the identity queries: {reason}",
                           measured=reason, limit="SELECT 1 = 1", evidence=[Evidence("query", asked, reason)])
    seen = (f"SELECT 1 = {value} in {elapsed:.0f} ms; in recovery={recovering}; database={database}; KOSMOS tables: "
            + ", ".join(f"{t}={'yes' if ok else 'MISSING'}" for t, ok in present.items())
            + f"; holds conversations={holds_data}")
    evidence = [Evidence("query", asked, seen)]
    problems = []
    if value != 1:
        problems.append(f"SELECT 1 returned {value!r}")
    if recovering:
        problems.append("it is a standby still in recovery (pg_is_in_recovery() = true): not promoted, it refuses writes")
    missing = [t for t, ok in present.items() if not ok]
    if missing:
        problems.append(f"database {database} lacks the KOSMOS tables {', '.join(missing)}: not the DR database")
    elif holds_data is False:
        problems.append(f"database {database} holds no conversations: a blank database, not the DR copy of production")
    if problems:
        return CheckResult(cid, False, f"DR database {where} answered SELECT 1 in {elapsed:.0f} ms, but "
                           + "; ".join(problems) + " (required: the promoted DR database with KOSMOS's data)",
                           measured=seen, limit="SELECT 1 = 1 on the promoted DR database", offenders=problems,
                           evidence=evidence)
    return CheckResult(cid, True, f"SELECT 1 on {where} returned 1 in {elapsed:.0f} ms; the promoted DR database "
                       f"(not in recovery, {database} with the KOSMOS tables and their data)", measured=value,
                       limit=1, evidence=evidence)
