"""Degenerate inputs for the database integrity check: no restore point, no tables, no foreign keys,
empty tables, NULL answers. ``FakeDatabase`` answers the check's catalog and data queries from plain data."""

import copy
import re
from datetime import datetime, timedelta, timezone

from pytest_kosmos_dr.checks import integrity

POINT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
# A KOSMOS-like schema, as the catalog lists it (test data, not what the check assumes)
TABLES = {
    "agents": ("id", "display_name", "created_at"),
    "conversations": ("id", "agent_id", "title", "created_at", "updated_at"),
    "messages": ("id", "conversation_id", "role", "body", "created_at"),
}
KEYS = [  # as FOREIGN_KEYS_SQL answers: name, child, parent schema, parent, validated, columns, parent columns
    ("conversations_agent_id_fkey", "conversations", "public", "agents", True, ["agent_id"], ["id"]),
    ("messages_conversation_id_fkey", "messages", "public", "conversations", True, ["conversation_id"], ["id"]),
]


class FakeDatabase:
    """Per table: rows in the window (count, md5), rows up to the restore point, rows newer; orphans
    per child table; the catalog's tables and foreign keys."""

    def __init__(self, tables=None, keys=None, window=None, history=None, newer=None, orphans=None,
                 database="kosmos"):
        self.tables = TABLES if tables is None else tables
        self.keys = KEYS if keys is None else keys
        self.window = window if window is not None else {"agents": (0, "e"), "conversations": (27, "c1"),
                                                         "messages": (54, "m1")}
        self.history = history if history is not None else {"agents": 5, "conversations": 2024, "messages": 8048}
        self.newer = newer or {}
        self.orphans = orphans or {}
        self.database = database
        self.sql = ""
        self.asked: list[str] = []

    def execute(self, sql, params=None):
        """A cursor of its own per query (queries may be sent together and fetched later)."""
        self.sql = sql
        self.asked.append(sql)
        answer = copy.copy(self)
        answer.sql = sql
        return answer

    def _table(self):
        return re.search(r'FROM "[^"]+"\."([^"]+)"', self.sql).group(1)

    def fetchall(self):
        if "contype = 'f'" in self.sql:
            return list(self.keys)
        if "pg_attribute a" in self.sql:
            return [(t, c) for t, columns in self.tables.items() for c in columns]
        return []

    def fetchone(self):
        if "current_database" in self.sql:
            return (self.database,)
        if "md5(" in self.sql:
            return self.window.get(self._table(), (0, EMPTY_MD5))
        if "NOT EXISTS" in self.sql:
            return (self.orphans.get(self._table(), 0),)
        if "max(" in self.sql and "> %(until)s" in self.sql:
            return self.newer.get(self._table(), (0, None))
        if "max(" in self.sql:
            return (None,)
        return (self.history.get(self._table(), 0),)


class _Nulls(FakeDatabase):
    """A database answering NULL to every single-row query."""

    def fetchone(self):
        if "current_database" in self.sql:
            return (None,)
        return (None, None) if "md5(" in self.sql or "max(" in self.sql else (None,)


def _check(conn, **kwargs):
    return integrity.database_integrity(conn, POINT, "restored", **kwargs)


CASES = {
    "integrity.database_integrity": [
        ("no restore point", lambda: integrity.database_integrity(FakeDatabase(), None, "restored")),
        ("no tables at all", lambda: _check(FakeDatabase(tables={}, keys=[]))),
        ("tables but no foreign keys", lambda: _check(FakeDatabase(keys=[]), newest_must_precede=False)),
        ("every table empty", lambda: _check(FakeDatabase(window={}, history={}), newest_must_precede=False)),
        ("empty, compared with an empty source", lambda: _check(
            FakeDatabase(window={}, history={}), source_conn=FakeDatabase(window={}, history={}), source_name="source")),
        ("every query answers NULL", lambda: _check(_Nulls(), newest_must_precede=False)),
        ("the target names no window table", lambda: _check(
            FakeDatabase(), database=integrity.Contract("public", timedelta(hours=1), "created_at", (), (), ()))),
        ("a zero-length window", lambda: _check(
            FakeDatabase(window={}), database=integrity.Contract("public", timedelta(0), "created_at",
                                                                 ("conversations",), (), ()))),
    ],
}
