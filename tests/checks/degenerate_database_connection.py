"""Degenerate worlds for VAL-DB-CONNECT: nothing listening, no credentials, no host, a server
answering NULLs, a target naming no table."""

from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

from pytest_kosmos_dr.checks import database_connection
from pytest_kosmos_dr.checks.integrity import Contract
from pytest_kosmos_dr.environment import DatabaseEndpoint
from pytest_kosmos_dr.sandbox.component import free_port

T = timedelta(seconds=1)


class _Conn:
    """A server whose every query answers ``row``."""

    def __init__(self, row):
        self.row = row

    def execute(self, sql, params=None):
        return self

    def fetchone(self):
        return self.row


def _answering(row, database=None):
    @contextmanager
    def connect(*_):
        yield _Conn(row)

    endpoint = DatabaseEndpoint("127.0.0.1", 5432, "kosmos", "admin", "x")
    with mock.patch.object(database_connection, "connect", connect):
        return database_connection.database_connect(endpoint, connect_timeout=T, statement_timeout=T, database=database)


def _nothing_listening(**fields):
    endpoint = DatabaseEndpoint(**{"host": "127.0.0.1", "port": free_port(), "dbname": "kosmos", "user": "admin",
                                   "password": None, **fields})
    return database_connection.database_connect(endpoint, connect_timeout=T, statement_timeout=T)


NO_TABLES = Contract("public", timedelta(hours=1), "created_at", (), (), ())


CASES = {
    "database_connection.database_connect": [
        ("nothing listening", lambda: _nothing_listening()),
        ("empty database name and user", lambda: _nothing_listening(dbname="", user="")),
        ("no host and no RDS instance to read it from", lambda: _nothing_listening(host="")),
        ("every query answers NULL", lambda: _answering((None, None, None, None, None))),
        ("every query answers an empty row", lambda: _answering(())),
        ("SELECT 1 answers 0, no KOSMOS tables", lambda: _answering((0, False, "kosmos", False, False, False))),
        ("the target names no table", lambda: _answering((1, False, "kosmos", True), NO_TABLES)),
    ],
}
