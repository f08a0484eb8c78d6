"""Database integrity on plain data (no sandbox): a fake database answering the check's catalog and
data queries. Tables and foreign keys come from the (fake) catalog; the window, the write timestamp
and the tables that must hold rows from the target's [database] settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from degenerate_integrity import KEYS, TABLES, FakeDatabase

from pytest_kosmos_dr.checks import integrity
from pytest_kosmos_dr.target import DatabaseSettings

POINT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
CHAT = integrity.Contract("public", timedelta(hours=1), "created_at", ("conversations", "messages"), (),
                          ("updated_at",))


def check(restored, source=None, database=CHAT, **kwargs):
    return integrity.database_integrity(restored, POINT, "restored", source_conn=source, source_name="the DR database",
                                        database=database, **kwargs)


def test_identical_tables_pass():
    result = check(FakeDatabase(), FakeDatabase())
    assert result.passed, result.summary
    assert "27 conversations, 54 messages in the hour before" in result.summary
    assert "2 foreign keys without orphans" in result.summary


def test_the_defaults_are_the_plans_query():
    contract = integrity.Contract.of(DatabaseSettings())
    assert (contract.window_tables, contract.write_timestamp, contract.window) == (
        ("conversations",), "created_at", timedelta(hours=1))
    result = check(FakeDatabase(), database=None)
    assert result.passed and "27 conversations in the hour before" in result.summary


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


def test_mutable_columns_are_left_out_of_the_content():
    db = FakeDatabase()
    check(db, FakeDatabase())
    compared = [sql for sql in db.asked if "md5(" in sql and '"conversations"' in sql][0]
    assert '"updated_at"' not in compared and '"title"' in compared


def test_messages_lost_from_the_window_fail_even_without_a_source():
    result = check(FakeDatabase(window={"agents": (0, "e"), "conversations": (27, "c1"), "messages": (0, "x")}),
                   newest_must_precede=False)
    assert not result.passed and "no messages in the hour before 2025-12-13T09:12:00Z (27 conversations)" in result.summary


def test_rows_newer_than_the_restore_point_and_orphans_fail():
    newer = {"messages": (2, datetime(2025, 12, 13, 9, 13, tzinfo=timezone.utc))}
    result = check(FakeDatabase(newer=newer, orphans={"messages": 1}))
    assert not result.passed
    assert "messages: 2 rows newer than the restore point" in result.summary
    assert "1 messages rows whose conversation_id has no conversations (foreign key messages_conversation_id_fkey)" \
        in result.summary


def test_every_foreign_key_of_the_catalog_is_checked_a_new_table_too():
    """A table the plugin never heard of, with a foreign key (NOT VALID: rows predating it were never
    checked) and orphan rows: found from the catalog and named."""
    tables = dict(TABLES, agent_tasks=("id", "conversation_id", "state"))
    keys = KEYS + [("agent_tasks_conversation_fk", "agent_tasks", "public", "conversations", False,
                    ["conversation_id"], ["id"])]
    db = FakeDatabase(tables=tables, keys=keys, orphans={"agent_tasks": 3})
    result = check(db, newest_must_precede=False)
    assert not result.passed
    assert result.summary == ("restored: 3 agent_tasks rows whose conversation_id has no conversations (foreign key "
                              "agent_tasks_conversation_fk, NOT VALID)")
    assert any('"agent_tasks" c WHERE c."conversation_id" IS NOT NULL' in sql for sql in db.asked)


def test_a_composite_foreign_key_is_matched_column_by_column():
    key = integrity.ForeignKey("fk", "child", ("a", "b"), "other", "parent", ("x", "y"))
    sql = integrity.orphans_sql("public", key)
    assert 'c."a" IS NOT NULL AND c."b" IS NOT NULL' in sql
    assert 'FROM "other"."parent" p WHERE p."x" = c."a" AND p."y" = c."b"' in sql


def test_a_schema_without_foreign_keys_fails():
    result = check(FakeDatabase(keys=[]), newest_must_precede=False)
    assert not result.passed
    assert result.summary == ("restored: no foreign keys declared in schema public: orphaned rows cannot be ruled out "
                              "(3 tables)")


def test_no_tables_fails_first():
    result = check(FakeDatabase(tables={}, keys=[]))
    assert not result.passed and result.summary == "restored: no tables in schema public of database kosmos"


def test_missing_window_table_or_expected_column_fails_first():
    contract = integrity.Contract("public", timedelta(hours=1), "created_at", ("conversations", "messages"),
                                  ("conversations.updated_at", "agents"), ())
    tables = {"agents": TABLES["agents"], "conversations": ("id", "agent_id", "title", "created_at")}
    result = check(FakeDatabase(tables=tables), database=contract)
    assert not result.passed and result.summary == "restored: schema lacks conversations.updated_at, table messages"


def test_a_restore_lacking_the_sources_tables_columns_or_foreign_keys_fails():
    source = FakeDatabase(tables=dict(TABLES, audit=("id", "created_at")))
    restored = FakeDatabase(keys=KEYS[:1])
    result = check(restored, source)
    assert not result.passed
    assert result.summary == ("restored: schema lacks what the DR database has: table audit, foreign key "
                              "messages_conversation_id_fkey: messages(conversation_id) -> conversations(id)")


def test_a_window_of_three_hours_and_other_names_come_from_the_target():
    """Another estate: tickets written at inserted_at, a 3 h window; nothing KOSMOS-named is asked."""
    @dataclass(frozen=True)
    class Settings:
        integrity_window: timedelta = timedelta(hours=3)
        schema: str = "app"
        write_timestamp: str = "inserted_at"
        window_tables: tuple = ("tickets",)
        expected_schema: tuple = ()
        mutable_columns: tuple = ()

    tables = {"queues": ("id", "inserted_at"), "tickets": ("id", "queue_id", "inserted_at")}
    keys = [("tickets_queue_fk", "tickets", "app", "queues", True, ["queue_id"], ["id"])]
    db = FakeDatabase(tables=tables, keys=keys, window={"tickets": (4, "t")}, history={"tickets": 9})
    result = check(db, database=Settings(), newest_must_precede=False)
    assert result.passed, result.summary
    assert "4 tickets in the 3 h before" in result.summary
    assert not any("conversations" in sql or "created_at" in sql for sql in db.asked)
    assert any('"app"."tickets"' in sql and '"inserted_at" > %(since)s' in sql for sql in db.asked)


def test_empty_database_fails():
    empty = FakeDatabase(window={}, history={})
    result = check(empty, empty)
    assert not result.passed and "no conversations in the hour before" in result.summary


def test_newest_writes_before_are_read_from_the_discovered_tables():
    db = FakeDatabase()
    found = integrity.newest_writes_before(db, POINT)
    assert sorted(found) == ["agents", "conversations", "messages"]
