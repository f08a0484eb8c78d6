"""Git, run the way the user runs it: their credential helper, SSH agent, HOME, ``GIT_*`` and ``SSH_*``
variables pass through unchanged. What we add keeps a run unattended and bounded:

* ``GIT_TERMINAL_PROMPT=0`` (and ``GCM_INTERACTIVE=never``, ``SSH_ASKPASS_REQUIRE=never`` unless the
  user set them): git, Git Credential Manager and ssh never ask for anything;
* a new session with no stdin: there is no terminal to prompt on;
* a timeout, after which the whole process group (git, ssh, credential helpers) is killed.

A token named by ``config_repo.token_env`` reaches git as an HTTP ``Authorization`` header through the
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` environment (git >= 2.31), scoped to the
repository's host: never on a command line, and registered for redaction so no output can show it.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import DRUnverifiable
from ..prefetch import environ_snapshot
from ..redaction import redact, register_secret

GIT_TIMEOUT_S = 60
TOKEN_USER = "x-access-token"  # the user name Git hosts accept with a token (GitHub; GitLab ignores it)
# set only when the user has not chosen otherwise: nothing may wait for an answer from a person
NON_INTERACTIVE = {"GCM_INTERACTIVE": "never", "SSH_ASKPASS_REQUIRE": "never"}


def git_path() -> str:
    found = shutil.which("git")
    if not found:
        raise DRUnverifiable("git command", "not found on PATH", "install git")
    return found


def _token_user(url: str) -> str:
    """The user name in ``url`` (``https://deploy@host/...``), else ``TOKEN_USER``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return TOKEN_USER
    return parts.username or TOKEN_USER


def _http_scope(url: str) -> str | None:
    """``https://host[:port]/``: where the token may be sent (None for SSH and local URLs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{host}/"


def git_environment(url: str = "", token_env: str = "", base: dict[str, str] | None = None) -> dict[str, str]:
    """The user's environment for git (``base``, default ``os.environ``), made non-interactive, with the
    token from ``$token_env`` (when named) as an ``Authorization`` header for ``url``'s host."""
    env = environ_snapshot() if base is None else dict(base)  # safe in a read-pool thread
    env["GIT_TERMINAL_PROMPT"] = "0"
    for key, value in NON_INTERACTIVE.items():
        env.setdefault(key, value)
    if token_env:
        token = env.get(token_env, "")
        if not token:
            raise DRUnverifiable("configuration repository", f"config_repo.token_env names ${token_env}, which is "
                                 "not set or empty", f"export {token_env} or clear config_repo.token_env")
        scope = _http_scope(url)
        if scope is None:
            raise DRUnverifiable("configuration repository", f"a token (${token_env}) is configured, but the URL is "
                                 "not http(s)", "use the https URL, or the SSH agent without config_repo.token_env")
        register_secret(token)
        basic = base64.b64encode(f"{_token_user(url)}:{token}".encode()).decode()
        register_secret(basic)
        try:
            index = int(env.get("GIT_CONFIG_COUNT") or 0)
        except ValueError:
            index = 0
        env[f"GIT_CONFIG_KEY_{index}"] = f"http.{scope}.extraHeader"
        env[f"GIT_CONFIG_VALUE_{index}"] = f"Authorization: Basic {basic}"
        env["GIT_CONFIG_COUNT"] = str(index + 1)
    return env


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str  # redacted

    @property
    def last_error(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"git exited {self.returncode}"


def run_git(args: list[str], *, env: dict[str, str] | None = None, timeout: float | None = None,
            what: str = "git") -> GitResult:
    """``git <args>`` in its own session, bounded by ``timeout`` (default ``GIT_TIMEOUT_S``; DRUnverifiable past it)."""
    timeout = GIT_TIMEOUT_S if timeout is None else timeout
    process = subprocess.Popen([git_path(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env if env is not None else git_environment(),
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        process.communicate()
        raise DRUnverifiable(what, f"git {args[0]} took over {timeout:.0f} s") from None
    return GitResult(process.returncode, out, redact(err))
