"""``kosmos-dr bundle``: one .tar.gz for auditors with the results, scorecard, pictures, drill
ledger(s), the evidence files the run cited (reports/evidence/<run id>/) and report, and
``MANIFEST.sha256`` (``sha256sum -c MANIFEST.sha256`` checks it)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "MANIFEST.sha256"


@dataclass
class Bundle:
    path: Path
    files: int
    sha256: str  # of the archive itself
    missing: list[str]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cited_ledgers(scorecards: list[Path]) -> list[Path]:
    """The drill ledgers the scorecards name (``evidence.ledger``: the one each target's run read and
    recorded to, e.g. a sandbox run's copy under reports/evidence/<run id>/, or a --dr-ledger file)."""
    import json

    found = []
    for card in scorecards:
        try:
            data = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        raw = ((data.get("evidence") or {}) if isinstance(data, dict) else {}).get("ledger")
        if isinstance(raw, str) and raw and Path(raw) not in found:
            found.append(Path(raw))
    return found


def collect(reports: Path, results: Path, scorecard: Path, report: Path, single_file: Path,
            ledger: Path | None) -> tuple[list[tuple[Path, str]], list[str]]:
    """(file, name in the archive) for everything that exists, and what was missing.

    ``ledger`` None: the default ledger (reports/drill-ledger.jsonl) and every ledger a scorecard names;
    the run evidence folder (reports/evidence/: the files evidence cites) always goes in whole.
    """
    entries: list[tuple[Path, str]] = []
    missing: list[str] = []
    names: set[str] = set()

    def add(path: Path, name: str) -> None:
        if name not in names and path.is_file():
            names.add(name)
            entries.append((path, name))

    def add_tree(folder: Path, prefix: str) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):
                add(path, f"{prefix}/{path.relative_to(folder).as_posix()}")

    def named(path: Path, outside: str) -> str:
        try:
            return path.resolve().relative_to(reports.resolve()).as_posix()
        except ValueError:
            return f"{outside}/{path.name}"

    if results.is_dir():
        add_tree(results, "allure-results")
    else:
        missing.append(f"results ({results})")
    scorecards = [scorecard] + sorted(scorecard.parent.glob(f"{scorecard.stem}-*{scorecard.suffix}"))
    if scorecard.is_file():
        for card in scorecards:  # several targets: the overall card and one per target
            add(card, card.name)
    else:
        missing.append(f"scorecard ({scorecard})")
    for svg in sorted(scorecard.parent.glob("dr-*.svg")):
        add(svg, f"pictures/{svg.name}")
    evidence = reports / "evidence"
    if evidence.is_dir():
        add_tree(evidence, "evidence")
    ledgers = [ledger] if ledger is not None else [reports / "drill-ledger.jsonl", *cited_ledgers(scorecards)]
    for path in ledgers:
        add(path, named(path, "ledgers"))
    if not any(path.is_file() for path in ledgers):
        missing.append(f"drill ledger ({', '.join(str(p) for p in ledgers)})")
    if report.is_dir():
        add_tree(report, "report")
    if single_file.is_file():
        add(single_file, single_file.name)
    if not report.is_dir() and not single_file.is_file():
        missing.append(f"HTML report ({report}; make it with `kosmos-dr report`)")
    return entries, missing


LEDGER_HEAD = "drill-ledger.head"


def write(output: Path, entries: list[tuple[Path, str]], missing: list[str],
          generated: dict[str, bytes] | None = None) -> Bundle:
    """The archive: MANIFEST.sha256, the files, and ``generated`` members (e.g. the ledger's head hash,
    kept outside the ledger so that a later rewrite of it is detected)."""
    generated = generated or {}
    root = output.name.removesuffix(".tar.gz")
    lines = [f"{_sha256(path)}  {name}" for path, name in entries]
    lines += [f"{hashlib.sha256(body).hexdigest()}  {name}" for name, body in generated.items()]
    manifest = ("\n".join(lines) + "\n").encode()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    now = time.time()
    with tarfile.open(tmp, "w:gz") as tar:
        info = tarfile.TarInfo(f"{root}/{MANIFEST}")
        info.size, info.mtime, info.mode = len(manifest), now, 0o644
        tar.addfile(info, io.BytesIO(manifest))
        for path, name in entries:
            tar.add(path, arcname=f"{root}/{name}", recursive=False)
        for name, body in generated.items():
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size, info.mtime, info.mode = len(body), now, 0o644
            tar.addfile(info, io.BytesIO(body))
    tmp.replace(output)
    return Bundle(path=output, files=len(entries) + len(generated), sha256=_sha256(output), missing=missing)


def verify(archive: Path) -> list[str]:
    """Problems found checking the archive's files against its manifest ([] when all match)."""
    problems = []
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if m.isfile() and "/" in m.name}
        manifest = members.pop(MANIFEST, None)
        if manifest is None:
            return [f"{MANIFEST} missing"]
        listed = {}
        for line in tar.extractfile(manifest).read().decode().splitlines():
            digest, name = line.split("  ", 1)
            listed[name] = digest
        for name, digest in listed.items():
            member = members.get(name)
            if member is None:
                problems.append(f"{name}: listed, not in the archive")
            elif hashlib.sha256(tar.extractfile(member).read()).hexdigest() != digest:
                problems.append(f"{name}: checksum differs")
        problems += [f"{name}: in the archive, not listed" for name in members.keys() - listed.keys()]
    return problems
