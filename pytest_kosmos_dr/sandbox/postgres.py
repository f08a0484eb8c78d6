"""Real PostgreSQL servers for the sandbox, run from the system's server binaries.

``initdb``/``pg_ctl`` refuse to run as root, so when we are root every server command runs as
the ``postgres`` OS user, inside a data folder we created and handed to that user.
Servers listen on loopback only, authenticate with SCRAM passwords, and keep their sockets
inside their own folder (never the system's /var/run/postgresql).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import SandboxError
from .component import LOOPBACK, free_port

PG_OS_USER = "postgres"
COMMAND_TIMEOUT = 60  # seconds; every server command is bounded


def find_bindir() -> Path:
    """The folder holding initdb/pg_ctl: $KOSMOS_DR_PG_BINDIR, the newest Debian one, or PATH."""
    explicit = os.environ.get("KOSMOS_DR_PG_BINDIR")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
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

    def __post_init__(self) -> None:
        self.bindir = find_bindir()
        if not self.port:
            self.port = free_port(self.host)

    @property
    def socket_dir(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.sock"

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
                f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "-D", str(self.data_dir),
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
        if (self.data_dir / "postmaster.pid").exists():
            run_as_server_user(
                [str(self.bindir / "pg_ctl"), "-w", "-t", "20", "-D", str(self.data_dir), "-m", mode, "stop"],
                timeout=30,
            )

    def is_running(self) -> bool:
        result = run_as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "status"], timeout=10)
        return result.returncode == 0

    def remove(self) -> None:
        """Stop the server and delete its data folder, socket folder and log."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.log_file.unlink(missing_ok=True)
