"""moto's RDS backend paired with real PostgreSQL servers (in the sandbox daemon's process).

moto keeps the API's bookkeeping (identifiers, settings, snapshots, events); this module wraps
the backend methods that change data so each PostgreSQL instance is a real server:

* ``create_db_instance``: initdb + start (WAL archived to the instance's own archive; made ahead in a
  thread when the sandbox knows the instance is coming: ``prepare_instance``), the
  ``Endpoint`` is 127.0.0.1 and the real port (with ``--latency``: the port of a delaying proxy in
  front of it, sandbox/latency.py); its first automated snapshot is a real base backup.
* ``create_db_snapshot`` (manual or automated, also the final snapshot of a delete): a real
  ``pg_basebackup``; ``copy_db_snapshot`` links a copy in the same region to the same base backup,
  and gives a copy in another region its own physical copy of it, kept in that region (as on AWS,
  where the copy stays restorable when the source region is lost).
* ``restore_db_instance_to_point_in_time``: a real PITR (base backup + archived WAL) into a
  new server; a time outside the real window is refused with ``InvalidRestoreFault``. An instance
  with a seeded history (``postgres.History``: rows committed in simulated-time order, a WAL restore
  point after each step) is restorable from the history's start: a time in the seeded past recovers
  to the newest restore point at or before it (``recovery_target_name``), a later one (live writes,
  real commit timestamps) to the time itself (``recovery_target_time``).
* ``restore_db_instance_from_db_snapshot``: starts a new server from the snapshot's base backup
  (also from a cross-region copy, in the copy's region, with nothing of the source region needed).
  A history snapshot (``history_snapshot``: the hourly ones) is a base backup plus the WAL up to the
  restore point of its creation time, kept with the snapshot; restoring it recovers to that point.
  Snapshots with nothing behind them are refused with ``InvalidDBSnapshotState``.
* ``create_db_instance_read_replica`` / ``promote_read_replica``: a real streaming standby, really
  promoted (with RDS's promotion event). ``delete_db_instance`` stops and removes that instance's
  server and folders only.
* ``describe_db_instance_automated_backups``: each real instance's automated backups carry their
  ``RestoreWindow`` (the instance's restorable window).

Engines other than postgres, and Aurora cluster members, stay pure moto.
"""

from __future__ import annotations

import itertools
import shutil
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable

from ..component import LOOPBACK
from ..postgres import History, PostgresServer, RestorePoint, prepare_data_root, run_as_server_user

ACCOUNT_ID = "123456789012"  # moto's default account
REAL_ENGINES = ("postgres",)
PREPARE_TIMEOUT_S = 180  # a prepared server's initdb, start and CREATE DATABASE, each bounded on its own
WRAPPED = (
    "create_db_instance", "create_db_snapshot", "copy_db_snapshot", "restore_db_instance_to_point_in_time",
    "restore_db_instance_from_db_snapshot", "create_db_instance_read_replica", "promote_read_replica",
    "delete_db_instance", "describe_db_instance_automated_backups",
)
# RDS event messages (AWS's "Amazon RDS event categories and event messages"); the promotion's wording
# follows the documented one for a promoted read replica cluster, said of an instance
PROMOTED_EVENT = ("read replica", "Promoted Read Replica to a stand-alone database instance.")
FAILED_EVENT = ("failure", "The DB instance has failed due to an incompatible configuration or an underlying "
                           "storage issue. Begin a point-in-time-restore for the DB instance.")


def naive_utc(value: datetime) -> datetime:
    """moto keeps naive UTC datetimes."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def aware_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def new_resource_id() -> str:
    """A DbiResourceId as AWS makes them: unique per instance, kept by its snapshots and their copies."""
    import secrets

    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "db-" + "".join(secrets.choice(alphabet) for _ in range(26))


@dataclass
class BaseBackup:
    """A real ``pg_basebackup``; consistent from ``finished_at`` on."""

    path: Path
    finished_at: datetime  # aware UTC
    user: str  # the master credentials inside it (a restore keeps them, as on AWS)
    password: str
    dbname: str
    restore_point: str | None = None  # a history snapshot: recover to this restore point ...
    wal: Path | None = None  # ... from this WAL (the snapshot's own, in the snapshot's region)


@dataclass
class RealInstance:
    """The real server behind one RDS instance."""

    region: str
    identifier: str
    server: PostgresServer
    root: Path  # <rds>/<region>/<identifier>: pgdata, its socket and log, archive/
    backups: list[BaseBackup] = field(default_factory=list)
    standby: bool = False
    failed_at: datetime | None = None  # set when the sandbox takes the instance's region down
    latest_archived: datetime | None = None  # latest restorable time once failed
    backups_since: datetime | None = None  # automated backups only from then on (a fault: a short window)
    prepared_backup: BaseBackup | None = None  # taken with a prepared server: its creation's automated backup
    _history: History | None = field(default=None, repr=False)

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    @property
    def history(self) -> History | None:
        """The seeded history (restore-point index the seeding saved next to the data folder), if any."""
        if self._history is None and self.server.history_file.is_file():
            self._history = History.load(self.server.history_file)
        return self._history


def _client_error(code: str, message: str):
    from moto.rds.exceptions import RDSClientError

    return RDSClientError(code, message)


class RealRds:
    """Installs the wrappers on moto's RDS backends of some regions and owns the real servers."""

    def __init__(self, data_dir: Path, account_id: str = ACCOUNT_ID) -> None:
        self.root = data_dir / "rds"
        self.account_id = account_id
        self.instances: dict[tuple[str, str], RealInstance] = {}
        self.snapshot_backups: dict[tuple[str, str], BaseBackup] = {}  # (region, snapshot id)
        self.lock = threading.RLock()
        self._pending = threading.local()  # the server a restore prepared for create_db_instance
        self._backends: list[Any] = []
        self._counter = itertools.count(1)
        # the port DescribeDBInstances reports for a server's port (sandbox/latency.py: its delaying proxy)
        self.published_port: Callable[[int], int] = lambda port: port
        self._regional_copies: dict[tuple[Path, str], BaseBackup] = {}  # (source backup, region) -> copy
        self.after_restore: list = []  # callables(RealInstance): faults that corrupt what a restore yields
        # (region, identifier) -> ((user, password, dbname), Future of its RealInstance): prepare_instance
        self._prepared: dict[tuple[str, str], tuple[tuple, Future]] = {}

    # -- installation -------------------------------------------------------------------------
    def install(self, regions: list[str]) -> None:
        from moto.rds.models import rds_backends

        prepare_data_root(self.root)
        _real_instance_class().registry = self
        for region in regions:
            backend = rds_backends[self.account_id][region]
            for name in WRAPPED:
                original = getattr(type(backend), name).__get__(backend)
                setattr(backend, name, partial(getattr(self, f"_{name}"), backend, original))
            self._backends.append(backend)

    def uninstall(self) -> None:
        for backend in self._backends:
            for name in WRAPPED:
                backend.__dict__.pop(name, None)
        self._backends.clear()

    def remove_all(self) -> None:
        """Stop every real server and delete every folder (sandbox stop)."""
        with self.lock:
            for _, made in self._prepared.values():  # prepared, never claimed
                self._discard_prepared(made)
            self._prepared.clear()
            servers = [real.server for real in self.instances.values()]
            if servers:  # each stop waits for its postmaster to exit: all at once, not one after another
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=len(servers), thread_name_prefix="sandbox-rds-stop") as pool:
                    list(pool.map(lambda server: server.remove(), servers))
            self.instances.clear()
            shutil.rmtree(self.root, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------
    def instance(self, region: str, identifier: str) -> RealInstance | None:
        return self.instances.get((region, identifier))

    def _new_root(self, region: str, identifier: str) -> Path:
        prepare_data_root(self.root / region)
        root = self.root / region / identifier
        if root.exists():
            shutil.rmtree(root)
        prepare_data_root(root)
        return root

    def _new_server(self, region: str, identifier: str, user: str, password: str, dbname: str) -> RealInstance:
        root = self._new_root(region, identifier)
        server = PostgresServer(root / "pgdata", user=user, password=password, dbname=dbname)
        return RealInstance(region, identifier, server, root)

    def _make_server(self, region: str, identifier: str, user: str, password: str, dbname: str) -> RealInstance:
        """A new instance's real server: initdb (WAL archived to its own archive), started, ``dbname`` created."""
        real = self._new_server(region, identifier, user, password, dbname)
        try:
            prepare_data_root(real.archive_dir)
            real.server.initdb(PostgresServer.archive_settings(real.archive_dir))
            real.server.start()
            if dbname != "postgres":
                real.server.query(f'CREATE DATABASE "{dbname}"')
        except BaseException:
            self._destroy(real)
            raise
        return real

    def prepare_instance(self, region: str, identifier: str, user: str, password: str, dbname: str) -> None:
        """Make the real server of an instance the caller is about to create, in a thread (while moto
        loads): ``CreateDBInstance`` of ``identifier`` in ``region`` with exactly these master credentials
        and database then takes it over instead of making its own; until then no API shows it."""
        made: Future = Future()
        prepare_data_root(self.root)

        def make() -> None:
            try:
                real = self._make_server(region, identifier, user, password, dbname)
                try:  # the backup CreateDBInstance's automated snapshot takes, of this same empty server
                    real.prepared_backup = self._base_backup(real)
                except BaseException:
                    self._destroy(real)
                    raise
                made.set_result(real)
            except BaseException as exc:  # noqa: BLE001 - handed to the CreateDBInstance that claims it
                made.set_exception(exc)

        self._prepared[(region, identifier)] = ((user, password, dbname), made)
        threading.Thread(target=make, name=f"prepare {identifier}", daemon=True).start()

    def _claim_prepared(self, region: str, identifier: str, settings: tuple) -> RealInstance | None:
        """The server ``prepare_instance`` made for this instance (its failure raised here), or None when none
        was prepared with these settings (one prepared with others is removed)."""
        entry = self._prepared.pop((region, identifier), None)
        if entry is None:
            return None
        wanted, made = entry
        if wanted == settings:
            return made.result(timeout=PREPARE_TIMEOUT_S)
        self._discard_prepared(made)
        return None

    def _discard_prepared(self, made: Future) -> None:
        try:
            real = made.result(timeout=PREPARE_TIMEOUT_S)
        except BaseException:  # noqa: BLE001 - a failed preparation removed its own server
            return
        real.server.remove()  # no snapshot has been taken of it
        shutil.rmtree(real.root, ignore_errors=True)
        if real.prepared_backup is not None:
            shutil.rmtree(real.prepared_backup.path, ignore_errors=True)

    def take_backup(self, real: RealInstance) -> BaseBackup:
        """A real base backup of ``real``, listed as its newest; a prepared server's first one was taken while
        moto loaded (``prepare_instance``: nothing was written to the server since)."""
        backup, real.prepared_backup = real.prepared_backup, None
        if backup is None:
            backup = self._base_backup(real)
        real.backups.append(backup)
        return backup

    def _base_backup(self, real: RealInstance) -> BaseBackup:
        prepare_data_root(self.root / "backups")
        path = self.root / "backups" / f"{real.region}-{real.identifier}-{next(self._counter):04d}"
        real.server.base_backup(path)
        return BaseBackup(path, now_utc(), real.server.user, real.server.password, real.server.dbname)

    @staticmethod
    def earliest_restorable(real: RealInstance) -> datetime | None:
        """The start of the seeded history, else the first base backup's end (never before
        ``real.backups_since``)."""
        history = real.history
        if history is not None and real.backups and real.backups[0].finished_at <= history.points[0].real:
            earliest = history.start
        else:
            earliest = real.backups[0].finished_at if real.backups else None
        if earliest is not None and real.backups_since is not None:
            earliest = max(aware_utc(earliest), aware_utc(real.backups_since))  # moto's times are naive
        return earliest

    def restorable_window(self, real: RealInstance) -> tuple[datetime | None, datetime]:
        """(earliest, latest) restorable times; for a running primary, archives up to now first."""
        earliest = self.earliest_restorable(real)
        if real.failed_at is not None:
            return earliest, real.latest_archived or real.failed_at
        latest = now_utc()
        real.server.archive_now()  # commits after `latest` and archives it: `latest` is reachable
        return earliest, latest

    def history_snapshot(self, region: str, snapshot_id: str, real: RealInstance, at: datetime) -> BaseBackup:
        """Make a snapshot taken at simulated time ``at`` restorable: the base backup before the history's
        restore point for ``at`` and the WAL up to it, linked into a folder of the snapshot's own (the
        archive's segments are immutable, so hard links keep them when the archive goes). Call
        ``real.server.archive_now()`` first, so that the point's segment is archived."""
        from ...errors import SandboxError

        history = real.history
        point = history.point_at(aware_utc(at)) if history is not None else None
        if point is None:
            raise SandboxError(f"{snapshot_id}: no restore point of {real.identifier}'s history at {at.isoformat()}")
        with self.lock:
            base = self._backup_before(real, point)
            wal = self._new_folder("wal", region, snapshot_id)
            for segment in sorted(real.archive_dir.iterdir()):
                name = segment.name
                if len(name) == 24 and name[8:] > point.segment:
                    continue  # after the restore point: not the snapshot's
                (wal / name).hardlink_to(segment)
            backup = BaseBackup(base.path, base.finished_at, base.user, base.password, base.dbname,
                                restore_point=point.name, wal=wal)
            self.snapshot_backups[(region, snapshot_id.lower())] = backup
            return backup

    @staticmethod
    def _backup_before(real: RealInstance, point: RestorePoint) -> BaseBackup:
        from ...errors import SandboxError

        before = [b for b in real.backups if b.finished_at <= point.real]
        if not before:
            raise SandboxError(f"no base backup of {real.identifier} precedes restore point {point.name}")
        return before[-1]

    def _new_folder(self, kind: str, region: str, snapshot_id: str) -> Path:
        prepare_data_root(self.root / kind)
        name = "".join(c if c.isalnum() or c in "-." else "-" for c in snapshot_id)
        path = self.root / kind / f"{region}-{name}-{next(self._counter):04d}"
        prepare_data_root(path)
        return path

    def fail(self, region: str, identifier: str) -> datetime:
        """Take an instance down as its region's outage would: final WAL archived, server stopped.

        The instance stays restorable to its latest archived time (AWS status ``failed``).
        """
        from moto.rds.models import rds_backends

        with self.lock:
            real = self.instances[(region, identifier)]
            latest = now_utc()
            real.server.archive_now()
            real.server.stop("fast")
            real.latest_archived = latest
            real.failed_at = now_utc()
            instance = rds_backends[self.account_id][region].databases[identifier]
            instance.status = "failed"
            record_event(instance, *FAILED_EVENT)
            return latest

    def _gc_backups(self, real: RealInstance) -> None:
        from moto.rds.models import rds_backends

        live = set()
        for (region, snapshot_id), backup in list(self.snapshot_backups.items()):
            if snapshot_id in rds_backends[self.account_id][region].database_snapshots:
                live.add(backup.path)
            else:
                del self.snapshot_backups[(region, snapshot_id)]
        for backup in real.backups:
            if backup.path not in live:
                shutil.rmtree(backup.path, ignore_errors=True)

    def _destroy(self, real: RealInstance) -> None:
        real.server.remove()
        shutil.rmtree(real.root, ignore_errors=True)
        self._gc_backups(real)

    @staticmethod
    def _is_real_engine(kwargs: dict[str, Any]) -> bool:
        return kwargs.get("engine") in REAL_ENGINES and not kwargs.get("db_cluster_identifier")

    def _adopt(self, instance: Any) -> None:
        instance.__class__ = _real_instance_class()
        instance.dbi_resource_id = new_resource_id()  # moto gives every instance the same one; AWS never does

    # -- wrapped backend methods ----------------------------------------------------------------
    def _create_db_instance(self, backend, original, db_kwargs: dict[str, Any]):
        real = getattr(self._pending, "instance", None)
        if real is None and not self._is_real_engine(db_kwargs):
            return original(db_kwargs)
        from moto.rds.exceptions import DBInstanceAlreadyExists

        identifier = db_kwargs["db_instance_identifier"]
        key = (backend.region_name, identifier)
        if identifier in backend.databases or key in self.instances:
            raise DBInstanceAlreadyExists()
        with self.lock:
            if real is None:
                user, password = db_kwargs.get("master_username"), db_kwargs.get("master_user_password")
                if not user or not password:
                    raise _client_error("InvalidParameterValue", "MasterUsername and MasterUserPassword are required")
                dbname = db_kwargs.get("db_name") or "postgres"
                real = self._claim_prepared(backend.region_name, identifier, (user, password, dbname))
                if real is None:
                    real = self._make_server(backend.region_name, identifier, user, password, dbname)
            self.instances[key] = real
            db_kwargs["port"] = real.server.port
            try:
                instance = original(db_kwargs)  # its automated snapshot takes the first base backup
            except BaseException:
                self.instances.pop(key, None)
                self._destroy(real)
                raise
            self._adopt(instance)
            return instance

    def _create_db_snapshot(self, backend, original, db_instance_identifier: str, db_snapshot_identifier: str,
                            *args, **kwargs):
        snapshot = original(db_instance_identifier, db_snapshot_identifier, *args, **kwargs)
        real = self.instances.get((backend.region_name, db_instance_identifier))
        if real is not None and real.failed_at is None and not real.standby:
            with self.lock:
                try:
                    backup = self.take_backup(real)
                except BaseException:
                    backend.database_snapshots.pop(snapshot.db_snapshot_identifier, None)
                    raise
                self.snapshot_backups[(backend.region_name, snapshot.db_snapshot_identifier)] = backup
        return snapshot

    def _copy_db_snapshot(self, backend, original, source_db_snapshot_identifier: str,
                          target_db_snapshot_identifier: str, *args, **kwargs):
        source_region, source_id = backend.region_name, source_db_snapshot_identifier
        if source_id.startswith("arn:"):
            parts = source_id.split(":", 6)  # arn:aws:rds:REGION:ACCOUNT:snapshot:NAME (NAME may hold ':')
            source_region, source_id = parts[3], parts[6]
        if source_region != backend.region_name:
            target = self._copy_across_regions(backend, source_region, source_id, target_db_snapshot_identifier)
        else:
            target = original(source_db_snapshot_identifier, target_db_snapshot_identifier, *args, **kwargs)
        backup = self.snapshot_backups.get((source_region, source_id.lower()))
        if backup is not None:
            if source_region != backend.region_name:
                with self.lock:
                    backup = self._copy_backup(backup, backend.region_name, target.db_snapshot_identifier)
            self.snapshot_backups[(backend.region_name, target.db_snapshot_identifier)] = backup
        return target

    def _copy_backup(self, backup: BaseBackup, region: str, snapshot_id: str) -> BaseBackup:
        """A physical copy of ``backup`` kept in ``region`` (nothing of the source region behind it): the
        base backup copied once per region (history snapshots share theirs, as they share the source's),
        a history snapshot's WAL linked into a folder of the copy's own."""
        from dataclasses import replace

        from ...errors import SandboxError

        copied = self._regional_copies.get((backup.path, region))
        if copied is None:
            prepare_data_root(self.root / "backups")
            name = "".join(c if c.isalnum() or c in "-." else "-" for c in snapshot_id)
            path = self.root / "backups" / f"{region}-{name}-{next(self._counter):04d}"
            result = run_as_server_user(["cp", "-a", str(backup.path), str(path)])
            if result.returncode != 0:
                raise SandboxError(f"copying base backup {backup.path.name} to {region} failed: "
                                   f"{result.stderr.strip()}")
            copied = BaseBackup(path, backup.finished_at, backup.user, backup.password, backup.dbname)
            self._regional_copies[(backup.path, region)] = copied
        wal = None
        if backup.wal is not None:
            wal = self._new_folder("wal", region, snapshot_id)
            for segment in backup.wal.iterdir():
                (wal / segment.name).hardlink_to(segment)
        return replace(copied, restore_point=backup.restore_point, wal=wal)

    def _copy_across_regions(self, backend, source_region: str, source_id: str, target_id: str):
        from moto.rds.exceptions import DBSnapshotAlreadyExistsError
        from moto.rds.models import DBSnapshot, rds_backends

        source = rds_backends[self.account_id][source_region].get_db_snapshot(source_id)
        if target_id.lower() in backend.database_snapshots:
            raise DBSnapshotAlreadyExistsError(target_id)
        copy = DBSnapshot(backend, source.database, target_id, "manual",
                          original_created_at=source.original_snapshot_create_time)
        copy.source_region = source_region
        copy.source_db_snapshot_identifier = source.db_snapshot_arn
        backend.database_snapshots[copy.db_snapshot_identifier] = copy
        return copy

    def _restore_into(self, new: RealInstance, recover, register):
        """Run the real recovery into ``new`` (then the after-restore hooks), then let moto register the
        instance, which adopts ``new``; a failed recovery removes ``new``'s server and folder."""
        try:
            recover()
            for hook in self.after_restore:
                hook(new)
        except BaseException:
            self._destroy(new)
            raise
        self._pending.instance = new
        try:
            return register()
        finally:
            self._pending.instance = None

    def _restore_db_instance_to_point_in_time(self, backend, original, source_db_identifier: str,
                                              target_db_identifier: str, overrides: dict[str, Any]):
        from moto.rds.exceptions import DBInstanceAlreadyExists

        backend.describe_db_instances(source_db_identifier)  # DBInstanceNotFound as AWS says it
        real = self.instances.get((backend.region_name, source_db_identifier))
        if real is None:
            return original(source_db_identifier, target_db_identifier, overrides)
        if target_db_identifier in backend.databases:
            raise DBInstanceAlreadyExists()
        restore_time = overrides.pop("restore_time", None)
        use_latest = overrides.pop("use_latest_restorable_time", None)
        use_latest = str(use_latest).lower() == "true"
        if restore_time is not None and use_latest:
            raise _client_error("InvalidParameterCombination",
                                "Cannot specify both RestoreTime and UseLatestRestorableTime")
        if restore_time is None and not use_latest:
            raise _client_error("InvalidParameterCombination",
                                "Either RestoreTime or UseLatestRestorableTime must be specified")
        target = None
        if restore_time is not None:
            target = restore_time if isinstance(restore_time, datetime) else datetime.fromisoformat(
                str(restore_time).replace("Z", "+00:00"))
            target = aware_utc(target)
        with self.lock:
            earliest, latest = self.restorable_window(real)
            if earliest is None or (target is not None and not earliest <= target <= latest):
                window = f"{earliest.isoformat() if earliest else 'none'} .. {latest.isoformat()}"
                raise _client_error(
                    "InvalidRestoreFault",
                    f"The restore time {target.isoformat() if target else 'latest'} is not within the "
                    f"restorable window of {source_db_identifier} ({window})",
                )
            history = real.history
            restore_point = None
            if target is not None and history is not None and history.in_seeded_past(target):
                restore_point = history.point_at(target)  # the seeded past: its restore points
            if restore_point is not None:
                backup = self._backup_before(real, restore_point)
            else:
                point = target or latest
                backup = [b for b in real.backups if b.finished_at <= point][-1]
            new = self._new_server(backend.region_name, target_db_identifier, real.server.user,
                                   real.server.password, real.server.dbname)
            if restore_point is not None:
                recover = partial(new.server.restore_to_point, backup.path, real.archive_dir, restore_point.name,
                                  new.archive_dir)
            else:
                recover = partial(new.server.restore_to_time, backup.path, real.archive_dir, target, new.archive_dir)
            instance = self._restore_into(
                new, recover, lambda: original(source_db_identifier, target_db_identifier, overrides))
            instance.status = "available"
            return instance

    def _restore_db_instance_from_db_snapshot(self, backend, original, from_snapshot_id: str,
                                              overrides: dict[str, Any]):
        from moto.rds.exceptions import DBInstanceAlreadyExists

        snapshot_id = from_snapshot_id.split(":", 6)[6] if from_snapshot_id.startswith("arn:") else from_snapshot_id
        snapshot = backend.describe_db_snapshots(None, snapshot_id)[0]
        if snapshot.database.engine not in REAL_ENGINES:
            return original(from_snapshot_id, overrides)
        backup = self.snapshot_backups.get((backend.region_name, snapshot.db_snapshot_identifier))
        if backup is None:
            restorable = sorted(sid for (region, sid) in self.snapshot_backups if region == backend.region_name)
            raise _client_error(
                "InvalidDBSnapshotState",
                f"sandbox: snapshot {snapshot.db_snapshot_identifier} has no base backup behind it, so it "
                f"cannot be restored; snapshots with data in {backend.region_name}: {', '.join(restorable) or 'none'}",
            )
        target_id = overrides["db_instance_identifier"]
        if target_id in backend.databases:
            raise DBInstanceAlreadyExists()
        with self.lock:
            new = self._new_server(backend.region_name, target_id, backup.user, backup.password, backup.dbname)
            if backup.restore_point is not None:
                recover = partial(new.server.restore_to_point, backup.path, backup.wal, backup.restore_point,
                                  new.archive_dir)
            else:
                recover = partial(new.server.restore_base_backup, backup.path, new.archive_dir)
            instance = self._restore_into(new, recover, lambda: original(from_snapshot_id, overrides))
            instance.status = "available"
            for key in ("multi_az", "publicly_accessible", "deletion_protection"):
                if key in overrides and str(overrides[key]).lower() == "false":  # moto applies only truthy ones
                    setattr(instance, key, False)
            _in_own_region(instance, backend.region_name)  # a restore lives in the copy's region
            return instance

    def _create_db_instance_read_replica(self, backend, original, db_kwargs: dict[str, Any]):
        from moto.core.utils import utcnow
        from moto.rds.exceptions import DBInstanceAlreadyExists

        primary = backend.find_db_from_id(db_kwargs["source_db_instance_identifier"])
        source = self.instances.get((primary.region, primary.db_instance_identifier))
        if source is None or source.failed_at is not None:
            return original(db_kwargs)
        identifier = db_kwargs["db_instance_identifier"]
        key = (backend.region_name, identifier)
        if identifier in backend.databases:
            raise DBInstanceAlreadyExists()
        with self.lock:
            real = self._new_server(backend.region_name, identifier, source.server.user,
                                    source.server.password, source.server.dbname)
            real.standby = True
            try:
                real.server.start_standby_of(source.server, real.archive_dir)
            except BaseException:
                self._destroy(real)
                raise
            self.instances[key] = real
            db_kwargs["port"] = real.server.port
            try:
                replica = original(db_kwargs)
            except BaseException:
                self.instances.pop(key, None)
                self._destroy(real)
                raise
            replica.port = real.server.port
            replica.created = replica.instance_create_time = utcnow()
            replica.replicas = []
            _in_own_region(replica, backend.region_name)
            self._adopt(replica)
            return replica

    def _promote_read_replica(self, backend, original, db_kwargs: dict[str, Any]):
        from moto.core.utils import utcnow

        identifier = db_kwargs["db_instance_identifier"]
        real = self.instances.get((backend.region_name, identifier))
        if real is None or not real.standby:
            return original(db_kwargs)
        with self.lock:
            real.server.promote()
            real.standby = False
            instance = original(db_kwargs)
            record_event(instance, *PROMOTED_EVENT)
            source_id = instance.source_db_instance_identifier
            instance.source_db_instance_identifier = None  # no ReadReplicaSource... any more, as on AWS
            try:
                backend.find_db_from_id(source_id).replicas.remove(instance.db_instance_arn)
            except Exception:  # noqa: BLE001 - source gone or never listed it
                pass
            # AWS backs a promoted replica up right away (when retention > 0): a real base backup
            stamp = utcnow().strftime("%Y-%m-%d-%H-%M")
            backend.create_auto_snapshot(identifier, f"rds:{identifier}-{stamp}")
            return instance

    def _describe_db_instance_automated_backups(self, backend, original, *args, **kwargs):
        """moto's automated backups, one per instance identifier and DbiResourceId (an earlier instance of
        the same name has its own, ``retained``), each with its ``RestoreWindow``: a real instance's
        restorable window, or a retained one's snapshot span. The current instance has a window only
        when it has an automated snapshot of its own (a base to restore from)."""
        described = []
        for group in original(*args, **kwargs):
            instance = backend.databases.get(group.db_instance_identifier)
            current = getattr(instance, "dbi_resource_id", None)
            by_resource: dict[str | None, list] = {}
            for snapshot in group.automated_snapshots:
                by_resource.setdefault(getattr(snapshot, "dbi_resource_id", None) or current, []).append(snapshot)
            for resource_id, snapshots in by_resource.items():
                described.append(self._automated_backup(backend, group.db_instance_identifier, instance,
                                                        resource_id, current, snapshots))
        return described

    def _automated_backup(self, backend, identifier: str, instance, resource_id, current, snapshots) -> "_AutomatedBackup":
        backup = _AutomatedBackup(identifier, backend.region_name, resource_id)
        active = instance is not None and resource_id == current
        backup.status = "active" if active else "retained"
        if instance is not None:
            for name in ("db_instance_arn", "engine", "engine_version", "port", "backup_retention_period",
                         "allocated_storage", "master_username", "storage_encrypted"):
                if getattr(instance, name, None) is not None:
                    setattr(backup, name, getattr(instance, name))
            if active:
                backup.instance_create_time = getattr(instance, "instance_create_time", None) or instance.created
        real = self.instances.get((backend.region_name, identifier)) if active else None
        earliest = self.earliest_restorable(real) if real is not None else None
        if earliest is not None:
            latest = real.latest_archived if real.failed_at is not None and real.latest_archived else now_utc()
            backup.restore_window = {"EarliestTime": naive_utc(earliest), "LatestTime": naive_utc(latest)}
        elif snapshots:
            times = sorted(naive_utc(s.created) for s in snapshots)
            backup.restore_window = {"EarliestTime": times[0], "LatestTime": times[-1]}
        return backup

    def _delete_db_instance(self, backend, original, db_instance_identifier: str, *args, **kwargs):
        instance = original(db_instance_identifier, *args, **kwargs)
        with self.lock:
            real = self.instances.pop((backend.region_name, db_instance_identifier), None)
            if real is not None:
                self._destroy(real)
        return instance


class _AutomatedBackup:
    """One DBInstanceAutomatedBackup as DescribeDBInstanceAutomatedBackups reports it (attributes by the
    API's member names, as moto's serializer reads them)."""

    def __init__(self, identifier: str, region: str, resource_id: str | None) -> None:
        self.db_instance_identifier = identifier
        self.region = region
        self.dbi_resource_id = resource_id
        self.status = "active"


class _Event:
    """An RDS event (moto's Event knows only its own few types)."""

    def __init__(self, resource, categories: list[str], message: str) -> None:
        from moto.core.utils import utcnow

        self.source_identifier = resource.resource_id
        self.source_type = resource.event_source_type
        self.source_arn = resource.arn
        self.event_categories = categories
        self.message = message
        self.date = utcnow()


def record_event(resource, category: str, message: str) -> None:
    """Record an RDS event for ``resource`` (an instance) in its region's DescribeEvents."""
    try:
        resource.backend.events.append(_Event(resource, [category], message))
    except AttributeError:  # a resource moto keeps no events for
        pass


def _in_own_region(instance, region: str) -> None:
    """moto carries the source instance's zone over to a cross-region replica or restore; AWS puts it in
    a zone of its own region."""
    if not str(instance.availability_zone or "").startswith(region):
        instance.availability_zone = f"{region}a"


_REAL_CLASS = None


def _real_instance_class():
    """A DBInstance subclass whose endpoint and restorable time are the real server's."""
    global _REAL_CLASS
    if _REAL_CLASS is None:
        from moto.core.utils import utcnow
        from moto.rds.models import DBInstance

        class RealDBInstance(DBInstance):
            registry: RealRds | None = None

            @property
            def address(self) -> str:
                return LOOPBACK

            @property
            def endpoint(self) -> dict[str, Any]:
                """Where clients reach the server: behind its latency proxy when the sandbox adds latency."""
                return {"Address": self.address, "Port": self.db_instance_port}

            @property
            def db_instance_port(self) -> int | None:
                if self.port is None or self.registry is None:
                    return self.port
                return self.registry.published_port(self.port)

            @property
            def latest_restorable_time(self) -> datetime:
                real = self.registry.instance(self.region, self.db_instance_identifier) if self.registry else None
                if real is not None and real.latest_archived is not None:
                    return naive_utc(real.latest_archived)
                return utcnow()

        _REAL_CLASS = RealDBInstance
    return _REAL_CLASS
