"""One pytest run against one or more DR targets: validated options, the targets, their sandboxes.

Created once per process by ``session.DRPlugin`` (so bad input is a usage error, not a traceback).
Under pytest-xdist the controller chooses the run folder and passes it to the workers; the first
worker that needs a sandbox starts it there (under a file lock) and the controller stops it when
the run ends. With several targets each has its own ``TargetRun`` (own folder, sandbox, restores,
gate board and drill-ledger entries) and the DR tests are parametrized over them. The target is
always explicit: ``DRRun.target_run(name)``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

import pytest

from .config import DRConfig, load_config
from .environment import DREnvironment, resolve
from .errors import DRConfigError, SandboxError
from .sandbox.state import SandboxState
from .target import Target
from .timeparse import isoformat, parse_instant, utcnow

RUN_DIR_KEY = "kosmos_dr_run_dir"
RUN_DIR_PREFIX = "kosmos-dr-run-"
OWNER_FILE = "owner.pid"
OWNER_PID_KEY = "kosmos_dr_owner_pid"


@dataclass(frozen=True)
class RunOptions:
    targets: tuple[str, ...]  # --dr-target a,b (or "all"); one run verifies each of them
    incident_start: datetime | None
    restore_time: datetime | None  # None: the latest restorable time
    allow_restore: bool
    confirm_target: str | None
    deadline: datetime | None  # from --dr-deadline
    evidence_path: Path | None  # incident record for COM-* (sandbox: its own record when not given)
    ledger_path: Path  # drill ledger for SCH-*
    ledger_head: str | None = None  # --dr-ledger-head / $KOSMOS_DR_LEDGER_HEAD: the head kept outside the file

    @property
    def target(self) -> str:
        return self.targets[0]

    @property
    def confirmed_targets(self) -> set[str]:
        """--dr-confirm-target a,b: the production targets whose drills the operator confirmed."""
        return {t.strip() for t in (self.confirm_target or "").split(",") if t.strip()}

    @classmethod
    def from_config(cls, config: pytest.Config, default_target: str) -> "RunOptions":
        given = config.getoption("dr_target")
        if given is not None and not given.strip():
            raise DRConfigError("--dr-target '': name a target, several separated by commas, or all")
        raw_target = given or config.getini("dr_target") or default_target
        targets = tuple(dict.fromkeys(t.strip() for t in raw_target.split(",") if t.strip()))
        if not targets:
            raise DRConfigError(f"--dr-target {raw_target!r}: name a target, several separated by commas, or all")
        incident = _instant(config.getoption("dr_incident_start"), "--dr-incident-start")
        if incident and incident > utcnow():
            raise DRConfigError(f"--dr-incident-start {config.getoption('dr_incident_start')}: is in the future")
        raw_restore = config.getoption("dr_restore_time")
        restore = None if raw_restore in (None, "latest") else _instant(raw_restore, "--dr-restore-time")
        return cls(
            targets=targets,
            incident_start=incident,
            restore_time=restore,
            allow_restore=bool(config.getoption("dr_allow_restore")),
            confirm_target=config.getoption("dr_confirm_target"),
            deadline=_deadline(config.getoption("dr_deadline")),
            evidence_path=_existing_file(config.getoption("dr_evidence"), "--dr-evidence"),
            ledger_path=Path(config.getoption("dr_ledger") or config.getini("dr_ledger")
                             or config.rootpath / "reports" / "drill-ledger.jsonl"),
            ledger_head=_ledger_head(config.getoption("dr_ledger_head") or os.environ.get("KOSMOS_DR_LEDGER_HEAD")),
        )


def _ledger_head(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    head = raw.strip().lower()
    if len(head) != 64 or any(c not in "0123456789abcdef" for c in head):
        raise DRConfigError(f"--dr-ledger-head {raw!r}: expected the 64 hex digits of a SHA-256 "
                            "(as `kosmos-dr ledger show` prints it)")
    return head


def _deadline(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    from .timeparse import parse_duration

    try:
        return utcnow() + parse_duration(raw)
    except ValueError:
        pass
    try:
        return parse_instant(raw)
    except ValueError:
        raise DRConfigError(f"--dr-deadline {raw}: expected a duration like '10m' or an ISO-8601 time") from None


def _existing_file(raw: str | None, option: str) -> Path | None:
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise DRConfigError(f"{option} {raw}: no such file")
    return path


def _instant(raw: str | None, option: str) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise DRConfigError(f"{option}: {exc}") from None


class TargetRun:
    """One target within the run: its folder, sandbox lease, environment, incident and deadline."""

    def __init__(self, run: "DRRun", target: Target, run_dir: Path, may_reuse_shared_sandbox: bool) -> None:
        self.config = run.config
        self.options = run.options
        self.dr_config = run.dr_config
        self.target = target
        self.run_dir = run_dir
        self.owner_pid = run.owner_pid
        self.is_controller = run.is_controller
        self.run_id = run.run_id if run_dir == run.run_dir else f"{run.run_id}-{_slug(target.name)}"
        self._may_reuse = may_reuse_shared_sandbox
        self._sandbox = None
        self.started = utcnow()
        self.early_config = None  # the configuration's clone and rendering, when started with the session

    # -- sandbox -----------------------------------------------------------------------------
    def sandbox(self):
        """The running sandbox this target uses: a user's running one (of the target's layout), else one
        started for the run with the target's ``sandbox.layout``."""
        if self._sandbox is None:
            from .sandbox import manager

            layout = self.target.sandbox.layout
            shared = manager.find_running(manager.default_state_dir()) if self._may_reuse else None
            if shared is not None:
                if shared.layout != layout:  # started since the run was configured
                    raise manager.LayoutMismatch(shared.state_dir, shared.layout, layout)
                self._sandbox = shared
            else:
                from .clients.preload import preload_in_background
                from .progress import ProgressLine, terminal

                preload_in_background()  # the clients' libraries load while the sandbox starts
                # the terminal itself: pytest's capture holds fd 2 while a fixture sets up
                with terminal() as tty, ProgressLine(f"starting the sandbox for {self.target.name}", tty) as line:
                    self._sandbox, _ = manager.start(self.run_dir / "sandbox", owner_pid=self.owner_pid,
                                                     layout=layout, progress=line.update if line.enabled else None)
        return self._sandbox

    def environment_if_running(self) -> DREnvironment | None:
        """The environment when nothing has to start for it (a real target's, or a sandbox already
        running); None when the run would have to start a sandbox first."""
        if self.target.is_sandbox and self._sandbox is None:
            from .sandbox import manager

            shared = manager.find_running(manager.default_state_dir()) if self._may_reuse else None
            if shared is None or shared.layout != self.target.sandbox.layout:
                return None
        return self.environment

    @property
    def running_sandbox(self):
        """The sandbox this target already uses in this process, or None (never starts one)."""
        return self._sandbox

    def known_incident(self) -> dict[str, str]:
        """What this process knows about the target's incident (start, failover, DNS switch), without
        starting a sandbox: the sandbox's recorded incident if it is in use, and --dr-incident-start."""
        found: dict[str, str] = {}
        incident = None
        if self._sandbox is not None:
            try:
                incident = self._sandbox_state().incident
            except SandboxError:  # for the report: a state that cannot be read names no incident
                pass
        if incident is not None:
            found.update({k: _iso_text(v) for k, v in (("start", incident.start), ("failover_at", incident.failover_at),
                                                       ("dns_switched_at", incident.dns_switched_at)) if v})
        if self.options.incident_start is not None:
            found["start"] = isoformat(self.options.incident_start)
        return found

    def record_drills(self, card: dict, card_path: Path, interrupted: bool) -> "LedgerRecord":
        """Record the drills this finished run passed in the target's drill ledger (SCH-* evidence), with
        the run id and the SHA-256 of the target's scorecard. An interrupted run records nothing."""
        if interrupted or card["verdict"] == "interrupted":
            return LedgerRecord()
        import hashlib

        from .ledger import LedgerError, head_of, ledger_path_for_run, record_run

        passed = {row["id"] for row in card["criteria"] if row["status"] == "passed"}
        gate = [row["id"] for row in card["criteria"] if row["kind"] == "gate"]
        # A failover test: the operator gave the incident start, and the whole gate (OBJ-RTO
        # included) passed within the RTO. A plain run that performed no failover is not one.
        failover = self.options.incident_start is not None and bool(gate) and set(gate) <= passed
        try:
            path = ledger_path_for_run(self, live=True)  # the sandbox's own file, else the one cited
            kept = ledger_path_for_run(self)
            entries = record_run(path, run_id=self.run_id, target=self.target.name, passed_criteria=passed,
                                 scorecard_sha256=hashlib.sha256(card_path.read_bytes()).hexdigest(),
                                 failover=failover)
            if kept is not None and kept != path:  # the sandbox's ledger: its copy under reports/ follows
                from .evidence import keep

                kept = keep(path, self.evidence_dir, refresh=True)
            return LedgerRecord(entries, head_of(kept) if kept is not None else None, path=kept)
        except (LedgerError, DRConfigError, SandboxError, OSError) as exc:
            return LedgerRecord(error=f"kosmos-dr: drill ledger not updated: {exc}")

    @cached_property
    def evidence_dir(self) -> Path:
        """``reports/evidence/<run id>/`` next to the scorecard: the sandbox's evidence files this run
        cites (incident record, drill ledger) are kept there, since the sandbox deletes its own when it stops."""
        raw = (self.config.getoption("dr_scorecard", None) or self.config.getini("dr_scorecard")
               or "reports/dr-scorecard.json")
        card = Path(raw).expanduser()
        if not card.is_absolute():
            card = self.config.rootpath / card
        return card.parent / "evidence" / self.run_id

    @cached_property
    def deadline(self) -> datetime:
        """--dr-deadline, else a default bound on the run (see ``default_run_bound``).

        Not the RTO: a run whose RTO has already run out still runs every check, and OBJ-RTO
        reports the RTO as missed with the measured time.
        """
        if self.options.deadline is not None:
            return self.options.deadline
        return self.started + default_run_bound(self.target, self.options.allow_restore)

    def _sandbox_state(self) -> SandboxState:
        """The typed state of the sandbox this target uses (started if needed)."""
        return SandboxState.of(self.sandbox())

    @cached_property
    def environment(self) -> DREnvironment:
        state = self.sandbox().state if self.target.is_sandbox else None  # raw: resolve hides its secrets
        return resolve(self.target, state)

    @property
    def incident_start(self) -> datetime | None:
        """The incident start given to the run, or the sandbox's recorded one."""
        if self.options.incident_start is not None:
            return self.options.incident_start
        if self.target.is_sandbox:  # None before a scheduled incident (sandbox up --incident-after)
            incident = self._sandbox_state().incident
            return parse_instant(incident.start) if incident is not None and incident.start else None
        return None

    def close(self) -> None:
        """Controller only: remove what the drills created, stop the sandbox started for the run."""
        from .drills.cleanup import undo_run
        from .sandbox import manager

        try:
            try:
                undo_run(self)  # a dead worker's pending changes (kill switch, scratch folder, lease)
            finally:
                self.remove_drill_resources()
        finally:
            manager.stop(self.run_dir / "sandbox")

    def remove_drill_resources(self) -> list[str]:
        """Delete what this run's drills created (checked by tag before each delete)."""
        from .drills import resources

        created = resources.recorded(self.run_dir)
        if not created:
            return []
        from .clients.aws import AwsClients

        env = self.environment
        aws = AwsClients(self.target.aws.profile, self.target.aws.secondary_region, self.target.timeouts,
                         env.aws_endpoint_url, env.aws_credentials)
        done = []
        for item in created:
            try:
                outcome = resources.delete_if_ours(aws.client("rds", item.region), item.identifier, self.run_id)
            except Exception as exc:  # report and go on: the next ones must still be removed
                outcome = f"not deleted ({type(exc).__name__}); run `kosmos-dr cleanup`"
            done.append(f"{item.identifier}: {outcome}")
        self.removed = done
        return done


@dataclass(frozen=True)
class LedgerRecord:
    """What a target's run added to its drill ledger: the entries, the ledger's head after them, or why not."""

    entries: list[dict] = field(default_factory=list)
    head: str | None = None
    error: str | None = None
    path: Path | None = None  # the ledger the user finds again (a sandbox's: its copy under reports/evidence/)


DEFAULT_GATE_BOUND = timedelta(minutes=30)


def default_run_bound(target: Target, allow_restore: bool) -> timedelta:
    """How long a run may take without --dr-deadline: 30 min for the checks, plus, when drills are
    allowed, three restores' worth of the target's restore timeout (PITR, snapshot, cross-region copy)."""
    return DEFAULT_GATE_BOUND + (3 * target.database.restore_timeout if allow_restore else timedelta(0))


def _iso_text(value) -> str:
    """An instant as the one output form (``2026-11-30T10:03:46Z``); text that is no instant as it is."""
    try:
        return isoformat(parse_instant(str(value)))
    except ValueError:
        return str(value)


def _new_run_dir() -> Path:
    """``<tmp>/kosmos-dr-run-<8 hex>``, private (mkdtemp names may hold '_', which RDS refuses)."""
    while True:
        path = reserve_run_dir()
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        _write_owner(path, os.getpid())  # `kosmos-dr cleanup` removes it if we die
        return path


def reserve_run_dir() -> Path:
    """A fresh run folder name (not created): under xdist the controller hands it to the workers, and
    the first one that turns out to run DR tests creates it (``claim_run_dir``)."""
    import secrets

    return Path(tempfile.gettempdir()) / f"{RUN_DIR_PREFIX}{secrets.token_hex(4)}"


def claim_run_dir(path: Path, owner_pid: int) -> Path:
    """Create a reserved run folder (or join it when another xdist worker was first): private, ours."""
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if path.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DRConfigError(f"run folder {path}: not a private folder of this user; refusing to use it")
    if not (path / OWNER_FILE).exists():
        _write_owner(path, owner_pid)
    return path


def _write_owner(path: Path, pid: int) -> None:
    tmp = path / f"{OWNER_FILE}.{os.getpid()}"
    tmp.write_text(str(pid))
    os.replace(tmp, path / OWNER_FILE)  # never half-written: a reader must not take a live run for stale


def stale_run_dirs() -> list[Path]:
    """Run folders whose owning process is gone (a run killed with SIGKILL never removed its own)."""
    stale = []
    for path in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*"):
        try:
            pid = int((path / OWNER_FILE).read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            stale.append(path)
    return stale


def _refuse_unconfirmed_drills(options: RunOptions, targets: list[Target]) -> None:
    """Drills asked for (--dr-allow-restore) on a production target need its name confirmed: a job that
    lost its confirm flag stops with one line instead of going green with its drills skipped."""
    confirmed = options.confirmed_targets
    if not options.allow_restore:
        return
    names = [t.name for t in targets]
    stray = sorted(confirmed - set(names))
    if stray:
        raise DRConfigError(f"--dr-confirm-target {', '.join(stray)}: not a target of this run ({', '.join(names)}); "
                            "no drill was run")
    for target in targets:
        if target.production and target.name not in confirmed:
            raise DRConfigError(f"target {target.name!r} is marked production: drills need --dr-allow-restore and "
                                f"--dr-confirm-target {target.name}; nothing was run")


def _shared_sandbox_target(targets: list[Target]) -> str | None:
    """The sandbox target a user's running sandbox (``$KOSMOS_DR_SANDBOX_DIR`` or the default folder)
    serves in this run: a single sandbox target (which must describe the running sandbox's layout),
    else the first describing its layout, else the one named "sandbox"; the others start their own."""
    sandboxes = [t for t in targets if t.is_sandbox]
    if not sandboxes:
        return None
    from .sandbox import manager

    running = manager.find_running(manager.default_state_dir())
    if running is None:
        return sandboxes[0].name if len(targets) == 1 else ("sandbox" if any(t.name == "sandbox" for t in sandboxes)
                                                              else None)
    if len(targets) == 1:
        target = sandboxes[0]
        if target.sandbox.layout != running.layout:
            raise DRConfigError(
                f"the running sandbox serves layout {running.layout!r} but target {target.name!r} describes "
                f"{target.sandbox.layout!r}: stop it (kosmos-dr sandbox down) or point KOSMOS_DR_SANDBOX_DIR at a "
                f"sandbox of that layout (kosmos-dr sandbox --state-dir DIR up --layout {target.sandbox.layout})")
        return target.name
    return next((t.name for t in sandboxes if t.sandbox.layout == running.layout), None)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:20] or "target"


class DRRun:
    """The validated run: raises DRConfigError on bad input at construction.

    Everything about a target (its sandbox, environment, incident, deadline) is on its
    ``TargetRun``: ``target_run(name)``, or ``target_runs`` for all of them.
    ``run_dir``: a folder reserved by the xdist controller (created here), else a new one.
    """

    def __init__(self, config: pytest.Config, run_dir: Path | None = None) -> None:
        self.config = config
        explicit = config.getoption("dr_config") or config.getini("dr_config") or None
        self.dr_config: DRConfig = load_config(config.rootpath, explicit)
        self.options = RunOptions.from_config(config, self.dr_config.default_target)
        names = list(self.dr_config.targets) if self.options.targets == ("all",) else list(self.options.targets)
        targets = [self.dr_config.target(name) for name in names]
        _refuse_unconfirmed_drills(self.options, targets)
        serves = _shared_sandbox_target(targets)  # may refuse the run: before its folder is made (none left behind)
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None:
            self.owner_pid = int(workerinput[OWNER_PID_KEY])
            self.run_dir = claim_run_dir(Path(workerinput[RUN_DIR_KEY]), self.owner_pid)
            self.is_controller = False
        elif run_dir is not None:
            self.owner_pid = os.getpid()
            self.run_dir = claim_run_dir(run_dir, self.owner_pid)
            self.is_controller = True
        else:
            self.run_dir = _new_run_dir()
            self.owner_pid = os.getpid()
            self.is_controller = True
        self.run_id = self.run_dir.name.rsplit("-", 1)[-1]  # lowercase hex: valid in RDS identifiers and tags
        single = len(targets) == 1
        # each target its own folder (and a sandbox started for it there): sandboxes of two layouts never share one
        self.target_runs: dict[str, TargetRun] = {
            t.name: TargetRun(self, t, self.run_dir if single else self.run_dir / t.name, t.name == serves)
            for t in targets
        }

    @property
    def multi(self) -> bool:
        return len(self.target_runs) > 1

    def target_run(self, name: str | None) -> TargetRun:
        """The named target's run; ``None`` names the only target of a single-target run."""
        if name is None:
            if self.multi:
                raise KeyError(f"this run has several targets ({', '.join(self.target_runs)}): name one")
            return next(iter(self.target_runs.values()))
        return self.target_runs[name]

    def close(self) -> None:
        """Controller only: clean up every target, then remove the run folder."""
        if not self.is_controller:
            return
        try:
            for target_run in self.target_runs.values():
                try:
                    target_run.close()
                except Exception:  # one target's cleanup must not stop the others'
                    if len(self.target_runs) == 1:
                        raise
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)
