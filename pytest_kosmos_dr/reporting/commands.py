"""``kosmos-dr report`` and ``kosmos-dr bundle`` (added to the CLI by ``add_commands``).

Exit codes: 0 done; 1 the report or bundle could not be made; 2 bad input (no results folder);
3 a tool is missing (Java, npm, or the generator: install it with ``kosmos-dr report --install``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SCORECARD_DEFAULT = "reports/dr-scorecard.json"  # same as hooks.SCORECARD_DEFAULT (not imported: pytest stays unloaded)

REPORTS = "reports"


def add_commands(subparsers) -> None:
    report = subparsers.add_parser(
        "report", help="build the offline HTML report from reports/allure-results (Allure 2, no analytics)")
    report.add_argument("--results", default=f"{REPORTS}/allure-results",
                        help="Allure results folder (pytest --alluredir; default: %(default)s)")
    report.add_argument("-o", "--output", default=f"{REPORTS}/html", help="report folder (default: %(default)s)")
    report.add_argument("--single-file", nargs="?", const=f"{REPORTS}/dr-report.html", default=None, metavar="PATH",
                        help="also write one self-contained HTML file that opens from disk "
                             "(default path: %(const)s)")
    report.add_argument("--history", default=f"{REPORTS}/allure-history",
                        help="where the trend history is kept between runs (default: %(default)s)")
    report.add_argument("--no-history", action="store_true", help="neither read nor update the history")
    report.add_argument("--name", default="KOSMOS DR verification", help="report title")
    report.add_argument("--install", action="store_true",
                        help="install the pinned generator (npm allure-commandline) into "
                             "$KOSMOS_DR_ALLURE_HOME or ~/.cache/kosmos-dr/allure, then build the report "
                             "if results exist")
    report.set_defaults(func=_report)

    bundle = subparsers.add_parser(
        "bundle", help="results, scorecard, pictures, drill ledger and report in one .tar.gz with SHA-256 manifest")
    bundle.add_argument("--reports", default=REPORTS, help="reports folder (default: %(default)s)")
    bundle.add_argument("--results", default=None, help="Allure results (default: REPORTS/allure-results)")
    bundle.add_argument("--scorecard", default=None, help=f"scorecard (default: {SCORECARD_DEFAULT})")
    bundle.add_argument("--report", default=None, help="HTML report folder (default: REPORTS/html)")
    bundle.add_argument("--ledger", default=None,
                        help="drill ledger (default: REPORTS/drill-ledger.jsonl and every ledger the scorecards "
                             "name, e.g. a sandbox run's copy under REPORTS/evidence/)")
    bundle.add_argument("-o", "--output", default=None,
                        help="archive (default: REPORTS/kosmos-dr-evidence-<UTC time>.tar.gz)")
    bundle.add_argument("--verify", metavar="ARCHIVE", default=None,
                        help="check an existing bundle against its manifest instead")
    bundle.set_defaults(func=_bundle)


def _report(args: argparse.Namespace) -> int:
    from . import html_report

    try:
        if args.install:
            binary = html_report.install()
            print(f"installed {html_report.GENERATOR_PACKAGE} {html_report.installed_version()} ({binary})")
            if not Path(args.results).is_dir():
                return 0
        made = html_report.build(
            Path(args.results), Path(args.output),
            single_file=Path(args.single_file) if args.single_file else None,
            history=None if args.no_history else Path(args.history), name=args.name,
        )
    except html_report.ReportError as exc:
        print(f"kosmos-dr: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"report: {made.output}/index.html ({made.size_bytes / 1e6:.1f} MB, {made.seconds:.1f} s; "
          f"serve the folder over HTTP to open it)")
    if made.single_file:
        print(f"single file: {made.single_file} ({made.single_file.stat().st_size / 1e6:.1f} MB; opens from disk)")
    if not args.no_history:
        print(f"trend: run {made.history_runs} (history in {args.history})")
    if made.analytics_removed:
        print(f"removed {made.analytics_removed} analytics tag(s)")
    if made.external_references:
        print("kosmos-dr: the report still refers to other hosts: " + "; ".join(made.external_references[:5]),
              file=sys.stderr)
        return html_report.EXIT_FAILED
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from . import bundle

    if args.verify:
        problems = bundle.verify(Path(args.verify))
        for problem in problems:
            print(f"kosmos-dr: {problem}", file=sys.stderr)
        if not problems:
            print(f"{args.verify}: every file matches {bundle.MANIFEST}")
        return 1 if problems else 0
    reports = Path(args.reports)
    scorecard = Path(args.scorecard) if args.scorecard else reports / Path(SCORECARD_DEFAULT).name
    results = Path(args.results) if args.results else reports / "allure-results"
    if not results.is_dir() or not any(results.glob("*-result.json")):
        # evidence without the test results it belongs to is no bundle for an auditor
        print(f"kosmos-dr: no test results to bundle in {results} (run the suites with --alluredir "
              f"{results} first)", file=sys.stderr)
        return 2
    entries, missing = bundle.collect(
        reports=reports,
        results=results,
        scorecard=scorecard,
        report=Path(args.report) if args.report else reports / "html",
        single_file=reports / "dr-report.html",
        ledger=Path(args.ledger) if args.ledger else None,
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    output = Path(args.output) if args.output else reports / f"kosmos-dr-evidence-{stamp}.tar.gz"
    from ..ledger import head_of

    ledgers = [Path(args.ledger)] if args.ledger else [reports / "drill-ledger.jsonl",
                                                        *bundle.cited_ledgers([scorecard])]
    ledger = next((p for p in ledgers if p.is_file()), ledgers[0])
    head = head_of(ledger) if ledger.is_file() else None
    made = bundle.write(output, entries, missing, {bundle.LEDGER_HEAD: f"{head}\n".encode()} if head else None)
    print(f"bundle: {made.path} ({made.files} files, sha256 {made.sha256})")
    if head:
        print(f"  drill ledger head: {head} of {ledger} (verify later with `kosmos-dr ledger verify --ledger "
              f"{ledger} --head {head}`)")
    for item in missing:
        print(f"  not included (missing): {item}")
    return 0

