"""The two ways a DR check can go wrong, kept apart everywhere.

* ``DRCheckFailed`` (an AssertionError): we looked, and the DR environment is wrong -> *failed*.
* ``DRUnverifiable`` (not an AssertionError): we could not look (unreachable, credentials,
  timeout, missing evidence) -> *broken* / "could not verify".

``DRConfigError`` is bad input (config file, options): one line, usage-error exit code.
"""

from __future__ import annotations


class DRConfigError(Exception):
    """Configuration or option error; its message is one line naming the file, key and fix."""


class DRCheckFailed(AssertionError):
    """The DR environment does not meet a criterion."""


class DRUnverifiable(Exception):
    """A criterion could not be checked (no route, bad credentials, timeout, no evidence)."""

    def __init__(self, what: str, reason: str, hint: str = "") -> None:
        self.what = what
        self.reason = reason
        self.hint = hint
        text = f"could not verify: {what}: {reason}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)

    @classmethod
    def from_message(cls, text: str) -> "DRUnverifiable":
        """Rebuild one from its message (e.g. read back from another xdist worker)."""
        error = cls("", "")
        error.args = (text,)
        error.what, error.reason = "", text
        return error

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


class RegionDown(DRUnverifiable):
    """The lost region answered the way a regional outage looks (connection refused or reset, timeout,
    5xx/ServiceUnavailable). A criterion whose fact lives only there is *not verifiable while the
    region is down*: reported as not verified with that reason, never passed, never broken, and it
    does not block OBJ-RTO. Rejected credentials are never an outage (those stay broken)."""

    PREFIX = "not verifiable while"

    def __init__(self, region: str, what: str, reason: str) -> None:
        super().__init__(what, reason)
        self.region = region
        self.args = (f"{self.PREFIX} {region} is down: {what}: {reason}",)


class SandboxError(Exception):
    """The local DR environment could not be started, found or stopped."""
