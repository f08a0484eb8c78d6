"""The DR database answers (VAL-DB-CONNECT): a connection to the target's DR database runs a query."""

from __future__ import annotations

import time
from datetime import timedelta

from ..clients.database import classify, connect
from ..environment import DatabaseEndpoint
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence


def database_connect(endpoint: DatabaseEndpoint, connect_timeout: timedelta,
                     statement_timeout: timedelta) -> CheckResult:
    """VAL-DB-CONNECT: ``SELECT 1`` succeeds on the DR database."""
    import psycopg

    cid = "VAL-DB-CONNECT"
    asked = f"SELECT 1  -- on {endpoint.describe()}\n(shell: psql -h $PGHOST -U $PGUSER -d {endpoint.dbname} -c \"SELECT 1\")"
    started = time.monotonic()
    try:
        with connect(endpoint, connect_timeout, statement_timeout) as conn:
            value = conn.execute("SELECT 1").fetchone()[0]
    except psycopg.Error as exc:
        cannot_look, reason, hint = classify(exc)
        if cannot_look:
            raise DRUnverifiable(f"DR database {endpoint.describe()}", reason, hint) from None
        return CheckResult(cid, False, f"DR database {endpoint.describe()} did not answer SELECT 1: {reason}",
                           measured=reason, limit="SELECT 1 = 1", evidence=[Evidence("query", asked, reason)])
    elapsed = (time.monotonic() - started) * 1000
    ok = value == 1
    return CheckResult(cid, ok, f"SELECT 1 on {endpoint.describe()} returned {value} in {elapsed:.0f} ms",
                       measured=value, limit=1, evidence=[Evidence("query", asked, f"{value} ({elapsed:.0f} ms)")])
