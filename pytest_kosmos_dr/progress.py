"""One progress line for long steps (sandbox start, restores): on a terminal it is rewritten in place
and cleared when the step ends; in CI logs and pipes it stays silent."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Iterator
from typing import TextIO


def wanted(stream: TextIO) -> bool:
    """A progress line belongs on an interactive terminal only (not in CI logs, pipes or files)."""
    if os.environ.get("CI") or os.environ.get("KOSMOS_DR_NO_PROGRESS") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressLine:
    """``with ProgressLine("starting the sandbox") as line: line.update("aws")`` shows
    ``starting the sandbox: aws (12 s)`` on stderr's terminal line; nothing at all when not wanted."""

    def __init__(self, title: str, stream: TextIO | None = None) -> None:
        self.title, self.stream = title, stream or sys.stderr
        self.enabled = wanted(self.stream)
        self.started = time.monotonic()
        self.width = 0

    def update(self, step: str = "") -> None:
        if not self.enabled:
            return
        text = f"{self.title}{': ' + step if step else ''} ({time.monotonic() - self.started:.0f} s)"
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns or 80  # a pty without a size: 0
        except (OSError, ValueError, AttributeError):
            columns = 80
        text = text[: max(columns - 1, 10)]
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def __enter__(self) -> "ProgressLine":
        self.update()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


@contextlib.contextmanager
def terminal() -> Iterator[TextIO]:
    """The controlling terminal (``/dev/tty``), for a progress line under pytest's output capture; a
    silent stream when there is none (CI, cron, a detached job)."""
    try:
        tty = open("/dev/tty", "w")  # noqa: SIM115 - closed below
    except OSError:
        yield io.StringIO()
        return
    try:
        yield tty
    finally:
        tty.close()
