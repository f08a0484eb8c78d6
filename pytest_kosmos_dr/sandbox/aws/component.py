"""The AWS side of the sandbox: moto (in-process) + RDS backed by real PostgreSQL, production's
history, the agent-state bucket, Route53 + a DNS server, and the incident played at a known time.

Start order (things that do not depend on each other run concurrently):
[moto + DNS server | production's real server made ahead (RealRds.prepare_instance)]
-> [production instance (takes that server over) | bucket + archives | zone + health checks]
-> seed production -> real snapshot, then [restorable hourly history + copies, with the live workload
(workload.py) writing from here on | DR replica (standby)] -> the incident: writes stop, the primary region fails,
replica promoted, DNS fails over -> the promoted replica is published as THE DR database.

By default the incident plays during start (after WORKLOAD_S of writes). With ``incident_after`` the
sandbox is ready first, production live and written to, the replica a streaming standby, and the
incident plays after that delay or on ``start_incident()`` (``kosmos-dr sandbox incident``). With
``manual_failover`` the incident only fails the primary region: the operator promotes the replica and
Route53 follows (``scripts/failover-to-dr.sh``); the promotion is noticed on the AWS side (a watcher on
moto's ``promote_read_replica``), never from a file.

Every name comes from the sandbox's layout (``ctx.layout``, sandbox/layout.py): the regions, the
production and replica instance identifiers, the agent-state bucket and prefix.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from datetime import datetime, timedelta, timezone

from ...timeparse import isoformat
from ..component import Fault, SandboxContext
from ..dr_database import DB_NAME, DB_USER, create_kosmos_database, publish_database
from ..postgres import find_bindir, prepare_data_root
from . import agent_state, history, route53
from .workload import LiveWorkload
from .dns_server import DnsServer
from .moto_server import MotoServer
from .rds_backend import ACCOUNT_ID, RealRds, now_utc

log = logging.getLogger("kosmos_dr.sandbox.aws")
WORKLOAD_S = 0.5  # at least this long of live writes before the incident (then up to the next whole second) ...
LIVE_COMMITS = 12  # ... and at least this many: more than the 10 newest conversations `backup-corrupted` removes
LIVE_COMMITS_WAIT_S = 30  # a start with fewer by then fails, saying why (workload.wait_for_commits)
ARCHIVE_EVERY_ENV = "KOSMOS_DR_SANDBOX_ARCHIVE_EVERY"  # seconds between live archives (tests shorten it)
ENGINE_VERSION = "15.4"
PRIMARY_ADDRESS = "127.0.0.2"  # the primary region's API endpoint: nothing listens there (the region is lost)
SECONDARY_ADDRESS = "127.0.0.1"  # the DR region's: where the KOSMOS API stand-in listens


def region_addresses(primary: str, secondary: str) -> dict[str, str]:
    """Where each region's API endpoint (api.<region>.<zone>) answers."""
    return {primary: PRIMARY_ADDRESS, secondary: SECONDARY_ADDRESS}


class AwsComponent:
    name = "aws"

    def __init__(self, incident_after: float | None = None, manual_failover: bool = False) -> None:
        self.incident_after = incident_after  # None: the incident during start (every test's world)
        self.manual_failover = manual_failover  # promotion and DNS left to the operator
        self.scheduled_at: datetime | None = None
        self.workload: LiveWorkload | None = None
        self.on_change = None  # called after the incident changes the world (the daemon persists it)
        self._timer: asyncio.Task | None = None
        self._archiver: asyncio.Task | None = None  # agents' archives while a deferred incident waits
        self._incident_lock = asyncio.Lock()
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
        password = ctx.secret()
        self.master_password = password
        self.rds = RealRds(ctx.data_dir)
        # production's server is made (initdb, start) while moto loads; its CreateDBInstance takes it over
        self.rds.prepare_instance(self.primary, self.prod_id, DB_USER, password, DB_NAME)
        self.moto = MotoServer(ctx.host, access_key=self.access_key)
        await asyncio.to_thread(self.moto.start)
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

        # production, its history and its DR replica, with live writes from the real snapshot on until the incident
        archives_until = now_utc() + timedelta(seconds=WORKLOAD_S + 4)  # agent state as saved at start
        prod, newest, self.zone = await asyncio.gather(
            asyncio.to_thread(self._create_production, password),
            asyncio.to_thread(_create_bucket, self.s3, self.secondary, ctx.state["agents"], archives_until, layout),
            asyncio.to_thread(route53.create_zone, self.route53, self.region_addresses, self.primary, self.secondary,
                              layout.health_path),
        )
        # the live writes begin as soon as the real snapshot is taken (no snapshot holds them), while the
        # backdated snapshots, their copies and the replica are made: the incident needs ~1.2 s of them
        self.workload = LiveWorkload(prod, ctx.state["agents"])
        snapshots, _ = await asyncio.gather(
            asyncio.to_thread(history.create_snapshot_history, self.rds, self.prod_id, self.primary, self.secondary,
                              self.workload.start),
            asyncio.to_thread(self._create_replica),
        )
        self._watch_promotion()
        ctx.state[self.name].update(
            rds={"production": {"region": self.primary, "id": self.prod_id},
                 "dr": {"region": self.secondary, "id": self.dr_id},
                 "restorable_snapshots": snapshots["restorable"], "restorable_snapshot_copies": snapshots["copies"]},
            s3={"agent_state_bucket": self.bucket, "prefix": self.prefix, "newest": newest},
            route53={**self.zone, "zone": route53.ZONE, "api_name": route53.API_NAME,
                     "endpoints": {r: route53.regional_name(r) for r in self.region_addresses}},
        )
        ctx.env.update(KOSMOS_PRIMARY_REGION=self.primary, KOSMOS_DR_REGION=self.secondary,
                       KOSMOS_DR_DB_INSTANCE=self.dr_id, KOSMOS_PROD_DB_INSTANCE=self.prod_id,
                       KOSMOS_HOSTED_ZONE=route53.ZONE, KOSMOS_API_RECORD=route53.API_NAME)
        if self.incident_after is None:  # the incident during start, on a whole second after the live writes
            began = self.workload.started_at
            ctx.lull.set()  # until the incident only the workload's thread works: the others prepare now
            await asyncio.to_thread(self.workload.wait_for_commits, LIVE_COMMITS, LIVE_COMMITS_WAIT_S)
            end = max(now_utc(), began + timedelta(seconds=WORKLOAD_S))
            self.incident_start = datetime.fromtimestamp(math.ceil(end.timestamp()), timezone.utc)
            await self._incident(self.incident_start)
        else:  # ready first: production live, the workload writing, the replica streaming (arm_incident)
            self.arm_incident(start_timer=False)
            publish_database(ctx, prod)  # the live database; the DR replica is a standby (see docs/sandbox.md)
        log.info("aws side ready in %.1f s", time.monotonic() - started)

    # -- the incident --------------------------------------------------------------------------
    def _failover_mode(self) -> str:
        return "manual" if self.manual_failover else "automatic"

    def _regions(self) -> dict:
        return {"primary_region": self.primary, "secondary_region": self.secondary}

    @property
    def incident_state(self) -> str:
        return (self.ctx.state.get("incident") or {}).get("state", "scheduled")

    def arm_incident(self, start_timer: bool = True) -> None:
        """Schedule the deferred incident ``incident_after`` seconds from now, on a whole second. The daemon
        arms it once the whole sandbox is ready (the delay runs from readiness); ``start`` only records it."""
        if self.incident_after is None or self.incident_state != "scheduled":
            return
        at = now_utc() + timedelta(seconds=self.incident_after)
        self.scheduled_at = datetime.fromtimestamp(math.ceil(at.timestamp()), timezone.utc)
        self.incident_start = self.scheduled_at  # faults that date things by the incident use the planned one
        self.ctx.state["incident"] = {"state": "scheduled", "start": None, "scheduled_at": isoformat(self.scheduled_at),
                                      "failover": self._failover_mode(), **self._regions()}
        if self._timer is not None:
            self._timer.cancel()
        if start_timer:
            self._timer = asyncio.get_running_loop().create_task(self._incident_when_due())
            if self._archiver is None:
                self._archiver = asyncio.get_running_loop().create_task(self._archive_until_incident())

    async def _archive_until_incident(self) -> None:
        """KOSMOS keeps archiving agent state while production runs: one archive per agent every
        ``agent_state.FINE_EVERY``, written through S3's API (real LastModified), until the incident."""
        layout, agents = self.ctx.layout, list(self.ctx.state["agents"])
        every = float(os.environ.get(ARCHIVE_EVERY_ENV) or agent_state.FINE_EVERY.total_seconds())
        while self.incident_state == "scheduled":
            await asyncio.sleep(every)
            at = now_utc()
            if self.incident_state != "scheduled" or (self.incident_start and at >= self.incident_start):
                return  # production is gone from the incident's second on: nothing archives any more
            newest = {}
            for agent in agents:
                key = agent_state.archive_key(agent, at, layout)
                body = agent_state.build_archive(agent, at, layout=layout)
                await asyncio.to_thread(self.s3.put_object, Bucket=layout.bucket, Key=key, Body=body)
                newest[agent] = key
            self.ctx.state[self.name]["s3"]["newest"] = newest
            log.info("archived the agents' state at %s (the incident is still scheduled)", isoformat(at))

    async def _incident_when_due(self) -> None:
        try:
            await asyncio.sleep(max(0.0, (self.scheduled_at - now_utc()).total_seconds()))
            await self.start_incident(self.scheduled_at)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a scheduled incident that fails is reported in the state
            log.error("the scheduled incident failed: %s", exc)
            self.ctx.state["incident"] = {**self.ctx.state.get("incident", {}), "state": "error",
                                          "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
            self._changed()

    async def start_incident(self, at: datetime | None = None) -> dict:
        """Play the incident now (``sandbox incident``) or at ``at``; a no-op once it has happened."""
        async with self._incident_lock:
            if self.incident_state != "scheduled":
                return self.ctx.state["incident"]
            if self._timer is not None and asyncio.current_task() is not self._timer:
                self._timer.cancel()
            start = at or datetime.fromtimestamp(math.ceil(now_utc().timestamp()), timezone.utc)
            self.incident_start = start
            await self._incident(start)
            return self.ctx.state["incident"]

    async def _incident(self, start: datetime) -> None:
        """Writes stop before ``start``; at ``start`` the primary region fails; then (automatic failover) the
        replica is promoted and DNS fails over, and the promoted replica becomes THE DR database."""
        last_write = await asyncio.to_thread(self._stop_writes_before, start)
        incident = await asyncio.to_thread(self._play_incident, last_write)
        self.ctx.state["incident"] = incident
        if not self.manual_failover:
            publish_database(self.ctx, self.rds.instance(self.secondary, self.dr_id).server)
        self._changed()

    def _stop_writes_before(self, start: datetime) -> datetime | None:
        while now_utc().timestamp() + self.workload.interval_s < start.timestamp():
            time.sleep(min(0.05, max(0.0, start.timestamp() - now_utc().timestamp())))
        last = self.workload.stop()
        if last is None:
            raise RuntimeError(f"the production workload committed nothing before the incident"
                               f"{': ' + self.workload.error if self.workload.error else ''}")
        return last

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _watch_promotion(self) -> None:
        """Notice a promotion of the DR replica made through the AWS API (the operator's
        ``aws rds promote-read-replica``): the promoted replica then becomes THE DR database."""
        from moto.rds.models import rds_backends

        backend = rds_backends[ACCOUNT_ID][self.secondary]
        inner = backend.promote_read_replica  # the real-server wrapper (rds_backend); uninstall() removes ours too
        loop = asyncio.get_running_loop()

        def promote_read_replica(*args, **kwargs):
            result = inner(*args, **kwargs)
            params = args[0] if args else kwargs.get("db_kwargs", {})  # moto's request parameters (a mapping)
            if params.get("db_instance_identifier") == self.dr_id:
                log.info("%s promoted through the AWS API", self.dr_id)
                loop.call_soon_threadsafe(self._promoted_by_operator)
            return result

        backend.promote_read_replica = promote_read_replica

    def _promoted_by_operator(self) -> None:
        incident = self.ctx.state.get("incident") or {}
        if incident.get("state") != "primary failed":
            return  # an automatic failover publishes itself; before the incident nothing changes hands
        publish_database(self.ctx, self.rds.instance(self.secondary, self.dr_id).server)
        # the DR region's API serves again (its database answers): its health check passes, and Route53
        # answers the SECONDARY record from now on
        self.health.set_up(route53.regional_name(self.secondary))
        at = _iso_ms(now_utc())
        incident.update(state="failed over", failover_at=at, dns_switched_at=at)
        self._changed()
    async def stop(self) -> None:
        for task in (self._timer, self._archiver):
            if task is not None:
                task.cancel()
        if self.workload is not None:
            await asyncio.to_thread(self.workload.stop)
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
        """Writes have stopped; at the incident second the primary region fails; automatic failover: the
        replica is promoted and DNS fails over. Manual failover: both are left to the operator
        (scripts/failover-to-dr.sh), and until then the DR region's API, whose database is the lost
        primary, fails its health check too."""
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
        incident = {
            "start": isoformat(self.incident_start), "last_production_write": _iso_ms(last_write),
            "replica_last_replayed_commit": replayed.isoformat() if replayed else None,
            "failover": self._failover_mode(), "writes_committed": self.workload.commits, **self._regions(),
        }
        if self.scheduled_at is not None:
            incident["scheduled_at"] = isoformat(self.scheduled_at)
        if self.manual_failover:
            self.health.set_down(route53.regional_name(self.secondary))
            return {**incident, "state": "primary failed", "failover_at": None, "dns_switched_at": None,
                    "waiting_for": "the operator: scripts/failover-to-dr.sh (promote the DR replica, DNS to the DR region)"}
        self.rds_secondary.promote_read_replica(DBInstanceIdentifier=self.dr_id, BackupRetentionPeriod=30)
        failover_at = now_utc()
        # Route53 (here: the sandbox DNS) answers from the health state: the secondary from now on
        dns_switched_at = now_utc()
        return {**incident, "state": "failed over", "failover_at": _iso_ms(failover_at),
                "dns_switched_at": _iso_ms(dns_switched_at)}

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
