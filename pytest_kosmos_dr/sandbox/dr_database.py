"""The DR database: the KOSMOS schema and seeded history, and how the sandbox publishes it.

Production (``kosmos-prod``, us-east-1) is created with this schema and history; its streaming
replica in us-west-2 is promoted during the sandbox's incident and from then on *is* the DR
database (see ``aws/component.py``). ``publish_database`` keeps the contract other components
and the checks rely on: ``ctx.state["database"]`` and the ``PG*`` variables.
"""

from __future__ import annotations

from importlib import resources

from .component import SandboxContext
from .postgres import PostgresServer

DB_USER = "admin"  # the plan's `psql -U admin`
DB_NAME = "kosmos"
SEED_CONVERSATIONS = 2000
SEED_DAYS = 30
LAST_WRITE_BEFORE_INCIDENT_S = 90


def load_sql(name: str) -> str:
    return resources.files("pytest_kosmos_dr").joinpath(f"data/{name}").read_text()


def create_kosmos_database(server: PostgresServer, agents: list[str], until: str) -> None:
    """Create the ``kosmos`` database with its schema and history ending just before ``until``."""
    import psycopg

    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    with psycopg.connect(server.conninfo(DB_NAME)) as conn:
        conn.execute(load_sql("kosmos_schema.sql"))
        params = {
            "agents": agents, "until": until, "conversations": SEED_CONVERSATIONS,
            "days": SEED_DAYS, "last_gap": LAST_WRITE_BEFORE_INCIDENT_S,
        }
        with conn.cursor() as cur:
            for statement in load_sql("kosmos_seed.sql").split(";\n"):
                code = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
                if code.strip():
                    cur.execute(code, params)
        conn.execute("ANALYZE")


def publish_database(ctx: SandboxContext, server: PostgresServer) -> None:
    """Make ``server`` THE DR database: ``ctx.state["database"]`` and ``PG*`` for psql."""
    ctx.state["database"] = {
        "host": server.host, "port": server.port, "dbname": DB_NAME, "user": server.user, "password": server.password,
    }
    ctx.env.update(
        PGHOST=server.host, PGPORT=str(server.port), PGDATABASE=DB_NAME, PGUSER=server.user, PGPASSWORD=server.password,
    )
