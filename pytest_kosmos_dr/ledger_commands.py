"""``kosmos-dr ledger``: record a tabletop exercise, verify the hash chain, show the drill ledger.

    kosmos-dr ledger record tabletop --date ISO --by NAME --ref TICKET [--target NAME] [--note TEXT] [--ledger PATH]
    kosmos-dr ledger verify [--ledger PATH] [--head HASH]
    kosmos-dr ledger show [--ledger PATH] [--json]

Only a tabletop exercise is recorded by hand (marked ``manual``); restore, agent-state, failover
and full-DR drills are recorded by the run that performed them. With ``$KOSMOS_DR_LEDGER_KEY``
set, entries are signed and verification requires every entry's HMAC.
Exit codes: 0 done / intact, 1 the ledger fails verification (problems listed), 2 bad input.
The default ledger is ``reports/drill-ledger.jsonl`` under the current folder (the plugin's default
under its rootdir), or ``$KOSMOS_DR_LEDGER``. ``show`` and ``verify`` without either, when that file
does not exist, take the ledger the newest sandbox run kept (``reports/evidence/<run id>/drill-ledger.jsonl``:
sandbox runs never write the repository's ledger) and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import ledger as drill_ledger
from .errors import DRConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def default_ledger() -> Path:
    return Path(os.environ.get("KOSMOS_DR_LEDGER") or Path.cwd() / "reports" / "drill-ledger.jsonl")


def _path(args: argparse.Namespace) -> Path:
    return Path(args.ledger).expanduser() if args.ledger else default_ledger()


def _path_to_read(args: argparse.Namespace) -> Path:
    """``_path``, or, when nothing was named and the default ledger does not exist, the ledger the newest
    sandbox run kept under reports/evidence/ (printed, so nobody mistakes it for the repository's)."""
    path = _path(args)
    if args.ledger or os.environ.get("KOSMOS_DR_LEDGER") or path.exists():
        return path
    kept = drill_ledger.kept_ledgers(path.parent)
    if not kept:
        return path
    print(f"no drill ledger at {path}; the newest sandbox run's ledger (of {len(kept)} kept under "
          f"{path.parent / 'evidence'}):")
    return kept[0]


def _default_target() -> str:
    from .config import load_config

    return load_config(Path.cwd(), None).default_target


def _record(args: argparse.Namespace) -> int:
    path = _path(args)
    if args.kind not in drill_ledger.MANUAL_KINDS:
        what = f"{args.kind!r} is not a kind" if args.kind not in drill_ledger.KINDS else f"a {args.kind} drill"
        raise DRConfigError(f"ledger record: {what}: only a tabletop exercise is recorded by hand; restore, "
                            f"agent-drill, failover and full-dr entries are recorded by the run that performed them")
    missing = [flag for flag, value in (("--by", args.by), ("--ref", args.ref)) if not (value or "").strip()]
    if missing:
        raise DRConfigError(f"ledger record: {' and '.join(missing)} required (who ran the exercise, and a "
                            f"reference such as a ticket or the notes)")
    at = drill_ledger.parse_when(args.date)
    target = args.target or _default_target()
    if path.exists():
        problems = drill_ledger.verify(path)
        if problems:
            print(f"kosmos-dr: drill ledger {path} fails verification; not extending it:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return EXIT_FAILED
    try:
        entry = drill_ledger.append(path, {"kind": args.kind, "at": at, "target": target, "result": args.result,
                                           "source": "manual", "by": args.by, "ref": args.ref,
                                           "criteria": args.criteria or [], "note": args.note or ""})
    except drill_ledger.LedgerError as exc:
        print(f"kosmos-dr: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"recorded #{entry['seq']}: {entry['kind']} {entry['result']} at {entry['at']} for target {entry['target']}"
          f" (manual, by {entry['by']}, ref {entry['ref']}{', signed' if 'hmac' in entry else ''}) in {path}")
    print(f"ledger head: {entry['hash']}")
    return EXIT_OK


def _load(path: Path, head: str | None = None) -> drill_ledger.Ledger:
    try:
        return drill_ledger.load(path, head)
    except drill_ledger.LedgerError as exc:
        raise DRConfigError(str(exc)) from None


def _verify(args: argparse.Namespace) -> int:
    path = _path_to_read(args)
    ledger = _load(path, args.head)
    if ledger.problems:
        print(f"drill ledger {path}: TAMPERED ({len(ledger.problems)} problem(s))")
        for problem in ledger.problems:
            print(f"  {problem}")
        return EXIT_FAILED
    checked = [what for what, done in (("HMAC of every entry", ledger.key_checked),
                                       ("the head kept outside the file", args.head)) if done]
    print(f"drill ledger {path}: intact, {len(ledger.entries)} entries, head {ledger.head}"
          + (f" (checked: {', '.join(checked)})" if checked else ""))
    return EXIT_OK


def _source(entry: dict) -> str:
    source = entry.get("source") or "unattested"
    if source == "run":
        return f"run {entry.get('run_id', '?')}"
    if source == "manual":
        return f"manual ({entry.get('by', '?')}, {entry.get('ref', '?')})"
    return str(source)


def _show(args: argparse.Namespace) -> int:
    path = _path(args) if args.json else _path_to_read(args)
    if args.json and not args.ledger and not os.environ.get("KOSMOS_DR_LEDGER") and not path.exists():
        path = next(iter(drill_ledger.kept_ledgers(path.parent)), path)
    ledger = _load(path)
    if args.json:
        print(json.dumps({"ledger": str(path), "intact": ledger.intact, "problems": list(ledger.problems),
                          "head": ledger.head, "entries": [e for _, e in ledger.entries]}, indent=2))
        return EXIT_OK if ledger.intact else EXIT_FAILED
    print(f"drill ledger {path}")
    print(f"  {'seq':>4}  {'at':<20}  {'kind':<11}  {'result':<6}  {'target':<12}  {'source':<12}  note")
    for _, entry in ledger.entries:
        print(f"  {entry.get('seq', '?'):>4}  {entry.get('at', '?'):<20}  {entry.get('kind', '?'):<11}  "
              f"{entry.get('result', '?'):<6}  {entry.get('target', '?'):<12}  {_source(entry):<12}  "
              f"{entry.get('note', '')}")
    print(f"{len(ledger.entries)} entries, head {ledger.head}")
    if ledger.problems:
        print(f"TAMPERED ({len(ledger.problems)} problem(s)):")
        for problem in ledger.problems:
            print(f"  {problem}")
        return EXIT_FAILED
    print("chain intact (keep the head hash elsewhere to detect removal of the newest entries)")
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Add ``ledger record|verify|show`` to the ``kosmos-dr`` sub-commands."""
    ledger = subparsers.add_parser("ledger", help="the drill ledger: record manual exercises, verify, show")
    actions = ledger.add_subparsers(dest="ledger_action", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--ledger", metavar="PATH",
                            help="ledger file (default: $KOSMOS_DR_LEDGER or ./reports/drill-ledger.jsonl; show/verify: "
                                 "else the newest sandbox run's, reports/evidence/<run id>/drill-ledger.jsonl)")

    record = actions.add_parser("record", help="record a tabletop exercise (the only kind recorded by hand)")
    record.add_argument("kind", help="tabletop (drills are recorded by the run that performed them)")
    record.add_argument("--by", metavar="NAME", help="who ran the exercise (required)")
    record.add_argument("--ref", metavar="REF", help="a reference: ticket, notes page (required)")
    record.add_argument("--date", required=True, metavar="ISO", help="when it took place (2025-06-01 or a full time)")
    record.add_argument("--target", metavar="NAME", help="DR target it exercised (default: the configured default)")
    record.add_argument("--note", metavar="TEXT", help="what was done")
    record.add_argument("--result", choices=drill_ledger.RESULTS, default="passed")
    record.add_argument("--criteria", nargs="*", metavar="ID", help="criteria it covered (optional)")
    common(record)
    record.set_defaults(func=_record)

    verify = actions.add_parser("verify", help="check the hash chain (exit 1 when tampered)")
    verify.add_argument("--head", metavar="HASH", help="the head hash kept elsewhere (detects removed newest entries)")
    common(verify)
    verify.set_defaults(func=_verify)

    show = actions.add_parser("show", help="list the entries and the head hash")
    show.add_argument("--json", action="store_true")
    common(show)
    show.set_defaults(func=_show)


def main(argv: list[str] | None = None) -> int:
    """``kosmos-dr ledger ...`` on its own (argv without the leading "ledger" is accepted too)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "ledger":
        argv = ["ledger", *argv]
    parser = argparse.ArgumentParser(prog="kosmos-dr")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DRConfigError as exc:
        print(f"kosmos-dr: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
