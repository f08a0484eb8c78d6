"""The AWS side of the sandbox: moto (in-process) + RDS backed by real PostgreSQL, production's
history, the agent-state bucket, Route53 + a DNS server, and the incident played at a known time.

Start order (things that do not depend on each other run concurrently):
moto + DNS server -> [production instance (real server) | bucket + archives | zone + health checks]
-> seed production -> real snapshot + represented hourly history + copies | DR replica (standby)
-> live workload until the incident -> incident: writes stop, the primary region fails, replica
promoted, DNS fails over -> the promoted replica is published as THE DR database.

Every name comes from the sandbox's layout (``ctx.layout``, sandbox/layout.py): the regions, the
production and replica instance identifiers, the agent-state bucket and prefix.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime, timedelta, timezone

from ...timeparse import isoformat
from ..component import Fault, SandboxContext
from ..dr_database import DB_NAME, DB_USER, create_kosmos_database, publish_database
from ..postgres import find_bindir, prepare_data_root
from . import agent_state, history, route53
from .dns_server import DnsServer
from .moto_server import MotoServer
from .rds_backend import ACCOUNT_ID, RealRds, now_utc

log = logging.getLogger("kosmos_dr.sandbox.aws")
WORKLOAD_S = 2.0
ENGINE_VERSION = "15.4"
PRIMARY_ADDRESS = "127.0.0.2"  # the primary region's API endpoint: nothing listens there (the region is lost)
SECONDARY_ADDRESS = "127.0.0.1"  # the DR region's: where the KOSMOS API stand-in listens


def region_addresses(primary: str, secondary: str) -> dict[str, str]:
    """Where each region's API endpoint (api.<region>.<zone>) answers."""
    return {primary: PRIMARY_ADDRESS, secondary: SECONDARY_ADDRESS}


class AwsComponent:
    name = "aws"

    def __init__(self) -> None:
        self.moto: MotoServer | None = None
        self.rds: RealRds | None = None
        self.dns: DnsServer | None = None
        self.health = route53.HealthState()
        self.incident_start: datetime | None = None
        self.zone: dict = {}

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, ctx: SandboxContext) -> None:
        started = time.monotonic()
        self.ctx = ctx
        layout = ctx.layout
        self.primary, self.secondary = layout.primary_region, layout.secondary_region
        self.prod_id, self.dr_id = layout.production_instance, layout.replica_instance
        self.bucket, self.prefix = layout.bucket, layout.agent_state_prefix
        self.region_addresses = region_addresses(self.primary, self.secondary)
        find_bindir()  # fail with what to install before moto would turn it into an HTTP 500
        prepare_data_root(ctx.data_dir)
        self.access_key = "AKIA" + ctx.secret(12).upper().replace("-", "X").replace("_", "Y")[:16]
        self.secret_key = ctx.secret(30)
        ctx.secrets.append(self.access_key)
        self.moto = MotoServer(ctx.host, access_key=self.access_key)
        await asyncio.to_thread(self.moto.start)
        self.rds = RealRds(ctx.data_dir)
        self.rds.install([self.primary, self.secondary])
        route53.report_health_through_moto(self.health)
        self.dns = DnsServer(self.health, ctx.host)
        await self.dns.start()
        self._clients()
        ctx.state[self.name] = {
            "endpoint_url": self.moto.url, "access_key_id": self.access_key, "secret_access_key": self.secret_key,
            "primary_region": self.primary, "secondary_region": self.secondary, "account_id": ACCOUNT_ID,
        }
        ctx.env.update(
            AWS_ENDPOINT_URL=self.moto.url, AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION=self.secondary, AWS_REGION=self.secondary, AWS_PAGER="",
        )
        ctx.state["dns"] = {"host": ctx.host, "port": self.dns.port, "zone": route53.ZONE, "api_name": route53.API_NAME}

        # the incident happens on a whole second, after WORKLOAD_S of live writes
        password = ctx.secret()
        self.master_password = password
        prod, newest, self.zone = await asyncio.gather(
            asyncio.to_thread(self._create_production, password),
            asyncio.to_thread(_create_bucket, self.s3, self.secondary, ctx.state["agents"],
                              now_utc() + timedelta(seconds=WORKLOAD_S + 4), layout),
            asyncio.to_thread(route53.create_zone, self.route53, self.region_addresses, self.primary, self.secondary,
                              layout.health_path),
        )
        snapshots, _ = await asyncio.gather(
            asyncio.to_thread(history.create_snapshot_history, self.rds, self.prod_id, self.primary, self.secondary),
            asyncio.to_thread(self._create_replica),
        )
        end = now_utc() + timedelta(seconds=WORKLOAD_S)
        self.incident_start = datetime.fromtimestamp(math.ceil(end.timestamp()), timezone.utc)
        last_write = await asyncio.to_thread(history.run_workload, prod, ctx.state["agents"], self.incident_start)
        incident = await asyncio.to_thread(self._play_incident, last_write)
        ctx.state["incident"] = incident
        dr = self.rds.instance(self.secondary, self.dr_id).server
        publish_database(ctx, dr)
        ctx.state[self.name].update(
            rds={"production": {"region": self.primary, "id": self.prod_id},
                 "dr": {"region": self.secondary, "id": self.dr_id},
                 "restorable_snapshots": [snapshots["real"]], "represented_snapshots": len(snapshots["represented"])},
            s3={"agent_state_bucket": self.bucket, "prefix": self.prefix, "newest": newest},
            route53={**self.zone, "zone": route53.ZONE, "api_name": route53.API_NAME,
                     "endpoints": {r: route53.regional_name(r) for r in self.region_addresses}},
        )
        log.info("aws side ready in %.1f s", time.monotonic() - started)

    async def stop(self) -> None:
        if self.dns is not None:
            await self.dns.stop()
        route53.restore_moto_health_status()
        if self.rds is not None:
            await asyncio.to_thread(self.rds.remove_all)
            self.rds.uninstall()
        if self.moto is not None:
            await asyncio.to_thread(self.moto.stop)

    def faults(self) -> list[Fault]:
        from .agent_state_faults import agent_state_faults
        from .dns_faults import dns_faults
        from .faults import aws_faults
        from .outage import outage_faults

        return aws_faults(self) + agent_state_faults(self) + dns_faults(self) + outage_faults(self)

    # -- steps (blocking; run in threads) --------------------------------------------------------
    def _clients(self) -> None:
        make = lambda service, region: self.moto.client(service, region, self.access_key, self.secret_key)  # noqa: E731
        self.rds_primary = self.rds_east = make("rds", self.primary)  # rds_east/rds_west: the older names
        self.rds_secondary = self.rds_west = make("rds", self.secondary)
        self.s3 = make("s3", self.secondary)
        self.route53 = make("route53", route53.CONTROL_PLANE_REGION)

    def _create_production(self, password: str):
        self.rds_primary.create_db_instance(
            DBInstanceIdentifier=self.prod_id, Engine="postgres", EngineVersion=ENGINE_VERSION,
            DBInstanceClass="db.r6g.large", AllocatedStorage=100, DBName=DB_NAME, MasterUsername=DB_USER,
            MasterUserPassword=password, MultiAZ=True, BackupRetentionPeriod=30, StorageEncrypted=True,
        )
        server = self.rds.instance(self.primary, self.prod_id).server
        create_kosmos_database(server, self.ctx.state["agents"], isoformat(now_utc()))
        return server

    def _create_replica(self) -> None:
        source = f"arn:aws:rds:{self.primary}:{ACCOUNT_ID}:db:{self.prod_id}"
        self.rds_secondary.create_db_instance_read_replica(
            DBInstanceIdentifier=self.dr_id, SourceDBInstanceIdentifier=source, SourceRegion=self.primary,
            DBInstanceClass="db.r6g.large", MultiAZ=True,
        )

    def _play_incident(self, last_write: datetime) -> dict:
        """Writes have stopped; at the incident second the primary region fails, the replica is promoted,
        DNS fails over."""
        delay = (self.incident_start - now_utc()).total_seconds()
        if delay > 0:
            time.sleep(delay)
        prod = self.rds.instance(self.primary, self.prod_id).server
        dr = self.rds.instance(self.secondary, self.dr_id).server
        target_lsn = prod.query("SELECT pg_current_wal_lsn()")[0][0]
        deadline = time.monotonic() + 10
        while not dr.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target_lsn,))[0][0]:
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not catch up with production within 10 s")
            time.sleep(0.02)
        replayed = dr.query("SELECT pg_last_xact_replay_timestamp()")[0][0]
        self.rds.fail(self.primary, self.prod_id)
        self.health.set_down(route53.regional_name(self.primary))
        self.rds_secondary.promote_read_replica(DBInstanceIdentifier=self.dr_id, BackupRetentionPeriod=30)
        failover_at = now_utc()
        # Route53 (here: the sandbox DNS) answers from the health state: the secondary from now on
        dns_switched_at = now_utc()
        return {
            "start": isoformat(self.incident_start), "last_production_write": _iso_ms(last_write),
            "replica_last_replayed_commit": replayed.isoformat() if replayed else None,
            "failover_at": _iso_ms(failover_at), "dns_switched_at": _iso_ms(dns_switched_at),
            "primary_region": self.primary, "secondary_region": self.secondary,
        }

    # -- used by the replica-lagging fault -------------------------------------------------------
    def withhold_recent_writes(self, cutoff: datetime):
        """Take the writes after ``cutoff`` out of the DR database (kept in memory for the revert)."""
        import psycopg

        dr = self.rds.instance(self.secondary, self.dr_id).server
        with psycopg.connect(dr.conninfo(), autocommit=False) as conn:
            convs = conn.execute("SELECT * FROM conversations WHERE created_at > %s ORDER BY id", (cutoff,)).fetchall()
            msgs = conn.execute(
                "SELECT * FROM messages WHERE created_at > %s OR conversation_id IN "
                "(SELECT id FROM conversations WHERE created_at > %s) ORDER BY id", (cutoff, cutoff)).fetchall()
            conn.execute("DELETE FROM messages WHERE id = ANY(%s)", ([m[0] for m in msgs],))
            conn.execute("DELETE FROM conversations WHERE id = ANY(%s)", ([c[0] for c in convs],))
        return convs, msgs

    def return_withheld_writes(self, withheld) -> None:
        import psycopg

        if not withheld:
            return
        convs, msgs = withheld
        dr = self.rds.instance(self.secondary, self.dr_id).server
        with psycopg.connect(dr.conninfo(), autocommit=False) as conn, conn.cursor() as cur:
            if convs:
                cur.executemany(
                    f"INSERT INTO conversations VALUES ({', '.join(['%s'] * len(convs[0]))})", convs)
            if msgs:
                cur.executemany(f"INSERT INTO messages VALUES ({', '.join(['%s'] * len(msgs[0]))})", msgs)


def _iso_ms(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _create_bucket(s3, region: str, agents: list[str], incident: datetime, layout) -> dict:
    """The agent-state bucket and its archives, named and keyed as the layout says (agent_state.py)."""
    return agent_state.create_bucket(s3, region, agents, incident, layout=layout)
