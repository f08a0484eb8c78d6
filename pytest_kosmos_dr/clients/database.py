"""The DR database connection: psycopg, read-only session, statement timeout, bounded connect.

``connect_or_unverifiable`` hands out a ``DRConnection``: a query the server could not answer
(connection lost, server shut down, statement timeout) is "could not verify: DR database ...: <plain
words>", never a raw ``psycopg.errors...`` text. SQL errors (a missing table, a wrong column) stay
psycopg errors: they say something about the DR database itself.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
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
    lowered = str(exc).lower()
    for needle, reason, hint in _CANNOT_LOOK:
        if needle in lowered and (needle != "role" or "does not exist" in lowered):
            return True, reason, hint
    if "timeout expired" in lowered:
        return False, "no answer within the connect timeout", ""
    if "connection refused" in lowered:
        return False, "connection refused", ""
    return False, plain_reason(exc), ""


# SQLSTATE -> what happened, in plain words (class 57: operator intervention; 08: connection exception)
_SQLSTATE_WORDS = {
    "57P01": "the server shut down (administrator command)",
    "57P02": "the server crashed and restarted",
    "57P03": "the server is starting up or shutting down",
    "57P04": "the database was dropped",
    "57P05": "the server closed the idle session",
    "57014": "a query ran past the statement timeout or was cancelled",
    "53300": "the server refuses more connections (too many clients)",
    "53100": "the server's disk is full",
    "53200": "the server is out of memory",
    "40001": "a query was cancelled by a conflict on the server",
    "40P01": "a query was cancelled by a deadlock on the server",
}
_TEXT_WORDS = (
    ("timeout expired", "no answer within the timeout"),
    ("timed out", "no answer within the timeout"),
    ("connection refused", "connection refused"),
    ("server closed the connection", "connection lost"),
    ("consuming input failed", "connection lost"),
    ("connection is lost", "connection lost"),
    ("connection is closed", "connection lost"),
    ("connection reset", "connection lost"),
    ("broken pipe", "connection lost"),
    ("ssl syscall", "connection lost"),
    ("terminating connection", "the server shut down the connection"),
)


def plain_reason(exc: BaseException) -> str:
    """What a psycopg error means, in plain words: no Python class names, no SQLSTATE soup."""
    state = getattr(exc, "sqlstate", None)
    if state in _SQLSTATE_WORDS:
        return _SQLSTATE_WORDS[state]
    lowered = str(exc).lower()
    for needle, words in _TEXT_WORDS:
        if needle in lowered:
            return words
    if state and state.startswith("08"):
        return "connection lost"
    first = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    return first or "the database connection failed"


def _operational(exc: BaseException) -> bool:
    """An error of the connection or server (not of the SQL): psycopg's OperationalError / InterfaceError."""
    import psycopg

    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


class DRConnection:
    """A psycopg connection whose lost connection / shutdown / timeout is ``DRUnverifiable``."""

    def __init__(self, conn, where: str) -> None:
        self._conn = conn
        self.where = where

    def _unverifiable(self, exc: BaseException) -> DRUnverifiable:
        return DRUnverifiable(f"DR database {self.where}", plain_reason(exc))

    def execute(self, *args, **kwargs):
        try:
            return _Cursor(self._conn.execute(*args, **kwargs), self)
        except Exception as exc:
            if _operational(exc):
                raise self._unverifiable(exc) from None
            raise

    def cursor(self, *args, **kwargs):
        try:
            return _Cursor(self._conn.cursor(*args, **kwargs), self)
        except Exception as exc:
            if _operational(exc):
                raise self._unverifiable(exc) from None
            raise

    @contextmanager
    def pipeline(self):
        """psycopg's pipeline mode (see ``pipelined``), its lost connection "could not verify" too."""
        try:
            with self._conn.pipeline():
                yield self
        except Exception as exc:
            if _operational(exc):
                raise self._unverifiable(exc) from None
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._conn.__exit__(*exc_info)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)

    def __repr__(self) -> str:
        return f"<DRConnection {self.where}>"


def pipelined(conn):
    """A context in which ``conn``'s queries go out together: psycopg's pipeline mode, so independent
    queries executed first and fetched after cost one network round trip, not one each. The same
    statements, each with its statement timeout, in the same read-only session; fetched in the order
    executed, the first failing query raises its own error, as one after another. A connection without
    pipeline mode (an older libpq, a stand-in): the queries run one after another, as before."""
    import psycopg

    if hasattr(conn, "pipeline") and psycopg.Pipeline.is_supported():
        return conn.pipeline()
    return nullcontext(conn)


class _Cursor:
    """A cursor whose fetches and executes raise ``DRUnverifiable`` for connection errors."""

    def __init__(self, cursor, conn: DRConnection) -> None:
        self._cursor = cursor
        self._owner = conn

    def __getattr__(self, name: str):
        value = getattr(self._cursor, name)
        if not callable(value):
            return value

        def guarded(*args, **kwargs):
            try:
                result = value(*args, **kwargs)
            except Exception as exc:
                if _operational(exc):
                    raise self._owner._unverifiable(exc) from None
                raise
            return self if result is self._cursor else result

        return guarded

    def __iter__(self):
        return iter(self.fetchall())

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._cursor.close()


def rds_endpoint(target, instance: str, region: str):
    """A lookup of ``instance``'s endpoint (address, port) in ``region``, made once, when first called:
    where the DR database answers when neither ``database.host`` nor ``$PGHOST`` names it. An RDS
    that does not answer, no such instance or one without an endpoint yet: ``DRUnverifiable``."""
    found: list[tuple[str, int]] = []

    def locate() -> tuple[str, int]:
        if not found:
            found.append(_describe_endpoint(target, instance, region))
        return found[0]

    return locate


def _describe_endpoint(target, instance: str, region: str) -> tuple[str, int]:
    from .aws import AwsClients, call

    what = f"DR database endpoint (RDS {instance} in {region}; database.host and $PGHOST are empty)"
    aws = AwsClients(target.aws.profile, region, target.timeouts, target.aws.endpoint_url or None)
    rds = aws.client("rds", region)
    try:
        listed = call(what, rds.describe_db_instances, DBInstanceIdentifier=instance).get("DBInstances") or []
    except DRUnverifiable as exc:
        if "DBInstanceNotFound" in str(exc):
            raise DRUnverifiable(what, f"RDS has no instance {instance} in {region}",
                                 "set database.host or $PGHOST, or check database.replica_instance") from None
        raise
    if not listed:
        raise DRUnverifiable(what, f"RDS lists no instance {instance} in {region}")
    endpoint = listed[0].get("Endpoint") or {}
    if not endpoint.get("Address"):
        raise DRUnverifiable(what, f"{instance} has no endpoint yet (status {listed[0].get('DBInstanceStatus', '?')})")
    return endpoint["Address"], int(endpoint.get("Port") or target.database.port)


def connect(endpoint: DatabaseEndpoint, connect_timeout: timedelta, statement_timeout: timedelta):
    """A read-only, autocommit connection; errors raise psycopg.OperationalError unchanged. An endpoint
    without a host takes it from RDS (``DatabaseEndpoint.located``); with neither: ``DRUnverifiable``."""
    import psycopg

    endpoint = endpoint.located()
    if not endpoint.host:
        raise DRUnverifiable(f"DR database {endpoint.describe()}", "no host: database.host, $PGHOST and "
                             "database.replica_instance are all empty", "set database.host")

    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={int(statement_timeout.total_seconds() * 1000)}"
    )
    conn = psycopg.connect(
        host=endpoint.host, port=endpoint.port, dbname=endpoint.dbname, user=endpoint.user,
        password=endpoint.password, sslmode=endpoint.sslmode,
        connect_timeout=max(1, int(connect_timeout.total_seconds())), options=options,
        application_name="pytest-kosmos-dr", autocommit=True,
    )
    return conn


def connect_or_unverifiable(endpoint: DatabaseEndpoint, connect_timeout: timedelta, statement_timeout: timedelta):
    """Like ``connect``, but any failure is "could not verify" with one clear reason."""
    import psycopg

    try:
        return DRConnection(connect(endpoint, connect_timeout, statement_timeout), endpoint.describe())
    except psycopg.Error as exc:
        cannot_look, reason, hint = classify(exc)
        if not cannot_look:
            reason = plain_reason(exc)
        raise DRUnverifiable(f"DR database {endpoint.describe()}", reason, hint) from None
