"""HTTP clients for the KOSMOS API, Grafana and the status page (httpx, bounded timeouts). httpx is imported
when a client is first made (it is ~25 ms of CPU that would otherwise come before the run's first read)."""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DRUnverifiable
from ..target import Timeouts

if TYPE_CHECKING:
    import httpx


_TLS_LOCK = threading.Lock()
_TLS_CONTEXTS: dict[tuple, ssl.SSLContext] = {}


def _version(verify: bool | str) -> tuple[int, int] | None:
    """(mtime, size) of a CA bundle path, so a rewritten bundle is not served from the cache."""
    if not isinstance(verify, str):
        return None
    try:
        stat = Path(verify).expanduser().stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def tls_context(verify: bool | str = True) -> ssl.SSLContext:
    """The TLS trust for ``verify`` (True: the default roots, honouring SSL_CERT_FILE/SSL_CERT_DIR as httpx
    does; a path: that CA bundle or folder; False: no verification), made once per run and shared by
    every client: loading a CA bundle costs tens of milliseconds of CPU each time. A bundle rewritten
    since (a new sandbox's CA at the same path) is loaded afresh."""
    import httpx

    key = (verify, os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""), _version(verify))
    with _TLS_LOCK:
        if key not in _TLS_CONTEXTS:
            if isinstance(verify, str):
                path = Path(verify).expanduser()
                _TLS_CONTEXTS[key] = (ssl.create_default_context(capath=str(path)) if path.is_dir()
                                      else ssl.create_default_context(cafile=str(path)))
            else:
                _TLS_CONTEXTS[key] = httpx.create_ssl_context(verify=verify)
        return _TLS_CONTEXTS[key]


def http_client(base_url: str, timeouts: Timeouts, token: str | None = None,
                verify: bool | str = True) -> httpx.Client:
    import httpx

    headers = {"User-Agent": "pytest-kosmos-dr"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(timeouts.read.total_seconds(), connect=timeouts.connect.total_seconds()),
        follow_redirects=False,
        # one retry on connection errors only; the transport carries the TLS trust (a client's own
        # ``verify`` is ignored when it is given a transport)
        transport=httpx.HTTPTransport(verify=tls_context(verify), retries=1),
    )


def as_curl(client: httpx.Client, path: str, *, method: str | None = None, token_env: str | None = None,
            body: dict | None = None, flags: str = "-sS", quoted: bool = True) -> str:
    """An HTTP request as evidence shows it: the request line, then the curl a person would type.
    ``method``: written as ``-X`` (else a GET); ``token_env``: the variable holding the bearer token;
    ``body``: sent as JSON."""
    url = f"{client.base_url}{path}"
    line = f"{method or 'GET'} {url}" + (f" {json.dumps(body)}" if body is not None else "")
    options = [flags]
    if method:
        options.append(f"-X {method}")
    if token_env:
        options.append(f'-H "Authorization: Bearer ${token_env}"')
    if body is not None:
        options.append(f"-H 'Content-Type: application/json' -d '{json.dumps(body)}'")
    options.append(f"'{url}'" if quoted else url)
    return f"{line}\n(shell: curl {' '.join(options)})"


def is_cannot_look(exc: httpx.HTTPError) -> bool:
    """True when the error is about *our* access (DNS name, TLS trust), not the service being down."""
    import httpx

    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectError):
        cause = exc.__cause__ or exc.__context__
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return True
            cause = cause.__cause__ or cause.__context__
        return any(s in text for s in ("name or service not known", "nodename nor servname",
                                       "temporary failure in name resolution", "certificate verify failed",
                                       "no address associated"))
    return False


def describe_error(exc: httpx.HTTPError) -> str:
    """A one-line reason for an HTTP failure, without URLs' credentials."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within the timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc) or "connection failed"
        if "refused" in text.lower():
            return "connection refused"
        return text.splitlines()[0]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


TRANSIENT_STATUS = {429, 502, 503, 504}
RETRY_BACKOFF_S = (0.25, 0.75)  # idempotent GETs: three tries in all


def get(client: httpx.Client, path: str, what: str, attempts: list[str] | None = None) -> httpx.Response | str:
    """GET ``path``; returns the response, or a one-line reason when the service did not answer.

    Transient answers (429, 502-504, connection reset or refused, timeouts) are retried with
    backoff; each try is appended to ``attempts`` for the evidence. Raises DRUnverifiable when we
    could not look (DNS, TLS trust, rejected credentials).
    """
    import httpx

    attempts = attempts if attempts is not None else []
    for number, pause in enumerate((*RETRY_BACKOFF_S, None), start=1):
        started = time.monotonic()
        try:
            response = client.get(path)
        except httpx.HTTPError as exc:
            if is_cannot_look(exc):
                raise DRUnverifiable(what, describe_error(exc), "check the URL, DNS and CA bundle of the target") from None
            outcome: httpx.Response | str = describe_error(exc)
            attempts.append(f"try {number}: {outcome} after {(time.monotonic() - started) * 1000:.0f} ms")
        else:
            outcome = response
            attempts.append(f"try {number}: HTTP {response.status_code} in {(time.monotonic() - started) * 1000:.0f} ms")
            if response.status_code not in TRANSIENT_STATUS:
                break
        if pause is None:
            break
        time.sleep(pause)
    if isinstance(outcome, str):
        return outcome
    response = outcome
    if response.status_code in (401, 403):
        raise DRUnverifiable(
            what, f"HTTP {response.status_code}: credentials rejected", "check the token environment variable"
        )
    return response
