"""Evidence of a check, attached to the Allure report (when Allure is on), secrets masked.

Each check result becomes one Allure step "VAL-X: passed|FAILED - summary" holding:
* a text attachment "VAL-X evidence" (the full rendering, see ``render``);
* one sub-step per piece of evidence ("asked: <title>") with what was asked and what came back.

``attempt(title)`` is the step to wrap each polling attempt in, so on-call sees every try.

``keep(path, folder)`` keeps a copy of an evidence file that lives only as long as the sandbox (its
incident record, its drill ledger) in the run's evidence folder under ``reports/``
(``reports/evidence/<run id>/``); checks and skip reasons cite that copy, which outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

from .redaction import redact
from .results import CheckResult


def format_value(value: Any) -> str:
    """A measured value or limit as a person reads it (durations as '1 h 02 min', not seconds)."""
    if value is None:
        return "-"
    if isinstance(value, timedelta):
        return precise_duration(value)
    if isinstance(value, datetime):
        from .timeparse import isoformat

        return isoformat(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def precise_duration(delta: timedelta | float) -> str:
    """A measured value or limit to the second, as evidence and reports show it: ``1 h 02 min 05 s``,
    ``2 d 04 h 00 min``, ``4.5 s`` (a check's one-line summary uses ``timeparse.format_duration``: ``1 h 02 min``)."""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.3g} s" if seconds < 10 else f"{sign}{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{sign}{days} d {hours:02d} h {minutes:02d} min"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min {secs:02d} s"
    return f"{sign}{minutes} min {secs:02d} s"



def render(result: CheckResult) -> str:
    """Plain-text evidence: verdict, measured vs limit, offenders, each request and answer."""
    lines = [
        f"criterion: {result.criterion}",
        f"verdict:   {'passed' if result.passed else 'FAILED'}",
        f"summary:   {result.summary}",
        f"measured:  {format_value(result.measured)}",
        f"limit:     {format_value(result.limit)}",
    ]
    if result.provenance:
        lines.append(f"source:    {result.provenance}")
    if result.offenders:
        lines.append(f"offenders ({len(result.offenders)}):")
        lines += [f"  - {o}" for o in result.offenders]
    for number, item in enumerate(result.evidence, 1):
        lines += ["", f"## {number}. {item.title}", "asked:", _indent(item.asked), "answer:",
                  _indent(item.answer or "(nothing came back)")]
    return redact("\n".join(lines))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text or "").splitlines()) or "    "


def _allure():
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency, but never fail a check over a report
        return None
    return allure


def attach(result: CheckResult) -> None:
    """Attach ``result`` to the running test (a no-op without --alluredir)."""
    allure = _allure()
    if allure is None:
        return
    text = allure.attachment_type.TEXT
    verdict = "passed" if result.passed else "FAILED"
    with allure.step(redact(f"{result.criterion}: {verdict} - {result.summary}")):
        allure.attach(render(result), name=f"{result.criterion} evidence", attachment_type=text)
        if result.provenance:
            with allure.step(redact(f"evidence source: {result.provenance}")):
                pass
        for item in result.evidence:
            with allure.step(redact(f"asked: {item.title}")):
                allure.attach(redact(item.asked), name="asked", attachment_type=text)
                allure.attach(redact(item.answer or "(nothing came back)"), name="answer", attachment_type=text)


@contextlib.contextmanager
def attempt(title: str) -> Iterator[None]:
    """One polling attempt as an Allure step, e.g. ``with attempt(f"try {n}: GET /health"):``."""
    allure = _allure()
    if allure is None:
        yield
        return
    with allure.step(redact(title)):
        yield


# -- evidence files kept under reports/ -----------------------------------------------------------------

_KEPT: dict[Path, Path] = {}  # resolved source -> its kept copy (this process)


def keep(source: str | Path, folder: str | Path, *, refresh: bool = False) -> Path:
    """The copy of ``source`` in ``folder`` that evidence cites (made once per run; ``refresh``: replaced by
    the source's current content, e.g. the ledger after the run recorded its drills).

    Safe between processes (xdist workers): the first copy wins, later callers use it.
    """
    source, folder = Path(source), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / source.name
    if refresh or not dest.exists():
        tmp = folder / f".{source.name}.{os.getpid()}.tmp"
        shutil.copyfile(source, tmp)
        try:
            if refresh:
                os.replace(tmp, dest)
            else:
                try:
                    os.link(tmp, dest)  # fails if another process kept it first: theirs is the one cited
                except FileExistsError:
                    pass
                except OSError:  # no hard links on this file system
                    if not dest.exists():
                        os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    _KEPT[source.resolve()] = dest
    return dest


def kept_copy(path: str | Path) -> Path:
    """The kept copy of ``path`` if this process kept one, else ``path``."""
    path = Path(path)
    return _KEPT.get(path.resolve(), path)
