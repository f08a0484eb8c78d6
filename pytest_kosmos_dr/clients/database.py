"""The DR database connection: psycopg, read-only session, statement timeout, bounded connect."""

from __future__ import annotations

from datetime import timedelta

from ..environment import DatabaseEndpoint
from ..errors import DRUnverifiable

_CANNOT_LOOK = (
    ("password authentication failed", "password rejected", "check the password environment variable"),
    ("no password supplied", "no password given", "set the target's password environment variable"),
    ("could not translate host name", "database host name does not resolve", "check the host name"),
    ("role", "database user does not exist", "check database.user"),
    ("certificate verify failed", "TLS certificate not trusted", "check sslmode / the CA bundle"),
)


def classify(exc: Exception) -> tuple[bool, str, str]:
    """(cannot_look, reason, hint) for a connection error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = str(exc).lower()
    for needle, reason, hint in _CANNOT_LOOK:
        if needle in lowered and (needle != "role" or "does not exist" in lowered):
            return True, reason, hint
    if "timeout expired" in lowered:
        return False, "no answer within the connect timeout", ""
    if "connection refused" in lowered:
        return False, "connection refused", ""
    return False, text, ""


def connect(endpoint: DatabaseEndpoint, connect_timeout: timedelta, statement_timeout: timedelta):
    """A read-only, autocommit connection; errors raise psycopg.OperationalError unchanged."""
    import psycopg

    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={int(statement_timeout.total_seconds() * 1000)}"
    )
    conn = psycopg.connect(
        host=endpoint.host or None, port=endpoint.port, dbname=endpoint.dbname, user=endpoint.user,
        password=endpoint.password, sslmode=endpoint.sslmode,
        connect_timeout=max(1, int(connect_timeout.total_seconds())), options=options,
        application_name="pytest-kosmos-dr", autocommit=True,
    )
    return conn


def connect_or_unverifiable(endpoint: DatabaseEndpoint, connect_timeout: timedelta, statement_timeout: timedelta):
    """Like ``connect``, but any failure is "could not verify" with one clear reason."""
    import psycopg

    try:
        return connect(endpoint, connect_timeout, statement_timeout)
    except psycopg.Error as exc:
        _, reason, hint = classify(exc)
        raise DRUnverifiable(f"DR database {endpoint.describe()}", reason, hint) from None
