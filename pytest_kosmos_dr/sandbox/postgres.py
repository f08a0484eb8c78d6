"""Real PostgreSQL servers for the sandbox, run from the system's server binaries.

``initdb``/``pg_ctl`` refuse to run as root, so when we are root every server command runs as
the ``postgres`` OS user, inside a data folder we created and handed to that user.
Servers listen on loopback only, authenticate with SCRAM passwords, and keep their sockets in a
short folder of their own under one per-process socket root (``/tmp/kdr-XXXXXXXX/XXXXXXXX``; never
the system's /var/run/postgresql): a Unix socket path may hold at most 107 bytes, which a long
``$TMPDIR`` plus nested data folders would exceed.
"""

from __future__ import annotations

import atexit
import bisect
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import SandboxError
from .component import LOOPBACK, free_port

PG_OS_USER = "postgres"
COMMAND_TIMEOUT = 60  # seconds; every server command is bounded
RECOVERY_TIMEOUT = 30  # seconds a restore or promotion may take before we give up
# pg_ctl's stop modes, as the signals it sends the postmaster (``stop`` sends them itself, waiting in 10 ms steps)
_SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
# WAL segment size of the sandbox's clusters (initdb --wal-segsize): PostgreSQL's default is 16 MB, but a
# sandbox writes little WAL, so every base backup, archived segment and restore would copy mostly unused
# space; 1 MB segments keep them small (archiving, PITR and streaming work the same)
WAL_SEGMENT_MB = 1
DEFAULT_WAL_SEGMENT_BYTES = 16 * 1024 * 1024  # PostgreSQL's default (and a history index's without its size)
SOCKET_PATH_MAX = 107  # bytes of a Unix socket path (sun_path is 108 with the terminating NUL)
LONGEST_SOCKET_FILE = ".s.PGSQL.65535.lock"  # the longest name PostgreSQL puts in its socket folder
_SOCKET_TAIL = len("/kdr-XXXXXXXX/XXXXXXXX/" + LONGEST_SOCKET_FILE)  # root + server folder + file
_socket_root: Path | None = None
_socket_root_lock = threading.Lock()


def socket_base() -> Path:
    """Where the socket root goes: ``$TMPDIR`` when its paths stay within 107 bytes, else /tmp.

    Raises SandboxError with one line when neither is short enough."""
    candidates = [Path(tempfile.gettempdir()), Path("/tmp")]
    for base in candidates:
        if len(os.fsencode(str(base))) + _SOCKET_TAIL <= SOCKET_PATH_MAX and base.is_dir() \
                and os.access(base, os.W_OK | os.X_OK):
            return base
    longest = len(os.fsencode(str(candidates[0]))) + _SOCKET_TAIL
    raise SandboxError(
        f"PostgreSQL socket paths under {candidates[0]} would be {longest} bytes, over the {SOCKET_PATH_MAX} "
        "a Unix socket allows, and /tmp is not usable: set TMPDIR to a short writable folder"
    )


DATA_PREFIX = "kosmos-dr-sandbox-"
MEMORY_FOLDER = Path("/dev/shm")
MEMORY_NEEDED = 2 * 1024**3  # free space a default-size sandbox may take in memory (it uses ~0.2 GB)
MEMORY_ENV = "KOSMOS_DR_SANDBOX_IN_MEMORY"


def data_base(scale: str = "default") -> Path:
    """Where a sandbox's data folder goes: a default-size sandbox's servers (initdb, base backups, snapshot
    copies, the WAL archive) in memory (``/dev/shm``, a tmpfs: initdb 0.8 s instead of 1.9-2.2 s on this
    machine's disk, a 28 MB copy 0.06 s instead of 1.1 s) when it has 2 GB free; a scaled one (gigabytes),
    or ``KOSMOS_DR_SANDBOX_IN_MEMORY=0``, on ``$TMPDIR``. Throwaway data either way."""
    wanted = os.environ.get(MEMORY_ENV, "").strip().lower() not in ("0", "false", "no", "off")
    if wanted and scale == "default" and _memory_folder_usable():
        return MEMORY_FOLDER
    return Path(tempfile.gettempdir())


def new_data_folder(scale: str = "default") -> Path:
    """A new, empty data folder for one sandbox (found again by ``sandbox_data_folders``)."""
    return Path(tempfile.mkdtemp(prefix=DATA_PREFIX, dir=data_base(scale)))


def _memory_folder_usable() -> bool:
    try:
        stat = os.statvfs(MEMORY_FOLDER)
        with open("/proc/mounts") as mounts:
            tmpfs = any(line.split()[1:3] == [str(MEMORY_FOLDER), "tmpfs"] for line in mounts)
    except OSError:
        return False
    return tmpfs and stat.f_bavail * stat.f_frsize >= MEMORY_NEEDED and os.access(MEMORY_FOLDER, os.W_OK | os.X_OK)


def sandbox_data_folders() -> list[Path]:
    """Every sandbox data folder that exists now, wherever it was made (for cleanup)."""
    found = []
    for base in dict.fromkeys([MEMORY_FOLDER, Path(tempfile.gettempdir())]):
        try:
            found += [p for p in base.glob(f"{DATA_PREFIX}*") if p.is_dir()]
        except OSError:
            continue
    return found


def socket_root() -> Path:
    """This process's short folder for server socket folders (created once, removed at exit)."""
    global _socket_root
    with _socket_root_lock:
        if _socket_root is None or not _socket_root.is_dir():
            _socket_root = Path(tempfile.mkdtemp(prefix="kdr-", dir=socket_base()))
            prepare_data_root(_socket_root)
            atexit.register(shutil.rmtree, _socket_root, True)
        return _socket_root


def remove_socket_root() -> None:
    """Remove this process's socket root (the servers using it are stopped)."""
    global _socket_root
    with _socket_root_lock:
        if _socket_root is not None:
            shutil.rmtree(_socket_root, ignore_errors=True)
            _socket_root = None


def find_bindir() -> Path:
    """The folder holding initdb/pg_ctl: $KOSMOS_DR_PG_BINDIR, the newest Debian one, or PATH."""
    explicit = os.environ.get("KOSMOS_DR_PG_BINDIR")
    if explicit:
        candidates = [explicit]
    else:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
        which = shutil.which("initdb")
        if which:
            candidates.append(str(Path(which).parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    raise SandboxError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
        "(Debian/Ubuntu: apt-get install postgresql) or set KOSMOS_DR_PG_BINDIR"
    )


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def running_as_root() -> bool:
    return os.geteuid() == 0


def prepare_data_root(path: Path) -> None:
    """Make a folder the server user can own (we created it, so we may hand it over)."""
    path.mkdir(parents=True, exist_ok=True)
    if running_as_root():
        entry = pwd.getpwnam(PG_OS_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o700)


def run_as_server_user(cmd: list[str], *, timeout: float = COMMAND_TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
    """Run a PostgreSQL command, as the postgres OS user when we are root; bounded by a timeout."""
    if running_as_root():
        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            raise SandboxError(
                "running as root, but there is no 'postgres' OS user to run PostgreSQL as: "
                "install the postgresql package or run as a normal user"
            ) from None
        kwargs.update(user=PG_OS_USER, group=PG_OS_USER, extra_groups=[])
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/", **kwargs
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(f"{Path(cmd[0]).name} did not finish within {timeout:.0f} s") from None


@dataclass
class PostgresServer:
    """One PostgreSQL server: a data folder, a loopback port, a superuser with a password."""

    data_dir: Path
    user: str
    password: str
    port: int = 0
    dbname: str = "kosmos"
    host: str = LOOPBACK
    _socket_dir: Path | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.bindir = find_bindir()
        if not self.port:
            self.port = free_port(self.host)

    @property
    def socket_dir(self) -> Path:
        """A short folder of this server's own for its Unix socket (see ``socket_root``)."""
        if self._socket_dir is None:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="", dir=socket_root()))
        return self._socket_dir

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def conninfo(self, dbname: str | None = None) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password,
            dbname=dbname or self.dbname, connect_timeout=5,
        )

    def _run(self, tool: str, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        result = run_as_server_user([str(self.bindir / tool), *args], timeout=timeout)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise SandboxError(f"{tool} failed for {self.data_dir.name}: {' | '.join(detail)}")
        return result

    def initdb(self, settings: dict[str, str] | None = None) -> None:
        """Create the cluster with a SCRAM-authenticated superuser and loopback-only settings."""
        prepare_data_root(self.data_dir.parent)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        pwfile.write_text(self.password + "\n")
        try:
            if running_as_root():
                entry = pwd.getpwnam(PG_OS_USER)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            os.chmod(pwfile, 0o600)
            self._run(
                "initdb", "--no-sync", "-A", "scram-sha-256", "-U", self.user,
                f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", f"--wal-segsize={WAL_SEGMENT_MB}",
                "-D", str(self.data_dir),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.configure({
            "listen_addresses": f"'{self.host}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": "50",
            **(settings or {}),
        })

    def configure(self, settings: dict[str, str]) -> None:
        """Append settings to postgresql.auto.conf-like include (postgresql.conf, last one wins)."""
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write("\n# kosmos-dr sandbox\n" + lines)

    def start(self) -> None:
        prepare_data_root(self.socket_dir)
        self._run(
            "pg_ctl", "-w", "-t", "30", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-o", f"-p {self.port}", "start", timeout=45,
        )

    def stop(self, mode: str = "fast") -> None:
        if mode in _SHUTDOWN_SIGNALS and self._signal_postmaster(_SHUTDOWN_SIGNALS[mode]):
            return
        if (self.data_dir / "postmaster.pid").exists():
            run_as_server_user(
                [str(self.bindir / "pg_ctl"), "-w", "-t", "20", "-D", str(self.data_dir), "-m", mode, "stop"],
                timeout=30,
            )

    def query(self, sql: str, params: tuple = (), dbname: str | None = None) -> list[tuple]:
        """Run one statement (autocommit) and return its rows; bounded by a statement timeout."""
        import psycopg

        with psycopg.connect(self.conninfo(dbname or "postgres"), autocommit=True) as conn:
            conn.execute("SET statement_timeout = 10000")
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    # -- WAL archiving, base backups, recovery ----------------------------------------------
    @staticmethod
    def archive_settings(archive_dir: Path) -> dict[str, str]:
        """Settings for a primary whose WAL is archived to ``archive_dir`` (PITR, standbys)."""
        return {
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": f"'test ! -f {archive_dir}/%f && cp %p {archive_dir}/%f'",
            "max_wal_senders": "5",
            "wal_keep_size": "64MB",
            "hot_standby": "on",
        }

    def archive_now(self, timeout: float = 10) -> str:
        """Commit once, close the current WAL segment and wait until the archiver has copied it.

        Returns nothing useful to callers but the segment name; afterwards every commit made
        before this call (and one made by it) is in the archive, so a recovery target up to the
        moment of the call is reachable.
        """
        self.query("SELECT txid_current()")  # a commit record with a timestamp
        segment = self.query("SELECT pg_walfile_name(pg_switch_wal())")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.query("SELECT last_archived_wal FROM pg_stat_archiver")[0][0]
            if last and last >= segment:
                return segment
            time.sleep(0.02)
        raise SandboxError(f"WAL segment {segment} of {self.data_dir.name} was not archived within {timeout:.0f} s")

    def base_backup(self, dest: Path) -> None:
        """A standalone base backup (``pg_basebackup -Xstream``) into ``dest``, owned by the server user."""
        prepare_data_root(dest.parent)
        env = {**os.environ, "PGPASSWORD": self.password}
        result = run_as_server_user(
            [str(self.bindir / "pg_basebackup"), "-h", self.host, "-p", str(self.port), "-U", self.user,
             "-D", str(dest), "-Xstream", "-c", "fast", "--no-sync", "-w"],
            env=env,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-2:]
            raise SandboxError(f"pg_basebackup of {self.data_dir.name} failed: {' | '.join(detail)}")

    def _take_over(self, backup: Path) -> None:
        """Make this server's data folder a copy of ``backup`` (run as the server user)."""
        prepare_data_root(self.data_dir.parent)
        result = run_as_server_user(["cp", "-a", str(backup), str(self.data_dir)])
        if result.returncode != 0:
            raise SandboxError(f"copying base backup into {self.data_dir.name} failed: {result.stderr.strip()}")
        for leftover in ("postmaster.pid", "standby.signal", "recovery.signal"):
            (self.data_dir / leftover).unlink(missing_ok=True)

    def _signal(self, name: str) -> None:
        path = self.data_dir / name
        path.touch()
        if running_as_root():
            entry = pwd.getpwnam(PG_OS_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _own_settings(self, archive_dir: Path | None) -> dict[str, str]:
        settings = {"unix_socket_directories": f"'{self.socket_dir}'", "listen_addresses": f"'{self.host}'"}
        if archive_dir is not None:
            prepare_data_root(archive_dir)
            settings.update(self.archive_settings(archive_dir))
        else:
            settings["archive_mode"] = "off"
        return settings

    def restore_base_backup(self, backup: Path, archive_dir: Path | None) -> None:
        """Become the state a base backup holds (recovering to its consistent point) and start."""
        self._take_over(backup)
        self.configure(self._own_settings(archive_dir))
        self.start()

    def restore_to_time(self, backup: Path, source_archive: Path, target: datetime | None,
                        archive_dir: Path | None, *, target_name: str | None = None,
                        timeout: float = RECOVERY_TIMEOUT) -> None:
        """Point-in-time recovery: base backup + archived WAL up to ``target`` (None: all of it), or up
        to the restore point ``target_name`` (``pg_create_restore_point``) when one is given.

        Recovery stops before the first commit after ``target`` (at the named restore point) and
        promotes; we wait until the server leaves recovery, or report why it did not (its log's last lines).
        """
        self._take_over(backup)
        settings = self._own_settings(archive_dir)
        settings.update({
            "restore_command": f"'cp {source_archive}/%f %p'",
            "recovery_target_action": "'promote'",
            "recovery_target_timeline": "'latest'",
        })
        if target_name is not None:
            settings["recovery_target_name"] = "'" + target_name.replace("'", "''") + "'"
        elif target is not None:
            settings["recovery_target_time"] = f"'{target.isoformat(sep=' ')}'"
            settings["recovery_target_inclusive"] = "on"
        self.configure(settings)
        self._signal("recovery.signal")
        try:
            self.start()
        except SandboxError:
            raise SandboxError(f"recovery of {self.data_dir.name} failed: {self.log_tail()}") from None
        self.wait_until_primary(timeout)

    def restore_to_point(self, backup: Path, source_archive: Path, name: str, archive_dir: Path | None,
                         timeout: float = RECOVERY_TIMEOUT) -> None:
        """Recovery to the restore point ``name``: base backup + archived WAL up to that WAL record."""
        self.restore_to_time(backup, source_archive, None, archive_dir, target_name=name, timeout=timeout)

    @property
    def history_file(self) -> Path:
        """Where the seeded history's restore-point index lives (next to the data folder, like the log)."""
        return self.data_dir.parent / f"{self.data_dir.name}.history.json"

    def start_standby_of(self, primary: "PostgresServer", archive_dir: Path) -> None:
        """Become a streaming standby of ``primary`` (base backup + primary_conninfo) and start.

        It archives its own WAL to ``archive_dir`` once promoted (a standby does not archive).
        """
        primary.base_backup(self.data_dir)
        settings = self._own_settings(archive_dir)
        settings["primary_conninfo"] = (
            f"'host={primary.host} port={primary.port} user={primary.user} "
            f"password={primary.password} application_name={self.data_dir.parent.name}'"
        )
        self.configure(settings)
        self._signal("standby.signal")
        self.start()

    def promote(self) -> None:
        # pg_ctl's own wait polls every 100 ms; wait_until_primary asks the server itself, more often
        self._run("pg_ctl", "-W", "-D", str(self.data_dir), "promote", timeout=COMMAND_TIMEOUT)
        self.wait_until_primary()

    def wait_until_primary(self, timeout: float = RECOVERY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not self.query("SELECT pg_is_in_recovery()")[0][0]:
                    return
            except Exception:  # noqa: BLE001 - not accepting connections yet, or shut down
                if not (self.data_dir / "postmaster.pid").exists():
                    raise SandboxError(f"{self.data_dir.name} stopped during recovery: {self.log_tail()}") from None
            time.sleep(0.03)
        raise SandboxError(f"{self.data_dir.name} still in recovery after {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 2) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        wanted = [line for line in text if "FATAL" in line or "ERROR" in line] or text
        return " | ".join(wanted[-lines:])

    def is_running(self) -> bool:
        result = run_as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "status"], timeout=10)
        return result.returncode == 0

    def quit_now(self, timeout: float = 20.0) -> bool:
        """Immediate shutdown as ``pg_ctl -m immediate stop`` does it (SIGQUIT to the postmaster), waited for
        in 10 ms steps instead of pg_ctl's 100 ms: True once the postmaster is gone, False when this could
        not be done here (no pid file, another user's process: ``stop`` then does it)."""
        return self._signal_postmaster(signal.SIGQUIT, timeout)

    def _signal_postmaster(self, sig: int, timeout: float = 20.0) -> bool:
        """Send ``sig`` (pg_ctl's shutdown signal of a mode) to this server's postmaster and wait for it to exit
        in 10 ms steps: True once it is gone, False when this could not be done here (see ``quit_now``)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if str(self.data_dir).encode() not in command:  # a stale pid file: not this server's postmaster
                return False
            os.kill(pid, sig)
        except (OSError, ValueError):
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                return True  # gone
            if state == "Z":  # exited, waiting for whoever adopted it to reap it
                return True
            time.sleep(0.01)
        return False

    def remove(self) -> None:
        """Stop the server and delete its data folder, socket folder and log."""
        try:
            if not self.quit_now():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if self._socket_dir is not None:
                shutil.rmtree(self._socket_dir, ignore_errors=True)
            self.log_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class RestorePoint:
    """A real restore point in the WAL, named for the simulated time it stands for: a recovery to it
    holds exactly the rows written (``created_at``) up to ``at``."""

    at: datetime    # simulated time (aware UTC)
    name: str       # pg_create_restore_point's name
    lsn: int        # where it is in the WAL
    real: datetime  # when it was really written (aware UTC)
    wal_segment_bytes: int = DEFAULT_WAL_SEGMENT_BYTES  # its server's WAL segment size

    @property
    def segment(self) -> str:
        """The WAL segment holding it (its file name without the timeline part)."""
        number, per_id = self.lsn // self.wal_segment_bytes, 0x1_0000_0000 // self.wal_segment_bytes
        return f"{number // per_id:08X}{number % per_id:08X}"


def restore_point_name(at: datetime) -> str:
    """The restore point for simulated time ``at`` (names are at most 63 bytes)."""
    return "kosmos-" + at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def parse_lsn(text: str) -> int:
    high, low = str(text).split("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass
class History:
    """A compressed history: rows committed in simulated-time order with a restore point after each
    step. Simulated times from ``start`` to ``seeded_until`` map to restore points; later ones are live
    writes with real commit timestamps (``recovery_target_time``)."""

    start: datetime          # simulated start: the earliest restorable time
    seeded_until: datetime   # real time right after the last seeded commit
    granularity: str         # "commit" or "hour"
    points: list[RestorePoint] = field(default_factory=list)

    def point_at(self, at: datetime) -> RestorePoint | None:
        """The newest restore point at or before simulated time ``at``."""
        index = bisect.bisect_right([p.at for p in self.points], at)
        return self.points[index - 1] if index else None

    def in_seeded_past(self, at: datetime) -> bool:
        return at < self.seeded_until

    def save(self, path: Path) -> None:
        data = {
            "start": self.start.isoformat(), "seeded_until": self.seeded_until.isoformat(),
            "granularity": self.granularity,
            "wal_segment_bytes": self.points[0].wal_segment_bytes if self.points else DEFAULT_WAL_SEGMENT_BYTES,
            "points": [[p.at.isoformat(), p.name, p.lsn, p.real.timestamp()] for p in self.points],
        }
        path.write_text(json.dumps(data, separators=(",", ":")))

    @classmethod
    def load(cls, path: Path) -> "History | None":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        segment_bytes = int(data.get("wal_segment_bytes") or DEFAULT_WAL_SEGMENT_BYTES)
        points = [RestorePoint(datetime.fromisoformat(at), name, int(lsn), datetime.fromtimestamp(real, timezone.utc),
                               segment_bytes)
                  for at, name, lsn, real in data["points"]]
        return cls(datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["seeded_until"]),
                   data["granularity"], points)


def stop_servers_under(root: Path) -> list[Path]:
    """Stop (immediate mode) every server whose data folder lies under ``root``; returns their folders.

    For the sandbox's watchdog: the daemon that started them is gone."""
    stopped = []
    try:
        bindir = find_bindir()
    except SandboxError:
        return stopped
    for pid_file in sorted(root.rglob("postmaster.pid")):
        data_dir = pid_file.parent
        run_as_server_user([str(bindir / "pg_ctl"), "-w", "-t", "20", "-D", str(data_dir), "-m", "immediate",
                            "stop"], timeout=30)
        stopped.append(data_dir)
    return stopped
