"""The DR database: a real PostgreSQL server holding the KOSMOS schema and a seeded history."""

from __future__ import annotations

import asyncio
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


class DRDatabaseComponent:
    """Starts the DR database server and publishes how to reach it."""

    name = "database"

    def __init__(self) -> None:
        self.server: PostgresServer | None = None

    async def start(self, ctx: SandboxContext) -> None:
        self.server = PostgresServer(ctx.data_dir / "dr-db", user=DB_USER, password=ctx.secret(), dbname=DB_NAME)
        await asyncio.to_thread(self.server.initdb)
        await asyncio.to_thread(self.server.start)
        agents = ctx.state["agents"]
        await asyncio.to_thread(create_kosmos_database, self.server, agents, ctx.state["incident"]["start"])
        ctx.state[self.name] = {
            "host": self.server.host, "port": self.server.port, "dbname": DB_NAME,
            "user": DB_USER, "password": self.server.password,
        }
        ctx.env.update(
            PGHOST=self.server.host, PGPORT=str(self.server.port), PGDATABASE=DB_NAME,
            PGUSER=DB_USER, PGPASSWORD=self.server.password,
        )

    async def stop(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.remove)
