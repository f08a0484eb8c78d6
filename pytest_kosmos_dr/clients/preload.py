"""The clients' libraries (botocore, psycopg, PyYAML, httpx), imported in a background thread while
the run waits for something that is not its own CPU: a sandbox starting; then the AWS service models the
suites' clients read (``clients.aws.warm_session``). Each is imported on first use
anyway; a run that starts its sandbox then finds them loaded (~0.5 s of CPU on this machine that would
otherwise come after the sandbox is ready, when every read starts at once)."""

from __future__ import annotations

import importlib
import threading

LIBRARIES = ("botocore.session", "botocore.config", "psycopg", "yaml", "httpx")


def _import_each() -> None:
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - not installed or broken: its first real use says so, in its check
            pass
    try:  # and the AWS clients' models, read into the session the run's first clients come from
        from .aws import warm_session

        warm_session()
    except Exception:  # noqa: BLE001 - the run's own clients then read them, and say what is wrong
        pass


def preload_in_background() -> threading.Thread:
    """Start importing ``LIBRARIES`` in a daemon thread; returns it (nobody needs to wait for it)."""
    thread = threading.Thread(target=_import_each, name="kosmos-dr-preload", daemon=True)
    thread.start()
    return thread
