"""Agent-state archive keys: ``backups.agent_state_key`` under ``backups.agent_state_prefix``.

The pattern's placeholders are ``{agent}`` (the agent's ``archive_name``, else its name), ``{date}``
(``YYYYMMDD``, UTC) and ``{timestamp}`` (``YYYYMMDDTHHMMSSZ``). ``ArchiveKeys`` turns the pattern into a
matcher (key -> archive name and the time the key names, or None for a key that is no archive) and
formats keys; ``ArchiveLayout`` adds the target's agents and expected archive members.

The plan's default is flat, ``agent-state/zeus-state-20251213.tar.gz``: one key a day, each backup of the
day a new S3 version of it. ``{agent}/{agent}-state-{timestamp}.tar.gz`` is the per-agent folder layout.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property, lru_cache
from typing import Iterable, NamedTuple

PLACEHOLDERS = ("agent", "date", "timestamp")
DATE_FORMAT, TIMESTAMP_FORMAT = "%Y%m%d", "%Y%m%dT%H%M%SZ"
_REGEX = {"date": r"\d{8}", "timestamp": r"\d{8}T\d{6}Z"}
# how far a key's time may be from the version's LastModified beyond the period the key names (a
# {date} key names a whole UTC day): a job names its archive when it starts and uploads later
KEY_TIME_SLACK = timedelta(days=1)


@lru_cache(maxsize=65536)
def _named_time(digits: str) -> datetime:
    """The UTC time a key's ``{date}`` (``YYYYMMDD``) or ``{timestamp}`` (``YYYYMMDDTHHMMSSZ``) names, as
    ``strptime`` with ``DATE_FORMAT``/``TIMESTAMP_FORMAT`` reads it (ValueError for a date that is none);
    the pattern's regular expression has already checked the digits. Worked out once per value: tens of
    thousands of keys at scale, where ``strptime`` cost 0.3 s."""
    clock = digits[9:15] if len(digits) > 8 else "000000"
    return datetime(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]), int(clock[0:2]), int(clock[2:4]),
                    int(clock[4:6]), tzinfo=timezone.utc)


class KeyMatch(NamedTuple):
    archive: str  # the {agent} value
    at: datetime | None  # the time the key names (a {date}: midnight UTC), None when it names none
    period: timedelta  # how long a span the key's time covers (a {date}: 1 d; a {timestamp}: 0)


@dataclass(frozen=True)
class ArchiveKeys:
    """A compiled ``agent_state_key`` pattern under ``prefix``."""

    prefix: str
    pattern: str

    def __post_init__(self) -> None:
        self._parts  # noqa: B018 - a broken pattern fails here, not at the first key

    @cached_property
    def _parts(self) -> list[tuple[str, str | None]]:
        try:
            parsed = list(string.Formatter().parse(self.pattern))
        except ValueError as exc:
            raise ValueError(f"archive key pattern {self.pattern!r}: {exc}") from None
        parts = []
        for literal, name, spec, conversion in parsed:
            if name is not None and (name not in PLACEHOLDERS or spec or conversion):
                raise ValueError(f"archive key pattern {self.pattern!r}: unknown placeholder {{{name}}} "
                                 f"(expected {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
            parts.append((literal, name))
        if not any(name == "agent" for _, name in parts):
            raise ValueError(f"archive key pattern {self.pattern!r}: no {{agent}}: it cannot tell whose state a key holds")
        return parts

    def _regex(self, archive: str | None) -> re.Pattern:
        seen: set[str] = set()
        out = [re.escape(self.prefix)]
        for literal, name in self._parts:
            out.append(re.escape(literal))
            if name is None:
                continue
            if name in seen:
                out.append(f"(?P={name})")
                continue
            seen.add(name)
            if name == "agent":
                body = re.escape(archive) if archive is not None else r"[^/]+?"
            else:
                body = _REGEX[name]
            out.append(f"(?P<{name}>{body})")
        return re.compile("".join(out))

    @cached_property
    def _any(self) -> re.Pattern:
        return self._regex(None)

    @cached_property
    def _per_archive(self) -> dict[str, re.Pattern]:
        """Each archive name's compiled pattern, built once (keys are matched by the ten thousand at scale)."""
        return {}

    def match(self, key: object, archive: str | None = None) -> KeyMatch | None:
        """What ``key`` is: an archive (its ``{agent}`` value, the time it names) or None (no archive:
        another file, another layout, a date that is no date). With ``archive``, only that archive's keys."""
        if not isinstance(key, str) or not key:
            return None
        if archive is None:
            regex = self._any
        else:
            regex = self._per_archive.get(archive)
            if regex is None:
                regex = self._per_archive[archive] = self._regex(archive)
        found = regex.fullmatch(key)
        if not found:
            return None
        groups = found.groupdict()
        if not groups.get("agent"):
            return None
        at, period = None, timedelta(0)
        try:
            if groups.get("timestamp"):
                at = _named_time(groups["timestamp"])
            if groups.get("date"):
                day = _named_time(groups["date"])
                if at is not None and at.date() != day.date():
                    return None  # the key's date and timestamp disagree: not a key the pattern writes
                if at is None:
                    at, period = day, timedelta(days=1)
        except ValueError:
            return None  # 20251340: not a date
        return KeyMatch(groups["agent"], at, period)

    def format(self, archive: str, at: datetime) -> str:
        """The full key of ``archive`` written at ``at`` (an aware datetime, taken as UTC)."""
        at = at.astimezone(timezone.utc)
        return self.prefix + self.pattern.format(agent=archive, date=at.strftime(DATE_FORMAT),
                                                 timestamp=at.strftime(TIMESTAMP_FORMAT))

    def shown(self, archive: str) -> str:
        """The archive's keys for a message: the prefix and pattern with ``{agent}`` filled in."""
        return self.prefix + self.pattern.replace("{agent}", archive)

    def disagreement(self, found: KeyMatch, last_modified: datetime) -> timedelta | None:
        """How far ``last_modified`` lies outside the period the key names, beyond ``KEY_TIME_SLACK``;
        None when it lies within (or the key names no time)."""
        if found.at is None or last_modified is None:
            return None
        if last_modified < found.at - KEY_TIME_SLACK:
            return found.at - last_modified
        if last_modified > found.at + found.period + KEY_TIME_SLACK:
            return last_modified - found.at
        return None


@dataclass(frozen=True)
class ArchiveLayout:
    """Where and how the agents' archives are written: key pattern, archive names, expected members."""

    keys: ArchiveKeys
    members: tuple[str, ...] = ()  # files every archive must hold, relative to its state folder
    archive_names: tuple[tuple[str, str], ...] = field(default=())  # (agent, {agent} value) where they differ

    @classmethod
    def of(cls, backups, agents: Iterable = ()) -> "ArchiveLayout":
        """From a Target's ``BackupSettings`` and ``Agent``s."""
        names = tuple((a.name, a.archive) for a in agents if getattr(a, "archive", a.name) != a.name)
        return cls(ArchiveKeys(backups.agent_state_prefix, backups.agent_state_key),
                   tuple(backups.agent_state_members), names)

    @classmethod
    def default(cls, prefix: str | None = None) -> "ArchiveLayout":
        """The targets file's documented defaults (under ``prefix`` when given)."""
        from .target import BackupSettings

        backups = BackupSettings()
        return cls(ArchiveKeys(backups.agent_state_prefix if prefix is None else prefix, backups.agent_state_key),
                   tuple(backups.agent_state_members))

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    def archive(self, agent: str) -> str:
        """The agent's ``{agent}`` value."""
        return dict(self.archive_names).get(agent, agent)

    def agent_of(self, archive: str) -> str:
        """The agent an ``{agent}`` value stands for (itself when no listed agent uses it)."""
        return next((agent for agent, name in self.archive_names if name == archive), archive)

    def match(self, key: object, agent: str | None = None) -> KeyMatch | None:
        return self.keys.match(key, None if agent is None else self.archive(agent))

    def key(self, agent: str, at: datetime) -> str:
        return self.keys.format(self.archive(agent), at)

    def shown(self, agent: str) -> str:
        return self.keys.shown(self.archive(agent))
