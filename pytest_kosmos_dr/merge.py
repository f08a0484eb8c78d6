"""``kosmos-dr merge``: several runs (one job per DR estate) into one report and one overall verdict.

Each input is the reports folder one run left (``dr-scorecard.json``, its per-target scorecards,
``allure-results/``, ``drill-ledger.jsonl``). The output folder holds every target's scorecard, an
overall ``dr-scorecard.json`` whose verdict is the worst target's, the Allure results of every run
(each result labelled with its source run), and each run's drill ledger unchanged (their hash
chains stay checkable). Every target names the run it came from and that run's scorecard SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DRConfigError
from .reporting.scorecard import VERDICT_WORDS

SCORECARD = "dr-scorecard.json"
RESULTS = "allure-results"
LEDGER = "drill-ledger.jsonl"
# worse first: the overall verdict is the worst of the targets'
VERDICT_ORDER = ("interrupted", "failed", "not verified", "partial", "nothing verified", "passed")
EXIT_CODES = {"passed": 0, "interrupted": 2}  # anything else: 1


@dataclass
class TargetCard:
    name: str
    card: dict
    path: Path
    source: Path
    sha256: str


@dataclass
class Merged:
    verdict: str
    targets: dict[str, TargetCard] = field(default_factory=dict)
    results: int = 0
    ledgers: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.verdict, 1)


def worst_verdict(verdicts: list[str]) -> str:
    """The worst of ``verdicts`` (``nothing verified`` when there are none)."""
    if not verdicts:
        return "nothing verified"
    unknown = set(verdicts) - set(VERDICT_ORDER)
    if unknown:
        raise DRConfigError(f"unknown verdict {sorted(unknown)[0]!r} in a scorecard")
    return min(verdicts, key=VERDICT_ORDER.index)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(path: Path) -> dict:
    try:
        card = json.loads(path.read_text())
    except OSError as exc:
        raise DRConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError:
        raise DRConfigError(f"{path}: not a DR scorecard (not JSON)") from None
    if not isinstance(card, dict) or "verdict" not in card:
        raise DRConfigError(f"{path}: not a DR scorecard (no verdict)")
    return card


def target_cards(run_dir: Path) -> list[TargetCard]:
    """The per-target scorecards of one run folder (a one-target run's card is its own)."""
    overall_path = run_dir / SCORECARD
    if not run_dir.is_dir():
        raise DRConfigError(f"{run_dir}: no such folder (give the reports folder of each run)")
    if not overall_path.is_file():
        raise DRConfigError(f"{run_dir}: no {SCORECARD} (was the run given --dr-scorecard elsewhere?)")
    overall = _load(overall_path)
    if "targets" in overall:  # a several-target run: the overall card points at one card per target
        cards = []
        for name, entry in overall["targets"].items():
            path = Path(entry.get("scorecard", ""))
            path = path if path.is_file() else run_dir / path.name
            if not path.is_file():
                raise DRConfigError(f"{overall_path}: target {name}'s scorecard {path.name} is missing")
            cards.append(TargetCard(name, _load(path), path, run_dir, _sha256(path)))
        return cards
    target = overall.get("target") or {}
    if not target.get("name"):
        raise DRConfigError(f"{overall_path}: the scorecard names no target")
    return [TargetCard(target["name"], overall, overall_path, run_dir, _sha256(overall_path))]


def _copy_results(run_dir: Path, out: Path, label: str) -> int:
    """Copy one run's Allure results, labelling each test result with the run it came from."""
    source = run_dir / RESULTS
    if not source.is_dir():
        return 0
    count = 0
    for path in sorted(source.iterdir()):
        if not path.is_file():
            continue
        if path.name in ("environment.properties", "executor.json", "categories.json"):
            continue  # merged below: one of each for the whole report
        if path.name.endswith("-result.json"):
            result = json.loads(path.read_text())
            result.setdefault("labels", []).append({"name": "dr_source_run", "value": label})
            (out / path.name).write_text(json.dumps(result))
            count += 1
        else:
            shutil.copyfile(path, out / path.name)
    return count


def _environment(runs: list[Path], out: Path) -> None:
    """One environment.properties: each run's lines, prefixed by the run's folder name."""
    lines = []
    for run_dir in runs:
        env = run_dir / RESULTS / "environment.properties"
        if env.is_file():
            lines += [f"{run_dir.name}.{line}" for line in env.read_text().splitlines() if "=" in line]
    if lines:
        (out / "environment.properties").write_text("\n".join(lines) + "\n")
    for name in ("categories.json", "executor.json"):
        first = next((r / RESULTS / name for r in runs if (r / RESULTS / name).is_file()), None)
        if first is not None:
            shutil.copyfile(first, out / name)


def merge(run_dirs: list[Path], out: Path) -> Merged:
    """Merge the reports folders ``run_dirs`` into ``out``; raise DRConfigError on bad input."""
    if not run_dirs:
        raise DRConfigError("no runs to merge: give the reports folder of each run")
    out_resolved = out.resolve()
    if any(r.resolve() == out_resolved for r in run_dirs):
        raise DRConfigError(f"{out}: the output folder cannot be one of the runs")
    names = [r.name for r in run_dirs]
    if len(set(names)) != len(names):
        raise DRConfigError("two runs have the same folder name: rename one, the name is its provenance")
    merged = Merged(verdict="nothing verified")
    for run_dir in run_dirs:
        for card in target_cards(run_dir):
            if card.name in merged.targets:
                raise DRConfigError(f"target {card.name} is in both {merged.targets[card.name].source} and "
                                    f"{run_dir}: merge one run per target")
            merged.targets[card.name] = card
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS
    results.mkdir(exist_ok=True)
    for run_dir in run_dirs:
        merged.results += _copy_results(run_dir, results, run_dir.name)
        ledger = run_dir / LEDGER
        if ledger.is_file():
            (out / "ledgers").mkdir(exist_ok=True)
            copy = out / "ledgers" / f"{run_dir.name}-{LEDGER}"
            shutil.copyfile(ledger, copy)
            merged.ledgers.append(copy)
    _environment(run_dirs, results)
    merged.verdict = worst_verdict([c.card["verdict"] for c in merged.targets.values()])
    entries = {}
    for name, card in merged.targets.items():
        path = out / f"dr-scorecard-{name}.json"
        shutil.copyfile(card.path, path)
        entries[name] = {"verdict": card.card["verdict"], "scorecard": path.name,
                         "source": {"run": str(card.source), "scorecard_sha256": card.sha256}}
    overall = {"schema": 1, "verdict": merged.verdict, "merged_from": [str(r) for r in run_dirs], "targets": entries}
    (out / SCORECARD).write_text(json.dumps(overall, indent=2) + "\n")
    return merged


def summary_lines(merged: Merged, out: Path) -> list[str]:
    lines = [f"{name:<24} {card.card['verdict']:<16} from {card.source}" for name, card in merged.targets.items()]
    lines.append(f"overall: {VERDICT_WORDS.get(merged.verdict, merged.verdict.upper())} ({len(merged.targets)} targets, {merged.results} test results, "
                 f"{len(merged.ledgers)} drill ledgers) -> {out / SCORECARD}")
    return lines
