"""Keep secrets out of every output: a process-wide set of known secret values and a scrubber.

Fixtures register every credential they read (passwords, tokens, AWS keys); anything written to
the terminal, JUnit, Allure or the scorecard passes through ``redact`` first. DSN passwords, bearer
tokens, AWS keys and kubeconfig credentials are also masked by pattern, in case a value was never
registered.

Helpers for the places pytest and allure-pytest write to:

* ``redact_deep(obj)``: every string inside dicts, lists, tuples and plain objects (allure result
  objects, pytest's longrepr objects) redacted in place (returns the new value for strings).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_known: set[str] = set()

# Each pattern: group 1 is kept (the key), group 2 is the secret, group 3 (optional) is kept. With it, the
# lowercase literals one of which any match contains: a text (ASCII) holding none of them is not searched
# with that pattern (the evidence of 2,000 pods or 20,000 archives: most patterns, most texts).
_PATTERNS = (
    # libpq keyword DSN and "password = x" in config/INI text
    (re.compile(r"(?i)(\bpassword\s*=\s*)(?!Secret\(')('[^']*'|\"[^\"]*\"|[^\s&;,]+)"), ("password",)),
    # userinfo in any URL: scheme://user:password@host keeps the user, scheme://TOKEN@host (a token
    # as the user name, as Git hosts hand out) is masked whole
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/?#\s@]+:)([^@\s/]+)(@)"), ("://",)),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)([^:/?#\s@]+)(@)"), ("://",)),
    (re.compile(r"(?i)(authorization:\s*(?:bearer|basic|token)\s+)(\S+)"), ("authorization",)),
    (re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})"), ("bearer",)),
    # AWS: named keys in env/ini/CLI text, and access key IDs wherever they appear
    (re.compile(r"(?i)(\baws_(?:secret_access_key|session_token|access_key_id)\b[\"']?\s*[=:]\s*[\"']?)(?!Secret\(')([^\s\"',]+)"),
     ("aws_",)),
    (re.compile(r"(?i)(\b(?:secret_access_key|SecretAccessKey|SessionToken)[\"']?\s*[=:]\s*[\"']?)(?!Secret\(')([^\s\"',]+)"),
     ("secret_access_key", "secretaccesskey", "sessiontoken")),
    (re.compile(r"()(\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b)"), ("akia", "asia", "aroa", "aida")),
    (re.compile(r"(?i)([?&](?:X-Amz-Signature|X-Amz-Security-Token|X-Amz-Credential|access_token|api_key|apikey|token)=)([^&\s\"']+)"),
     ("x-amz-", "token=", "api_key=", "apikey=")),
    # kubeconfig / YAML credentials (one per line)
    (re.compile(r"(?im)(^\s*-?\s*(?:token|password|client-key-data|client-certificate-data|id-token|"
                r"refresh-token|access-token|secret)\s*:\s*)(\S+)"),
     ("token", "password", "client-key-data", "client-certificate-data", "secret")),
)


class Secret(str):
    """A credential: the value itself for the code that uses it (``str``, f-strings, ``==``), but
    ``Secret('***')`` for ``repr`` - and so for every dataclass, dict or list that holds it, as
    ``--debug`` (pytestdebug.log), tracebacks with locals and assertion rewriting print them.
    Creating one registers the value for redaction."""

    __slots__ = ()

    def __new__(cls, value: str) -> "Secret":
        secret = super().__new__(cls, value)
        register_secret(secret)
        return secret

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __reduce__(self):
        return (Secret, (str.__str__(self),))


_URL_USERINFO = re.compile(r"(?i)[a-z][a-z0-9+.-]*://([^/?#\s@]*)@")


class SecretUrl(str):
    """A URL that may carry credentials (``https://TOKEN@host/repo.git``): the full URL for the code
    that uses it, the redacted URL for ``repr``. Its userinfo is registered for redaction."""

    __slots__ = ()

    def __new__(cls, value: str) -> "SecretUrl":
        url = super().__new__(cls, value)
        match = _URL_USERINFO.match(value)
        if match:
            user, _, password = match.group(1).partition(":")
            register_secret(password or user)
        return url

    def __repr__(self) -> str:
        return repr(redact(str.__str__(self)))

    def __reduce__(self):
        return (SecretUrl, (str.__str__(self),))


def secret(value: str | None) -> Secret | None:
    """``value`` as a ``Secret`` (None and empty stay None)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, Secret) else Secret(str(value))


SECRET_KEYS = ("password", "token", "secret_access_key", "access_key_id", "session_token", "api_token",
               "grafana_token")


def hide_secrets(state: Any) -> Any:
    """Replace, in place, every value under a secret-named key of ``state`` (nested dicts and lists,
    e.g. the sandbox's ``sandbox.json``) with a ``Secret``, and every URL with credentials in it with a
    ``SecretUrl``; returns ``state``."""
    if isinstance(state, dict):
        for key, value in state.items():
            if isinstance(value, str) and value and str(key).lower() in SECRET_KEYS:
                state[key] = secret(value)
            elif isinstance(value, str) and not isinstance(value, SecretUrl) and _URL_USERINFO.match(value):
                state[key] = SecretUrl(value)
            else:
                hide_secrets(value)
    elif isinstance(state, list):
        for i, value in enumerate(state):
            if isinstance(value, str) and not isinstance(value, SecretUrl) and _URL_USERINFO.match(value):
                state[i] = SecretUrl(value)
            else:
                hide_secrets(value)
    return state


def register_secret(value: str | None) -> None:
    """Remember a value that must never be shown (short values are ignored: too many false hits)."""
    if value and len(str(value)) >= 6:
        _known.add(str.__str__(value) if isinstance(value, str) else str(value))



def _mask(match: re.Match) -> str:
    suffix = match.group(3) if match.re.groups >= 3 and match.group(3) else ""
    return match.group(1) + MASK + suffix


def redact(text: str) -> str:
    """``text`` with every known secret and secret-looking pattern masked."""
    if not text or not isinstance(text, str):
        return text
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    # Literals are checked on ASCII text only: with IGNORECASE a pattern also matches a few non-ASCII
    # letters (the Kelvin sign for k, the long s for s) that lowercasing does not turn into ASCII. The text
    # is lowercased once: a mask puts "***" where a secret was, so it never makes a literal the check missed.
    lowered = text.lower() if text.isascii() else None
    for pattern, literals in _PATTERNS:
        if lowered is None or any(literal in lowered for literal in literals):
            text = pattern.sub(_mask, text)
    return text


def redact_bytes(data: bytes) -> bytes:
    """``data`` redacted when it is UTF-8 text; binary data (pictures) is returned unchanged."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    cleaned = redact(text)
    return data if cleaned == text else cleaned.encode("utf-8")


def redact_deep(obj: Any, _seen: set[int] | None = None) -> Any:
    """Redact every string inside ``obj`` (containers and plain objects changed in place)."""
    if isinstance(obj, str):
        return redact(obj)
    if obj is None or isinstance(obj, (bytes, int, float, bool)):
        return obj
    seen = _seen if _seen is not None else set()
    if id(obj) in seen:
        return obj
    seen.add(id(obj))
    if isinstance(obj, list):
        for i, value in enumerate(obj):
            obj[i] = redact_deep(value, seen)
        return obj
    if isinstance(obj, tuple):
        cleaned = tuple(redact_deep(v, seen) for v in obj)
        return type(obj)(*cleaned) if hasattr(obj, "_fields") else cleaned
    if isinstance(obj, dict):
        for key, value in list(obj.items()):
            obj[key] = redact_deep(value, seen)
        return obj
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        for key, value in list(attrs.items()):
            if isinstance(value, (str, list, tuple, dict)) or hasattr(value, "__dict__"):
                try:
                    setattr(obj, key, redact_deep(value, seen))
                except (AttributeError, TypeError):  # frozen objects: leave them
                    pass
    return obj


def redact_debug_log(config: Any) -> None:
    """``--debug``: every line pytest writes to pytestdebug.log (hook arguments and results, e.g. an
    exception's message in a ``CallInfo``) passes through ``redact``. Call from ``pytest_configure``."""
    root = getattr(getattr(config, "trace", None), "root", None)
    writer = getattr(root, "_writer", None)
    if writer is None or getattr(writer, "kosmos_redacting", False):
        return

    def redacting(text: str) -> None:
        writer(redact(text))

    redacting.kosmos_redacting = True  # type: ignore[attr-defined]
    root.setwriter(redacting)
