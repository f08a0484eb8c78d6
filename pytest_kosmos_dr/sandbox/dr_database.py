"""The DR database: the KOSMOS schema and seeded history, and how the sandbox publishes it.

Production (the layout's production instance, in its primary region) is created with this schema
and history; its streaming replica in the secondary region is promoted during the sandbox's incident
and from then on *is* the DR database (see ``aws/component.py``). ``publish_database`` keeps the contract other components
and the checks rely on: ``ctx.state["database"]`` and the ``PG*`` variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

from .component import SandboxContext
from .postgres import History, PostgresServer, RestorePoint, parse_lsn

DB_USER = "admin"  # the plan's `psql -U admin`
DB_NAME = "kosmos"
SEED_CONVERSATIONS = 2000
SEED_DAYS = 30
LAST_WRITE_BEFORE_INCIDENT_S = 90
SCALE_ENV = "KOSMOS_DR_SANDBOX_SCALE"


@dataclass(frozen=True)
class Scale:
    """How big the sandbox's DR environment is (``kosmos-dr sandbox up --scale NAME``)."""

    name: str
    nodes: int                # DR cluster nodes, spread over the three zones
    pods: int                 # pods in the kosmos namespace (the Git-managed ones plus a worker fleet)
    conversations: int        # seeded conversations in production (four messages each)
    agent_state_objects: int  # archives in the agent-state backup prefix (all agents together)


SCALES = {
    "default": Scale("default", 3, 5, SEED_CONVERSATIONS, 0),  # 0: the plain 5-minute/6-hour history
    "large": Scale("large", 200, 2000, 1_000_000, 20_000),
    "xlarge": Scale("xlarge", 200, 2000, 10_000_000, 20_000),
}


def current_scale() -> Scale:
    """The scale the sandbox daemon was started with (``$KOSMOS_DR_SANDBOX_SCALE``, default ``default``)."""
    name = (os.environ.get(SCALE_ENV) or "default").strip().lower()
    if name not in SCALES:
        raise ValueError(f"unknown sandbox scale {name!r} (choose from {', '.join(SCALES)})")
    return SCALES[name]


def load_sql(name: str) -> str:
    return resources.files("pytest_kosmos_dr").joinpath(f"data/{name}").read_text()


HOURLY = "1 hour"  # restore-point step at large scales (default: one per commit)


def create_kosmos_database(server: PostgresServer, agents: list[str], until: str) -> History:
    """Create the ``kosmos`` database with its schema and a restorable history ending just before ``until``.

    The rows are committed in simulated-time order with a real restore point after each step (one per
    commit at the default scale, one per simulated hour at larger ones); the index of restore points is
    saved next to the server's data folder (``server.history_file``) and returned.
    """
    import psycopg

    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    conversations = current_scale().conversations
    bulk = conversations > SEED_CONVERSATIONS
    step = HOURLY if bulk else None
    # one connection, one round trip for the whole history: the procedure commits and marks each step
    with psycopg.connect(server.conninfo(DB_NAME), autocommit=True) as conn:
        conn.execute(load_sql("kosmos_schema.sql"))
        params = {
            "agents": agents, "until": until, "conversations": conversations,
            "days": SEED_DAYS, "last_gap": LAST_WRITE_BEFORE_INCIDENT_S, "step": step,
        }
        if bulk:
            conn.execute("SET maintenance_work_mem = '256MB'")
        with conn.cursor() as cur:
            for statement in load_sql("kosmos_seed.sql").split(";\n\n"):
                code = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
                if code.strip():
                    cur.execute(code, params if "%(" in code else None)
            rows = cur.execute("SELECT at, name, lsn::text, real FROM pg_temp.seed_restore_points ORDER BY at").fetchall()
        seeded_until = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        segment_bytes = int(conn.execute("SELECT pg_size_bytes(current_setting('wal_segment_size'))").fetchone()[0])
        conn.execute("ANALYZE")
    points = [RestorePoint(at, name, parse_lsn(lsn), real, segment_bytes) for at, name, lsn, real in rows]
    history = History(start=points[0].at, seeded_until=seeded_until, granularity="hour" if step else "commit",
                      points=points)
    history.save(server.history_file)
    return history


def publish_database(ctx: SandboxContext, server: PostgresServer) -> None:
    """Make ``server`` THE DR database: ``ctx.state["database"]`` and ``PG*`` for psql."""
    ctx.state["database"] = {
        "host": server.host, "port": server.port, "dbname": DB_NAME, "user": server.user, "password": server.password,
    }
    ctx.env.update(
        PGHOST=server.host, PGPORT=str(server.port), PGDATABASE=DB_NAME, PGUSER=server.user, PGPASSWORD=server.password,
    )
