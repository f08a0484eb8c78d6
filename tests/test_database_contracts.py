"""The DR database's host and contracts come from the target: database.host, else $PGHOST, else the
DR instance's endpoint read from RDS; the integrity check's tables and foreign keys from the database's
own catalog (a table the plugin never heard of, with orphan rows, fails REC-DB-INTEGRITY by its name)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from conftest import run_suite
from pytest_kosmos_dr import environment
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.target import AwsSettings, DatabaseSettings, Target, Timeouts

QUICK = Timeouts(connect=timedelta(seconds=1), read=timedelta(seconds=2))


def aws_target(host="", replica="kosmos-main-dr", region="eu-central-1", endpoint_url="") -> Target:
    return Target("estate", kind="aws", aws=AwsSettings(secondary_region=region, endpoint_url=endpoint_url),
                  database=DatabaseSettings(host=host, replica_instance=replica), timeouts=QUICK)


# -- where the DR database answers ---------------------------------------------------------------------
def test_the_targets_host_wins_over_pghost(monkeypatch):
    monkeypatch.setenv("PGHOST", "from-env.example")
    endpoint = environment.resolve(aws_target(host="db.example")).database
    assert (endpoint.host, endpoint.rds_instance, endpoint.locate) == ("db.example", "", None)


def test_pghost_wins_over_rds(monkeypatch):
    monkeypatch.setenv("PGHOST", "from-env.example")
    endpoint = environment.resolve(aws_target()).database
    assert (endpoint.host, endpoint.rds_instance, endpoint.locate) == ("from-env.example", "", None)


def test_an_empty_host_is_the_dr_instances_rds_endpoint(monkeypatch):
    from moto import mock_aws

    monkeypatch.delenv("PGHOST", raising=False)
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        import boto3

        rds = boto3.client("rds", region_name="eu-central-1")
        rds.create_db_instance(DBInstanceIdentifier="kosmos-main-dr", DBInstanceClass="db.t3.micro", Engine="postgres",
                               MasterUsername="admin", MasterUserPassword="password1", AllocatedStorage=20, Port=6543)
        listed = rds.describe_db_instances(DBInstanceIdentifier="kosmos-main-dr")["DBInstances"][0]["Endpoint"]
        endpoint = environment.resolve(aws_target()).database
        assert endpoint.host == "" and "endpoint of RDS kosmos-main-dr in eu-central-1" in endpoint.describe()
        located = endpoint.located()
        assert (located.host, located.port) == (listed["Address"], listed["Port"])
        with pytest.raises(DRUnverifiable, match="RDS has no instance kosmos-other in eu-central-1"):
            environment.resolve(aws_target(replica="kosmos-other")).database.located()


def test_an_unreachable_rds_is_could_not_verify_in_one_line(monkeypatch):
    from pytest_kosmos_dr.sandbox.component import free_port

    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    target = aws_target(endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DRUnverifiable) as raised:
        environment.resolve(target).database.located()
    message = str(raised.value)
    assert message.startswith("could not verify: DR database endpoint (RDS kosmos-main-dr in eu-central-1; "
                              "database.host and $PGHOST are empty): ")
    assert "\n" not in message


def test_no_host_and_no_instance_is_could_not_verify(monkeypatch):
    from pytest_kosmos_dr.clients.database import connect

    monkeypatch.delenv("PGHOST", raising=False)
    endpoint = environment.resolve(aws_target(replica="")).database
    with pytest.raises(DRUnverifiable, match="no host: database.host, \\$PGHOST and database.replica_instance"):
        connect(endpoint, QUICK.connect, QUICK.read)


def test_the_sandbox_state_supplies_the_host():
    state = {"database": {"host": "127.0.0.9", "port": 5999, "dbname": "kosmos", "user": "u", "password": "p"},
             "api": {"url": "http://x"}, "grafana": {"url": "http://y"}}
    endpoint = environment.resolve(Target("sandbox", kind="sandbox"), state).database
    assert (endpoint.host, endpoint.port, endpoint.locate) == ("127.0.0.9", 5999, None)


# -- a table the plugin never heard of ------------------------------------------------------------------
NEW_TABLE = "kosmos_dr_test_agent_tasks"
NEW_KEY = "kosmos_dr_test_agent_tasks_conversation_fk"


def _dr_sql(sandbox, *statements):
    import psycopg

    db = sandbox.state["database"]
    with psycopg.connect(host=db["host"], port=int(db["port"]), dbname=db["dbname"], user=db["user"],
                         password=str(db["password"]), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture
def orphaned_rows_new_table(sandbox):
    """Fault twin "orphaned-rows-new-table" (test-local): a new table in the DR database whose foreign key
    to conversations was added NOT VALID over rows whose conversations do not exist."""
    _dr_sql(sandbox, f"DROP TABLE IF EXISTS {NEW_TABLE}",
            f"CREATE TABLE {NEW_TABLE} (id bigserial PRIMARY KEY, conversation_id bigint, state text NOT NULL)",
            f"INSERT INTO {NEW_TABLE} (conversation_id, state) SELECT -g, 'queued' FROM generate_series(1, 3) g",
            f"ALTER TABLE {NEW_TABLE} ADD CONSTRAINT {NEW_KEY} FOREIGN KEY (conversation_id) "
            "REFERENCES conversations (id) NOT VALID")
    yield
    _dr_sql(sandbox, f"DROP TABLE IF EXISTS {NEW_TABLE}")


def test_orphans_in_a_new_table_fail_the_integrity_by_the_foreign_keys_name(sandbox, orphaned_rows_new_table,
                                                                            pytester):
    result = run_suite(pytester, "test_database_recovery.py", "-rf")
    assert result.parseoutcomes() == {"failed": 1, "skipped": 4}, result.stdout.str()  # drills need --dr-allow-restore
    result.stdout.fnmatch_lines([f"*DR check failed: REC-DB-INTEGRITY: DR database: 3 {NEW_TABLE} "
                                 f"rows whose conversation_id has no conversations (foreign key {NEW_KEY}, NOT VALID)"])


def test_the_healthy_dr_database_passes_with_its_catalogs_foreign_keys(sandbox, pytester):
    result = run_suite(pytester, "test_database_recovery.py", "-rA")
    assert result.parseoutcomes() == {"passed": 1, "skipped": 4}, result.stdout.str()


def test_queries_sent_together_answer_as_one_after_another(sandbox):
    """``clients.database.pipelined`` (psycopg's pipeline mode): the same rows as one query at a time, the first
    failing query's own error, each statement under its own timeout, the session still read-only."""
    import psycopg

    from pytest_kosmos_dr.checks.integrity import read_catalog
    from pytest_kosmos_dr.clients.database import connect_or_unverifiable, pipelined
    from pytest_kosmos_dr.environment import DatabaseEndpoint

    class OneAtATime:  # the connection without pipeline mode
        def __init__(self, conn):
            self.execute = conn.execute

    db = sandbox.state["database"]
    endpoint = DatabaseEndpoint(db["host"], int(db["port"]), db["dbname"], db["user"], str(db["password"]), "prefer")
    conn = connect_or_unverifiable(endpoint, timedelta(seconds=10), timedelta(milliseconds=500))
    try:
        assert read_catalog(conn, "public") == read_catalog(OneAtATime(conn), "public")
        assert read_catalog(conn, "public").foreign_keys
        with pipelined(conn):  # three statements of 0.3 s each, each within the 0.5 s statement timeout
            asked = [conn.execute("SELECT pg_sleep(0.3), %s::int", (n,)) for n in range(3)]
        assert [cursor.fetchone()[1] for cursor in asked] == [0, 1, 2]
        for statements, error in (
                (["SELECT 1", "SELECT * FROM kosmos_dr_no_such_table", "SELECT pg_sleep(2)"],
                 psycopg.errors.UndefinedTable),
                (["SELECT 1", "SELECT pg_sleep(2)", "SELECT * FROM kosmos_dr_no_such_table"], DRUnverifiable),
                (["SELECT 1", "CREATE TABLE kosmos_dr_never (id int)"], psycopg.errors.ReadOnlySqlTransaction)):
            with pytest.raises(error) as raised:
                with pipelined(conn):
                    for statement in statements:
                        conn.execute(statement)
            if error is DRUnverifiable:
                assert "statement timeout" in str(raised.value)
            assert conn.execute("SELECT 2").fetchone() == (2,)  # the connection is usable afterwards
    finally:
        conn.close()


def test_the_contract_is_read_from_the_target():
    from pytest_kosmos_dr.checks.integrity import Contract

    settings = dataclasses.replace(DatabaseSettings(), integrity_window=timedelta(hours=3))
    contract = Contract.of(settings)
    assert contract.window == timedelta(hours=3) and contract.window_tables == ("conversations",)
