"""The ``kosmos-dr`` command: targets, criteria, and the local sandbox.

Exit codes: 0 done, 1 the operation failed (e.g. the sandbox did not start), 2 bad input.
Errors are one line on stderr; secrets are never printed (they live in the 0600 env file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import DRConfigError, SandboxError
from .ledger_commands import add_commands as add_ledger_commands
from .reporting.commands import add_commands as add_report_commands
from .sandbox import SANDBOX_LAYOUTS
from .sandbox.state import Incident, Outage, SandboxState

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _targets(args: argparse.Namespace) -> int:
    from .config import describe_target, load_config
    from .redaction import redact, redact_deep

    cfg = load_config(Path.cwd(), args.config)
    # credentials written into a URL of the targets file (user:password@, TOKEN@) are masked
    described = {name: redact_deep(describe_target(t)) for name, t in cfg.targets.items()}
    if args.json:
        print(redact(json.dumps({"source": cfg.source, "default": cfg.default_target, "targets": described,
                                 "running_sandbox": _running_sandbox_layout(cfg)}, indent=2)))
        return EXIT_OK
    running = _running_sandbox_layout(cfg)
    print(f"targets from {cfg.source} (default: {cfg.default_target})")
    for name, body in described.items():
        print(f"\n[{name}] {body.pop('kind')}{' PRODUCTION' if body.pop('production') else ''}"
              f" - {body.pop('description') or 'no description'}")
        body.pop("name")
        if cfg.targets[name].is_sandbox:  # its endpoints are the running sandbox's, not the file's names
            body["endpoints"] = (running["endpoints"] if running and name in running["targets"] else
                                 "the sandbox's own, on loopback (none running for this layout now)")
        for section, values in body.items():
            if isinstance(values, dict):
                shown = ", ".join(f"{k}={v}" for k, v in values.items() if v not in ("", None))
                print(redact(f"  {section}: {shown}"))
            elif isinstance(values, list):
                print(f"  {section}: {', '.join(a['name'] for a in values)}")
            else:
                print(f"  {section}: {values}")
    print("\nsecrets are read from the environment variables named *_env and are never shown")
    if running:
        matching = ", ".join(running["targets"])
        print(f"\nrunning sandbox ({running['state_dir']}): layout {running['layout']!r}; "
              + (f"its target: {matching}" if matching else
                 f"no target here describes it: kosmos-dr sandbox target --layout {running['layout']}"))
    return EXIT_OK


def _running_sandbox_layout(cfg) -> dict | None:
    """The running sandbox's folder and layout, and the targets of ``cfg`` that describe it (or None)."""
    from .sandbox import manager

    running = manager.find_running(manager.default_state_dir())
    if running is None:
        return None
    names = [name for name, t in cfg.targets.items() if t.is_sandbox and t.sandbox.layout == running.layout]
    state = SandboxState.of(running)
    endpoints = {key: service.url for key, service in (("api", state.api), ("grafana", state.grafana),
                                                        ("status_page", state.status_page)) if service}
    db = state.database
    endpoints["database"] = f"{db.host}:{db.port}/{db.dbname}"
    if state.aws:
        endpoints["aws"] = state.aws.endpoint_url
    return {"state_dir": str(running.state_dir), "layout": running.layout, "targets": names,
            "endpoints": {k: v for k, v in endpoints.items() if v}}


def _criteria(args: argparse.Namespace) -> int:
    from .catalog import catalog

    rows = [c for c in catalog().values() if not args.kind or c.kind == args.kind]
    if args.json:
        print(json.dumps([c.__dict__ for c in rows], indent=2))
        return EXIT_OK
    width = max(len(c.id) for c in rows)
    section = None
    for c in rows:
        if c.section != section:
            section = c.section
            print(f"\n{section}")
        print(f"  {c.id:<{width}}  {c.kind:<8}  {c.title}")
    print(f"\n{len(rows)} criteria")
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import manager

    state_dir = Path(args.state_dir).resolve() if args.state_dir else manager.default_state_dir()
    if args.action == "target":
        return _sandbox_target(args, state_dir)
    if args.action == "up":
        if (args.outage_mode or args.outage_hold is not None) and not args.outage:
            print("kosmos-dr: --outage-mode/--outage-hold need --outage primary-region", file=sys.stderr)
            return EXIT_USAGE
        incident_after = None
        if args.incident_after is not None:
            from .timeparse import parse_duration

            try:
                incident_after = parse_duration(args.incident_after).total_seconds()
            except ValueError as exc:
                print(f"kosmos-dr: --incident-after: {exc}", file=sys.stderr)
                return EXIT_USAGE
        latency_ms = None
        if args.latency is not None:
            from .sandbox.latency import parse_latency

            try:
                latency_ms = parse_latency(args.latency) * 1000
            except ValueError as exc:
                print(f"kosmos-dr: --latency: {exc}", file=sys.stderr)
                return EXIT_USAGE
        from .progress import ProgressLine

        with ProgressLine("starting the sandbox") as line:
            running, started = manager.start(state_dir, scale=args.scale, outage=args.outage,
                                             outage_mode=args.outage_mode, outage_hold_s=args.outage_hold,
                                             layout=args.layout, incident_after=incident_after,
                                             manual_failover=args.manual_failover, latency_ms=latency_ms,
                                             progress=line.update if line.enabled else None)
        print(("sandbox started" if started else "sandbox already running") + f" (pid {running.pid})")
        _print_endpoints(running)
        _print_incident(SandboxState.of(running).incident)
        _print_matching_target(running.layout, getattr(args, "config", None))
        return EXIT_OK
    if args.action == "down":
        stopped = manager.stop(state_dir)
        print("sandbox stopped" if stopped else f"no sandbox running in {state_dir}")
        return EXIT_OK
    running = manager.find_running(state_dir)
    if running is None:
        print(f"no sandbox running in {state_dir} (start one with: kosmos-dr sandbox up)", file=sys.stderr)
        return EXIT_FAILED
    if args.action == "incident":
        before = Incident.from_dict(running.incident())
        incident = running.start_incident()
        started = Incident.from_dict(incident)
        start = started.start if started else None
        if before is None or before.state != "scheduled":
            print(f"the incident has happened already (started {start})")
        else:
            print(f"incident started {start}")
        _print_incident(Incident.from_dict(incident))
        return EXIT_OK
    if args.action == "status":
        print(f"sandbox running (pid {running.pid}), layout {running.layout!r}, "
              f"started {SandboxState.of(running).started_at}")
        _print_endpoints(running)
        _print_incident(Incident.from_dict(running.incident()))
        applied = [f["name"] for f in running.faults() if f["applied"]]
        print(f"  faults applied: {', '.join(applied) if applied else 'none'}")
        return EXIT_OK
    # fault
    if args.list or not args.name:
        faults = running.faults()
        width = max((len(f["name"]) for f in faults), default=0)
        print(f"  {'fault':<{width}}  what it does [the criteria it breaks]   (* applied)")
        for fault in faults:
            mark = "*" if fault["applied"] else " "
            breaks = f" [{', '.join(fault['criteria'])}]" if fault["criteria"] else ""
            print(f"{mark} {fault['name']:<{width}}  {fault['description']}{breaks}")
        return EXIT_OK
    if args.revert:
        running.revert_fault(args.name)
        print(f"fault {args.name} reverted")
    else:
        answer = running.apply_fault(args.name)
        expect = (f": expect {', '.join(answer['criteria'])} not to pass (failed, or could not verify)"
                  if answer["criteria"] else "")
        print(f"fault {args.name} applied{expect} (revert: kosmos-dr sandbox fault {args.name} --revert)")
    return EXIT_OK


def _sandbox_target(args: argparse.Namespace, state_dir: Path) -> int:
    """The targets-file entry of a sandbox layout: --layout, else the running sandbox's, else default."""
    from .sandbox import manager
    from .sandbox.layout import layout_named, target_toml

    name = args.layout
    if name is None:
        running = manager.find_running(state_dir)
        name = running.layout if running else "default"
    print(target_toml(layout_named(name)), end="")
    return EXIT_OK


def _print_matching_target(layout: str, config: str | None = None) -> None:
    """The target describing ``layout`` in the targets file here, or how to get one."""
    from .config import load_config
    from .sandbox import layout_target_name

    try:
        cfg = load_config(Path.cwd(), config)
        names = [n for n, t in cfg.targets.items() if t.is_sandbox and t.sandbox.layout == layout]
        source = cfg.source
    except DRConfigError:
        names, source = [], "the targets file here (it does not load)"
    if names:
        print(f"  target:       {', '.join(names)} ({source}): pytest suites/ --dr-target {names[0]}")
        return
    name = layout_target_name(layout)
    print(f"  target:       none in {source} describes layout {layout!r}: kosmos-dr sandbox target --layout {layout} "
          f"> {name}.toml; pytest suites/ --dr-config {name}.toml --dr-target {name}")


def _cleanup(args: argparse.Namespace) -> int:
    """Undo what killed runs left: recorded changes, tagged instances of dead runs, orphaned servers."""
    from .drills.cleanup import cleanup_command

    return cleanup_command(args.target, args.config, args.dry_run)


def _merge(args: argparse.Namespace) -> int:
    """Exit as the runs' pytest would: 0 only when every target PASSED, 2 when a run was interrupted,
    4 for bad input (as pytest's usage error: 2 is taken by "interrupted" here), else 1."""
    from .merge import merge, summary_lines

    out = Path(args.out)
    try:
        merged = merge([Path(r) for r in args.runs], out)
    except DRConfigError as exc:
        print(f"kosmos-dr: {exc}", file=sys.stderr)
        return 4
    for line in summary_lines(merged, out):
        print(line)
    return merged.exit_code


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor_command

    return doctor_command()


def _print_endpoints(running) -> None:
    state = SandboxState.of(running)
    db = state.database
    print(f"  state folder: {running.state_dir}")
    print(f"  layout:       {running.layout}")
    latency = running.latency_ms
    print(f"  latency:      " + (f"{latency:g} ms added to every response of every endpoint (delaying proxies)"
                                 if latency else "none added (loopback)"))
    print(f"  env file:     {running.env_file}   (source it: psql, curl, aws and kubectl then reach the sandbox)")
    print(f"  database:     postgresql://{db.describe()}  (password in env file)")
    print(f"  KOSMOS API:   {state.api.url}  (token in env file as KOSMOS_API_TOKEN)")
    print(f"  Grafana:      {state.grafana.url}")
    for label, value in (("status page", state.status_page and state.status_page.url),
                         ("AWS endpoint", state.aws and state.aws.endpoint_url),
                         ("kubeconfig", state.kubernetes.kubeconfig)):
        if value:
            print(f"  {label + ':':<13} {value}")
    _print_outage(state.outage)
    from .sandbox.endpoints import endpoint_lines

    lines = endpoint_lines(running.state)  # the sandbox's own rendering of its state
    if lines:
        print("  by the plan's names (sandbox DNS, HTTPS with the sandbox CA):")
        for line in lines:
            print(f"    {line}")


def _print_incident(incident: Incident | None) -> None:
    """The incident's state: scheduled (when), primary failed (waiting for the operator), failed over."""
    if incident is None:
        return
    state, failover = incident.state, incident.failover
    if state == "scheduled":
        line = f"scheduled at {incident.scheduled_at} ({failover} failover); start it now: kosmos-dr sandbox incident"
    elif state == "primary failed":
        line = (f"started {incident.start}: {incident.primary_region} failed; failover is manual, "
                f"not done yet (./scripts/failover-to-dr.sh --region {incident.secondary_region} --validate)")
    elif state == "failed over":
        line = (f"started {incident.start}, failed over at {incident.failover_at} ({failover}); "
                f"last production write {incident.last_production_write}")
    else:
        line = f"{state}: {incident.error or ''}"
    print(f"  incident:     {line}")
    workload = incident.workload
    if workload:
        status = "writing" if workload.running else "stopped"
        print(f"  workload:     {status}, {workload.commits} commits, last at {workload.last_commit}"
              + (f" ({workload.error})" if workload.error else ""))


def _print_outage(outage: Outage | None) -> None:
    if outage is None:
        return
    print(f"  OUTAGE:       {outage.region} is down since {outage.since} (mode {outage.mode})")
    for label, value in (("AWS API", outage.aws_api), ("database", outage.database),
                         ("API endpoint", outage.api_endpoint), ("still up", ", ".join(outage.working))):
        print(f"    {label + ':':<14}{value}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kosmos-dr", description="KOSMOS disaster-recovery verification")
    sub = parser.add_subparsers(dest="command", required=True)
    targets = sub.add_parser("targets", help="list DR targets with their resolved settings")
    targets.add_argument("--config", help="targets file (default: ./kosmos-dr.toml or pyproject.toml)")
    targets.add_argument("--json", action="store_true")
    targets.set_defaults(func=_targets)
    criteria = sub.add_parser("criteria", help="list the DR plan's acceptance criteria")
    criteria.add_argument("--kind", choices=("gate", "drill", "evidence"))
    criteria.add_argument("--json", action="store_true")
    criteria.set_defaults(func=_criteria)
    sandbox = sub.add_parser("sandbox", help="run the local DR environment")
    sandbox.add_argument("--state-dir", help="sandbox folder (default: $KOSMOS_DR_SANDBOX_DIR or ~/.local/state/kosmos-dr/sandbox)")
    actions = sandbox.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start it in the background (or report the running one)")
    up.add_argument("--scale", choices=("default", "large", "xlarge"), default=None,
                    help="size of the seeded DR environment: large = 200 nodes, 2,000 pods, 1,000,000 "
                         "conversations, 20,000 agent-state archives; xlarge = the same with 10,000,000 "
                         "conversations (default: $KOSMOS_DR_SANDBOX_SCALE or default)")
    up.add_argument("--layout", choices=SANDBOX_LAYOUTS, default=None,
                    help="the names and contracts it serves: default (the plan's names) or alternate (other "
                         "regions, namespace, bucket, instances, archive keys, health body, data source); "
                         "its target: kosmos-dr sandbox target --layout NAME (default: default; a running "
                         "sandbox is reused only if it serves the layout asked for)")
    up.add_argument("--config", help="targets file in which to look for the layout's target")
    up.add_argument("--outage", choices=("primary-region",), default=None,
                    help="start with the layout's primary region lost (default layout: us-east-1): its AWS API, "
                         "the primary database and its API endpoint unreachable (the fault primary-region-outage, "
                         "applied at start)")
    up.add_argument("--outage-mode", choices=("503", "reset", "timeout"), default=None,
                    help="how the lost region's AWS API looks to a client: 503 ServiceUnavailable (default), "
                         "reset (connection reset, no answer) or timeout (held, then reset)")
    up.add_argument("--outage-hold", type=float, default=None, metavar="SECONDS",
                    help="timeout mode: how long a request is held before the connection is reset (default 60)")
    up.add_argument("--incident-after", default=None, metavar="DURATION",
                    help="become ready before the incident, with production live and a workload writing, and "
                         "play the incident after DURATION (30s, 10m, 1h; default: the incident plays during start)")
    up.add_argument("--latency", default=None, metavar="DURATION",
                    help="delay every response of every endpoint by this round trip, e.g. 100ms (0: none, "
                         "the default); a running sandbox is reused only if it adds the same")
    up.add_argument("--manual-failover", action="store_true",
                    help="the incident fails the primary region but leaves promoting the DR replica and the DNS "
                         "switch to the operator: ./scripts/failover-to-dr.sh in the sandbox's KOSMOS checkout")
    actions.add_parser("down", help="stop it and remove its servers and data")
    actions.add_parser("incident", help="start the scheduled incident now (sandbox up --incident-after)")
    target = actions.add_parser("target", help="print the targets-file entry of a sandbox layout (TOML)")
    target.add_argument("--layout", choices=SANDBOX_LAYOUTS, default=None,
                        help="the layout (default: the running sandbox's, else default)")
    actions.add_parser("status", help="show endpoints, the incident's state and applied faults")
    fault = actions.add_parser("fault", help="apply a named fault (for demos and training)")
    fault.add_argument("name", nargs="?")
    fault.add_argument("--list", action="store_true", help="list the faults")
    fault.add_argument("--revert", action="store_true", help="undo the fault")
    sandbox.set_defaults(func=_sandbox)
    doctor = sub.add_parser("doctor", help="check this machine's prerequisites; print the command that fixes each")
    doctor.set_defaults(func=_doctor)
    merge = sub.add_parser("merge", help="merge several runs' reports (one job per DR estate) into one report "
                                         "and one overall verdict")
    merge.add_argument("runs", nargs="+", metavar="RUN_DIR", help="the reports folder of each run")
    merge.add_argument("--out", default="reports/merged", help="output folder (default: reports/merged)")
    merge.set_defaults(func=_merge)
    cleanup = sub.add_parser("cleanup", help="undo what killed runs left: kill switch, scratch folders, lease, "
                                             "restored instances (by record and tag only)")
    cleanup.add_argument("--target", help="DR target (default: sandbox)")
    cleanup.add_argument("--config", help="targets file")
    cleanup.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    cleanup.set_defaults(func=_cleanup)
    add_report_commands(sub)
    add_ledger_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DRConfigError as exc:
        print(f"kosmos-dr: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SandboxError as exc:
        print(f"kosmos-dr: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("kosmos-dr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
