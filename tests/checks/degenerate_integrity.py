"""Degenerate inputs for the database integrity check: no restore point, no schema, empty tables, NULLs."""

from datetime import datetime, timezone

from pytest_kosmos_dr.checks import integrity

POINT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
SCHEMA = [(table, column) for table, columns in integrity.EXPECTED_SCHEMA.items() for column in columns]


class _Conn:
    """A database answering ``schema`` for the schema query and ``row`` for every other one."""

    def __init__(self, schema, row):
        self.schema, self.row, self.sql = schema, row, ""

    def execute(self, sql, params=None):
        self.sql = sql
        return self

    def fetchall(self):
        return self.schema if "information_schema" in self.sql else []

    def fetchone(self):
        return self.row


CASES = {
    "integrity.database_integrity": [
        ("no restore point", lambda: integrity.database_integrity(_Conn(SCHEMA, (0, None)), None, "restored")),
        ("no tables at all", lambda: integrity.database_integrity(_Conn([], (0, None)), POINT, "restored")),
        ("every table empty", lambda: integrity.database_integrity(_Conn(SCHEMA, (0, None)), POINT, "restored",
                                                                   newest_must_precede=False)),
        ("empty, compared with an empty source", lambda: integrity.database_integrity(
            _Conn(SCHEMA, (0, "d41d8cd98f00b204e9800998ecf8427e")), POINT, "restored",
            source_conn=_Conn(SCHEMA, (0, "d41d8cd98f00b204e9800998ecf8427e")), source_name="source")),
    ],
}
