"""Database integrity on plain data (no sandbox): a fake database answering the check's queries."""

from __future__ import annotations

from datetime import datetime, timezone

from pytest_kosmos_dr.checks import integrity

POINT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)


class FakeDatabase:
    """Per table: rows in the window (count, md5), rows up to the restore point, rows newer; orphans."""

    def __init__(self, window=None, history=None, newer=None, orphans=0, schema=None):
        self.window = window or {"agents": (0, "e"), "conversations": (27, "c1"), "messages": (54, "m1")}
        self.history = history or {"agents": 5, "conversations": 2024, "messages": 8048}
        self.newer = newer or {}
        self.orphans = orphans
        self.schema = schema if schema is not None else integrity.EXPECTED_SCHEMA
        self.sql = ""

    def execute(self, sql, params=None):
        self.sql = sql
        return self

    def _table(self):
        return next(t for t in integrity.WRITE_TIMESTAMPS if f"FROM {t} " in self.sql or f"FROM {t}\n" in self.sql)

    def fetchall(self):
        return [(t, c) for t, columns in self.schema.items() for c in columns]

    def fetchone(self):
        if "md5(" in self.sql:
            return self.window[self._table()]
        if "NOT EXISTS" in self.sql:
            return (self.orphans if "messages c" in self.sql else 0,)
        if "created_at > %s" in self.sql:
            return self.newer.get(self._table(), (0, None))
        return (self.history[self._table()],)


def check(restored, source=None, **kwargs):
    return integrity.database_integrity(restored, POINT, "restored", source_conn=source, source_name="the DR database",
                                        **kwargs)


def test_identical_tables_pass():
    result = check(FakeDatabase(), FakeDatabase())
    assert result.passed, result.summary
    assert "27 conversations and 54 messages in the hour before" in result.summary


def test_deleted_conversations_are_found_by_count_over_the_window_and_the_history():
    restored = FakeDatabase(window={"agents": (0, "e"), "conversations": (17, "c0"), "messages": (54, "m1")},
                            history={"agents": 5, "conversations": 2014, "messages": 8048})
    result = check(restored, FakeDatabase())
    assert not result.passed
    assert "17 conversations in the hour before 2025-12-13T09:12:00Z, source the DR database has 27 (missing 10)" \
        in result.summary
    assert "2014 conversations created at or before 2025-12-13T09:12:00Z, source the DR database has 2024 (missing 10)" \
        in result.summary


def test_same_count_other_content_is_found_by_the_checksum():
    restored = FakeDatabase(window={"agents": (0, "e"), "conversations": (27, "tampered"), "messages": (54, "m1")})
    result = check(restored, FakeDatabase())
    assert not result.passed and "conversations in the hour before 2025-12-13T09:12:00Z differ in content" in result.summary


def test_messages_lost_from_the_window_fail_even_without_a_source():
    result = check(FakeDatabase(window={"agents": (0, "e"), "conversations": (27, "c1"), "messages": (0, "x")}),
                   newest_must_precede=False)
    assert not result.passed and "no messages in the hour before 2025-12-13T09:12:00Z (27 conversations)" in result.summary


def test_rows_newer_than_the_restore_point_and_orphans_fail():
    newer = {"messages": (2, datetime(2025, 12, 13, 9, 13, tzinfo=timezone.utc))}
    result = check(FakeDatabase(newer=newer, orphans=1))
    assert not result.passed
    assert "messages: 2 rows newer than the restore point" in result.summary
    assert "1 messages rows whose conversation_id has no conversations" in result.summary


def test_missing_table_or_column_fails_first():
    schema = {"agents": integrity.EXPECTED_SCHEMA["agents"], "conversations": ("id", "agent_id", "title", "created_at")}
    result = check(FakeDatabase(schema=schema))
    assert not result.passed and result.summary == "restored: schema lacks conversations.updated_at, table messages"


def test_empty_database_fails():
    empty = FakeDatabase(window={t: (0, "d41d8") for t in integrity.WRITE_TIMESTAMPS},
                         history={t: 0 for t in integrity.WRITE_TIMESTAMPS})
    result = check(empty, empty)
    assert not result.passed and "no conversations in the hour before" in result.summary
