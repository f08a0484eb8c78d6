"""Secrets never reach the Allure results folder.

Two layers:
* ``AllureRedactor``, an allure-commons plugin: redacts every result and container object before
  allure's file logger writes it (``tryfirst``), and rewrites each attachment right after it was
  written (``trylast``) when it held a secret. Runs in every process (xdist workers included),
  each with the secrets that process registered.
* ``scrub_folder``: a last pass over the whole folder at the end of the run (controller), for
  files written by other means (JSON is parsed and re-written, never cut by a pattern).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import allure_commons

from ..redaction import redact_bytes, redact_deep

TEXT_SUFFIXES = {".json", ".txt", ".log", ".properties", ".xml", ".html", ".csv", ".yaml", ".yml", ".svg", ".uri"}


class AllureRedactor:
    def __init__(self, results_dir: str | os.PathLike) -> None:
        self.results_dir = Path(results_dir).absolute()

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result):
        redact_deep(result)

    @allure_commons.hookimpl(tryfirst=True)
    def report_container(self, container):
        redact_deep(container)

    @allure_commons.hookimpl(trylast=True)
    def report_attached_data(self, body, file_name):
        data = body.encode("utf-8") if isinstance(body, str) else body
        cleaned = redact_bytes(data)
        if cleaned is not data and cleaned != data:
            _replace(self.results_dir / file_name, cleaned)

    @allure_commons.hookimpl(trylast=True)
    def report_attached_file(self, source, file_name):
        _scrub_file(self.results_dir / file_name)


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".redacting")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _scrub_file(path: Path) -> bool:
    """Redact one file in place; True when it changed."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if path.suffix == ".json":
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        if parsed is not None:
            cleaned = redact_deep(parsed)
            if json.dumps(cleaned, ensure_ascii=False) != json.dumps(json.loads(data), ensure_ascii=False):
                _replace(path, json.dumps(cleaned, ensure_ascii=False).encode("utf-8"))
                return True
            return False
    cleaned_bytes = redact_bytes(data)
    if cleaned_bytes != data:
        _replace(path, cleaned_bytes)
        return True
    return False


def scrub_folder(folder: str | os.PathLike) -> list[Path]:
    """Redact every text file under ``folder``; returns the files that changed."""
    changed = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or "attachment" in path.name):
            if _scrub_file(path):
                changed.append(path)
    return changed


def register(results_dir: str | os.PathLike) -> AllureRedactor:
    redactor = AllureRedactor(results_dir)
    allure_commons.plugin_manager.register(redactor)
    return redactor


def unregister(redactor: AllureRedactor) -> None:
    if allure_commons.plugin_manager.is_registered(redactor):
        allure_commons.plugin_manager.unregister(redactor)
