"""``kosmos-dr report``: the offline HTML report from an Allure results folder.

Generator: Allure 2 (npm ``allure-commandline``, pinned in ``reporting/allure/package.json`` and its
lock file), run with ``ALLURE_NO_ANALYTICS=true``. Allure 3's "awesome" view always embeds a Google
Analytics tag, Allure 2 leaves it out with that variable (measured; the value ``1`` does not work).
The page is then checked (and, should a tag still be there, cleaned) so that it makes no
third-party request. Allure 2 needs Java (8+) to run and npm once, to install it.

History: the report's ``history/`` is kept in a folder of its own (default
``reports/allure-history``) and fed into the next report, so the trend grows run by run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..timeparse import isoformat, utcnow
from .allure_files import CATEGORIES

GENERATOR_PACKAGE = "allure-commandline"
GENERATOR_VERSION = "2.46.1"  # keep in step with reporting/allure/package.json and its lock
HOME_ENV = "KOSMOS_DR_ALLURE_HOME"
INSTALL_HINT = "kosmos-dr report --install"

# what a page must not contain: analytics and any resource loaded from another host
ANALYTICS = re.compile(
    r"<script[^>]*(?:googletagmanager\.com|google-analytics\.com)[^>]*>\s*</script>"
    r"|<script[^>]*>[^<]*(?:gtag\(|dataLayer|GoogleAnalyticsObject)[^<]*</script>",
    re.IGNORECASE,
)
EXTERNAL_RESOURCE = re.compile(
    r"""(?:<(?:script|img|iframe|link|source|video|audio|embed|object)\b[^>]*?\b(?:src|href|data)\s*=\s*["']?"""
    r"""|url\(\s*["']?|@import\s+["']?)((?:https?:)?//[^"'\s)>]+)""",
    re.IGNORECASE,
)
TRACKERS = re.compile(r"googletagmanager\.com|google-analytics\.com|gtag/js", re.IGNORECASE)


class ReportError(Exception):
    """The report could not be made; ``exit_code`` says why (see docs/reports.md)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


EXIT_FAILED, EXIT_USAGE, EXIT_MISSING_TOOL = 1, 2, 3


def generator_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "kosmos-dr" / "allure").expanduser()


def generator_bin(home: Path | None = None) -> Path:
    return (home or generator_home()) / "node_modules" / GENERATOR_PACKAGE / "dist" / "bin" / "allure"


def installed_version(home: Path | None = None) -> str | None:
    package = (home or generator_home()) / "node_modules" / GENERATOR_PACKAGE / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install(home: Path | None = None) -> Path:
    """Install the pinned generator with ``npm ci`` from the shipped lock file."""
    home = home or generator_home()
    npm = shutil.which("npm")
    if npm is None:
        raise ReportError("npm (Node.js) not found: it is needed once to install the report generator "
                          "(Debian: apt-get install -y nodejs npm)", EXIT_MISSING_TOOL)
    home.mkdir(parents=True, exist_ok=True)
    shipped = resources.files(__package__).joinpath("allure")
    for name in ("package.json", "package-lock.json"):
        (home / name).write_text(shipped.joinpath(name).read_text())
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=home,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not generator_bin(home).exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ReportError(f"npm ci of {GENERATOR_PACKAGE}@{GENERATOR_VERSION} failed in {home}: {tail[0]}")
    return generator_bin(home)


def find_java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def check_prerequisites(home: Path | None = None) -> Path:
    """The generator's path, or a ReportError naming what is missing and the command that fixes it."""
    binary = generator_bin(home)
    if not binary.exists():
        raise ReportError(f"the report generator ({GENERATOR_PACKAGE} {GENERATOR_VERSION}) is not installed: "
                          f"run `{INSTALL_HINT}` (needs npm)", EXIT_MISSING_TOOL)
    version = installed_version(home)
    if version != GENERATOR_VERSION:
        raise ReportError(f"the report generator is {GENERATOR_PACKAGE} {version}, this kosmos-dr pins "
                          f"{GENERATOR_VERSION}: run `{INSTALL_HINT}`", EXIT_MISSING_TOOL)
    if find_java() is None:
        raise ReportError("Java not found: the Allure 2 report generator needs a Java 8+ runtime "
                          "(Debian: apt-get install -y default-jre-headless, or set JAVA_HOME)", EXIT_MISSING_TOOL)
    return binary


@dataclass
class Report:
    output: Path
    single_file: Path | None
    seconds: float
    size_bytes: int
    external_references: list[str] = field(default_factory=list)
    analytics_removed: int = 0
    history_runs: int = 0


REPORTED = "kosmos-dr-reported.json"  # next to the history: which results made its newest trend point


def results_fingerprint(results: Path) -> str:
    """SHA-256 over the results' test files (names and bytes): the same results, the same fingerprint."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(results.glob("*-result.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _trend_source(history: Path, fingerprint: str) -> tuple[Path | None, bool]:
    """The history to feed the generator, and whether these results already made a trend point.

    Re-reporting the same results feeds the history as it was before their first report (kept in
    ``<history>.before-last``), so the trend gets their point once, not once per ``kosmos-dr report``."""
    before = history.with_name(history.name + ".before-last")
    try:
        last = json.loads((history.with_name(history.name + "." + REPORTED)).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        last = None
    if last == fingerprint and history.is_dir():
        return (before if before.is_dir() else None), True
    return (history if history.is_dir() else None), False


def _keep_history(history: Path, output: Path, fingerprint: str, again: bool) -> None:
    before = history.with_name(history.name + ".before-last")
    if not again:  # a new trend point: what the history was before it is kept for re-reports
        if before.exists():
            shutil.rmtree(before)
        if history.is_dir():
            shutil.copytree(history, before)
    if history.exists():
        shutil.rmtree(history)
    shutil.copytree(output / "history", history)
    history.with_name(history.name + "." + REPORTED).write_text(json.dumps({"fingerprint": fingerprint}) + "\n")


def _stage(results: Path, history: Path | None, staging: Path) -> int:
    """Copy the results (never changed in place) plus history, categories and an executor."""
    shutil.copytree(results, staging, dirs_exist_ok=True)
    runs = 0
    if history is not None and history.is_dir():
        shutil.copytree(history, staging / "history", dirs_exist_ok=True)
        try:
            runs = len(json.loads((history / "history-trend.json").read_text()))
        except (OSError, ValueError):
            runs = 0
    if not (staging / "categories.json").exists():
        (staging / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))
    executor = staging / "executor.json"
    try:  # the run writes one with the verdict as its build name; the trend needs its order
        data = json.loads(executor.read_text()) if executor.exists() else None
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        stamp = isoformat(utcnow()).replace(":", "")[:-3] + "Z"  # 2026-11-30T1003Z, short for the chart
        data = {"name": "kosmos-dr", "type": "local", "buildName": f"kosmos-dr run {runs + 1} ({stamp})"}
    data.setdefault("buildOrder", runs + 1)
    executor.write_text(json.dumps(data))
    return runs


def _generate(binary: Path, staging: Path, output: Path, name: str, single_file: bool) -> None:
    env = dict(os.environ, ALLURE_NO_ANALYTICS="true")
    java = find_java()
    if java and "JAVA_HOME" not in env:
        env["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)
    cmd = [str(binary), "generate", str(staging), "-o", str(output), "--clean", "--name", name]
    if single_file:
        cmd.append("--single-file")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not (output / "index.html").exists():
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise ReportError(f"allure generate failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}")


def make_offline(folder: Path) -> tuple[int, list[str]]:
    """Remove analytics tags from every HTML page; return (tags removed, external resources left)."""
    removed, external = 0, []
    for page in folder.rglob("*.html") if folder.is_dir() else [folder]:
        text = page.read_text(encoding="utf-8", errors="replace")
        cleaned, count = ANALYTICS.subn("", text)
        if count:
            page.write_text(cleaned, encoding="utf-8")
            removed += count
        external += [f"{page.name}: {url}" for url in EXTERNAL_RESOURCE.findall(cleaned)]
        external += [f"{page.name}: {m.group(0)}" for m in TRACKERS.finditer(cleaned)]
    return removed, external


def build(results: Path, output: Path, *, single_file: Path | None = None, history: Path | None = None,
          name: str = "KOSMOS DR verification", home: Path | None = None) -> Report:
    """Generate the report (and optionally one self-contained HTML file) from ``results``."""
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportError(f"no Allure results in {results}: run the suites with --alluredir {results}", EXIT_USAGE)
    binary = check_prerequisites(home)
    started = time.monotonic()
    fingerprint = results_fingerprint(results)
    source, again = _trend_source(history, fingerprint) if history is not None else (None, False)
    with tempfile.TemporaryDirectory(prefix="kosmos-dr-report-") as tmp:
        staging = Path(tmp) / "results"
        runs = _stage(results, source, staging)
        output.parent.mkdir(parents=True, exist_ok=True)
        _generate(binary, staging, output, name, single_file=False)
        if history is not None and (output / "history").is_dir():
            _keep_history(history, output, fingerprint, again)
        removed, external = make_offline(output)
        if single_file is not None:
            single_out = Path(tmp) / "single"
            _generate(binary, staging, single_out, name, single_file=True)
            single_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(single_out / "index.html"), single_file)
            r, e = make_offline(single_file)
            removed += r
            external += e
    size = sum(p.stat().st_size for p in output.rglob("*") if p.is_file())
    return Report(output=output, single_file=single_file, seconds=time.monotonic() - started, size_bytes=size,
                  external_references=external, analytics_removed=removed, history_runs=runs + 1)
