"""``kosmos-dr doctor``: is this machine ready for the sandbox, the cluster checks and the report?

Each prerequisite is looked at for real (a binary run for its version, a port bound, a path
measured) and, when missing, comes with the one command that fixes it. Exit 0 when everything
required is there, 1 otherwise; optional parts (the report's browser check, the aws CLI) only warn.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 10
SOCKET_PATH_MAX = 107  # bytes in a Unix socket path
SOCKET_TAIL = len("/kdr-xxxxxxxx/pg-xxxxxxxx/.s.PGSQL.65535")  # what the sandbox appends to TMPDIR
KUBECTL_MIN = (1, 26)


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def mark(self) -> str:
        return "ok" if self.ok else ("MISSING" if self.required else "warn")


def _run(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout or done.stderr).strip() if done.returncode == 0 else None


def _apt(package: str) -> str:
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {package}"


def postgres_binaries() -> Finding:
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    override = os.environ.get("KOSMOS_DR_PG_BINDIR")
    for folder in ([override] if override else []) + folders + [str(Path(shutil.which("initdb") or "x").parent)]:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            version = _run([str(Path(folder) / "pg_ctl"), "--version"]) or "version unknown"
            return Finding("PostgreSQL server (initdb, pg_ctl)", True, f"{folder}: {version}")
    return Finding("PostgreSQL server (initdb, pg_ctl)", False, "not found", _apt("postgresql"))


def postgres_user() -> Finding:
    if os.geteuid() != 0:
        return Finding("PostgreSQL OS user", True, "not needed: not running as root")
    import pwd

    try:
        pwd.getpwnam("postgres")
        return Finding("PostgreSQL OS user", True, "'postgres' exists (servers run as it when we are root)")
    except KeyError:
        return Finding("PostgreSQL OS user", False, "root cannot run PostgreSQL and no 'postgres' user exists",
                       "useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres")


def kubectl() -> Finding:
    path = shutil.which("kubectl")
    fix = ("curl -LO https://dl.k8s.io/release/v1.32.0/bin/linux/amd64/kubectl && "
           "install -m 0755 kubectl /usr/local/bin/kubectl")
    if not path:
        return Finding("kubectl", False, "not on PATH (the configuration checks run kubectl kustomize/diff)", fix)
    out = _run([path, "version", "--client", "-o", "json"]) or ""
    match = re.search(r'"gitVersion":\s*"v(\d+)\.(\d+)', out)
    if not match:
        return Finding("kubectl", False, f"{path}: could not read its version", fix)
    version = (int(match.group(1)), int(match.group(2)))
    if version < KUBECTL_MIN:
        return Finding("kubectl", False, f"{path}: v{version[0]}.{version[1]}, need v{KUBECTL_MIN[0]}.{KUBECTL_MIN[1]}+",
                       fix)
    return Finding("kubectl", True, f"{path}: v{version[0]}.{version[1]}")


def binary(name: str, what: str, package: str, required: bool = True, version_args: tuple[str, ...] = ("--version",)) -> Finding:
    path = shutil.which(name)
    if not path:
        return Finding(name, False, f"not on PATH ({what})", _apt(package), required)
    version = (_run([path, *version_args]) or "").splitlines()
    return Finding(name, True, f"{path}" + (f": {version[0][:60]}" if version else ""), required=required)


def report_generator() -> Finding:
    from .reporting.html_report import GENERATOR_PACKAGE, generator_home

    home = generator_home()
    found = list(home.glob("node_modules/.bin/allure")) if home.is_dir() else []
    if found:
        return Finding("report generator", True, f"{GENERATOR_PACKAGE} in {home}")
    return Finding("report generator", False, f"{GENERATOR_PACKAGE} not installed in {home}",
                   "kosmos-dr report --install")


def loopback_ports() -> Finding:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return Finding("loopback ports", True, f"127.0.0.1 gives free ports (e.g. {port})")
    except OSError as exc:
        return Finding("loopback ports", False, f"cannot bind 127.0.0.1: {exc.strerror}",
                       "ip link set lo up")


def socket_paths() -> Finding:
    base = tempfile.gettempdir()
    length = len(os.fsencode(base)) + SOCKET_TAIL
    if length <= SOCKET_PATH_MAX:
        return Finding("socket path length", True, f"TMPDIR {base}: {length} of {SOCKET_PATH_MAX} bytes")
    if os.access("/tmp", os.W_OK):
        return Finding("socket path length", True, f"TMPDIR {base} is too long ({length} bytes); the sandbox "
                       "falls back to /tmp", required=False)
    return Finding("socket path length", False, f"TMPDIR {base}: {length} bytes, over {SOCKET_PATH_MAX}",
                   "export TMPDIR=/tmp")


def findings() -> list[Finding]:
    return [
        postgres_binaries(),
        postgres_user(),
        binary("psql", "the plan's database checks, and poking the sandbox", "postgresql-client"),
        kubectl(),
        binary("git", "the configuration repository", "git"),
        binary("unshare", "confines pod exec in the sandbox when root", "util-linux", required=os.geteuid() == 0),
        binary("java", "runs the Allure 2 report generator", "default-jre-headless", version_args=("-version",)),
        binary("npm", "installs the report generator", "nodejs npm"),
        report_generator(),
        binary("chromium", "the report test looks at the page in a headless browser", "chromium", required=False),
        binary("aws", "poking the sandbox with the aws CLI", "awscli", required=False),
        loopback_ports(),
        socket_paths(),
    ]


def doctor_command() -> int:
    rows = findings()
    width = max(len(f.name) for f in rows)
    for f in rows:
        print(f"{f.mark:<7} {f.name:<{width}}  {f.detail}")
    fixes = [f for f in rows if not f.ok]
    if fixes:
        print("\nto fix:")
        for f in fixes:
            print(f"  {f.fix}    # {f.name}{'' if f.required else ' (optional)'}")
    missing = [f for f in rows if not f.ok and f.required]
    print(f"\n{'ready' if not missing else f'{len(missing)} required prerequisite(s) missing'}")
    return 1 if missing else 0
