"""Keep secrets out of every output: a process-wide set of known secret values and a scrubber.

Fixtures register every credential they read (passwords, tokens, AWS keys); anything written to
the terminal, JUnit, Allure or the scorecard passes through ``redact`` first. DSN passwords and
bearer tokens are also masked by pattern, in case a value was never registered.
"""

from __future__ import annotations

import re

MASK = "***"
_known: set[str] = set()
_PATTERNS = (
    re.compile(r"(?i)(password\s*=\s*)('[^']*'|\S+)"),
    re.compile(r"(?i)(postgres(?:ql)?://[^:/\s]+:)([^@\s]+)(@)"),
    re.compile(r"(?i)(authorization:\s*bearer\s+)(\S+)"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"(?i)(aws_secret_access_key\s*[=:]\s*)(\S+)"),
)


def register_secret(value: str | None) -> None:
    """Remember a value that must never be shown (short values are ignored: too many false hits)."""
    if value and len(value) >= 6:
        _known.add(str(value))


def known_secrets() -> frozenset[str]:
    return frozenset(_known)


def redact(text: str) -> str:
    """``text`` with every known secret and secret-looking pattern masked."""
    if not text:
        return text
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK + (m.group(3) if m.lastindex and m.lastindex >= 3 else ""), text)
    return text
