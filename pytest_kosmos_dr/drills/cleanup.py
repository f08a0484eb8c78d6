"""``kosmos-dr cleanup``: undo what killed drill runs left behind, and nothing else.

What it undoes, for one target:

* changes recorded in the run folders of runs whose process is gone (``changes.jsonl``): a kill
  switch still engaged with that run's reason is released, a scratch folder in an agent's pod is
  removed, the drill lease still held by that run is deleted;
* restored instances tagged by this tool whose run is not alive. Whether a run is alive is decided
  from the target's drill lease (holder = its run id and renewTime fresh), not from a local PID: an
  instance of a live run on another host is left alone. What this host knows for certain (the run
  ran here and its process is gone) counts as dead without waiting for the lease to expire.
* run folders of killed runs, once nothing they recorded is left to undo.

With no sandbox running, the sandbox target's changes went with it, but PostgreSQL servers a killed
sandbox daemon left running are found (by their ``postmaster.pid``) and stopped, never assumed gone.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import changes, resources

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass
class DeadRun:
    """A run folder whose owning process is gone, and what it recorded."""

    folder: Path
    run_ids: set[str] = field(default_factory=set)
    pending: list[tuple[Path, dict]] = field(default_factory=list)  # (the TargetRun folder, change)


def dead_runs() -> list[DeadRun]:
    from ..run import stale_run_dirs

    found = []
    for folder in stale_run_dirs():
        run = DeadRun(folder, {folder.name.rsplit("-", 1)[-1]})
        for ledger in sorted(folder.rglob(changes.CHANGES)):
            for entry in changes.pending(ledger.parent):
                run.pending.append((ledger.parent, entry))
                if entry.get("run_id"):
                    run.run_ids.add(str(entry["run_id"]))
        for ledger in sorted(folder.rglob(resources.LEDGER)):
            try:
                run.run_ids.update(item.run_id for item in resources.recorded(ledger.parent))
            except (ValueError, TypeError, KeyError):
                pass
        found.append(run)
    return found


def cleanup_command(target_name: str | None, config: str | None, dry_run: bool) -> int:
    """``kosmos-dr cleanup [--target NAME] [--config FILE] [--dry-run]``: 0 when everything left behind
    was undone (or, with --dry-run, listed), 1 when something could not be undone or decided."""
    from ..config import load_config

    target = load_config(Path.cwd(), config).target(target_name or "sandbox")
    return Cleanup(target, dry_run).run()


class Cleanup:
    def __init__(self, target, dry_run: bool) -> None:
        self.target = target
        self.dry_run = dry_run
        self.failed = False
        self.resolved: set[str] = set()  # ids of recorded changes undone (or found already undone)
        self.dead = dead_runs()
        self.dead_ids = {run_id for run in self.dead for run_id in run.run_ids}

    def say(self, line: str, problem: bool = False) -> None:
        print(line, file=sys.stderr if problem else sys.stdout)
        if problem:
            self.failed = True

    def run(self) -> int:
        state = None
        if self.target.is_sandbox:
            from ..sandbox import manager

            running = manager.find_running(manager.default_state_dir())
            if running is None:
                self._sandbox_gone(manager.default_state_dir())
                self._remove_run_folders(sandbox_gone=True)
                return EXIT_FAILED if self.failed else EXIT_OK
            state = running.state
        from ..environment import resolve

        env = resolve(self.target, state)
        mine = [(folder, entry) for run in self.dead for folder, entry in run.pending
                if entry.get("target") == self.target.name]
        self._kill_switches(env, [e for _, e in mine if e["kind"] == changes.KILL_SWITCH])
        cluster = self._cluster(env)
        self._scratch(env, [e for _, e in mine if e["kind"] == changes.SCRATCH])
        self._instances(env, cluster)
        self._leases(cluster, [e for _, e in mine if e["kind"] == changes.LEASE])
        self._remove_run_folders()
        return EXIT_FAILED if self.failed else EXIT_OK

    # -- the kill switch ------------------------------------------------------------------------
    def _kill_switches(self, env, entries: list[dict]) -> None:
        if not entries:
            return
        from ..clients.http import http_client
        from .kill_switch import release_recorded

        try:
            with http_client(env.api_url, self.target.timeouts, env.api_token, env.verify_tls) as api:
                for entry in entries:
                    done, line = release_recorded(api, self.target.kill_switch, entry, self.dry_run)
                    self._settle(entry, done, line)
        except Exception as exc:  # noqa: BLE001 - one line, the rest still runs
            self.say(f"kosmos-dr cleanup: kill switch: could not reach the KOSMOS API: {_plain(exc)}", problem=True)

    # -- scratch folders in agent pods ----------------------------------------------------------
    def _scratch(self, env, entries: list[dict]) -> None:
        from .agent_state import PodFiles, remove_recorded

        for entry in entries:
            files = PodFiles(env.kubeconfig, env.kube_context, str(entry.get("namespace") or ""),
                             str(entry.get("pod") or ""))
            try:
                done, line = remove_recorded(files, entry, self.dry_run)
            except Exception as exc:  # noqa: BLE001
                done, line = False, f"scratch folder {entry.get('path')} of run {entry.get('run_id')}: {_plain(exc)}"
            self._settle(entry, done, line)

    # -- restored instances -------------------------------------------------------------------
    def _instances(self, env, cluster) -> None:
        from ..clients.aws import AwsClients, describe_error

        aws = AwsClients(self.target.aws.profile, self.target.aws.secondary_region, self.target.timeouts,
                         env.aws_endpoint_url, env.aws_credentials)
        found = 0
        for region in dict.fromkeys((self.target.aws.primary_region, self.target.aws.secondary_region)):
            rds = aws.client("rds", region)
            try:
                tagged = resources.tagged_instances(rds)
            except Exception as exc:  # noqa: BLE001 - botocore: one line per region, go on with the next
                self.say(f"kosmos-dr cleanup: {region}: {describe_error(exc)[1]}", problem=True)
                continue
            for identifier, tags in tagged:
                found += 1
                run_id = tags.get(resources.TAG_RUN, "")
                alive, why = self._alive(run_id, tags, cluster)
                if alive is None:
                    self.say(f"{region}/{identifier}: left alone, cannot tell whether run {run_id} is alive ({why})",
                             problem=True)
                    continue
                if alive:
                    self.say(f"{region}/{identifier}: left alone, run {run_id} is alive: {why}")
                    continue
                if self.dry_run:
                    self.say(f"would delete {region}/{identifier} (run {run_id}: {why})")
                    continue
                try:
                    self.say(f"{region}/{identifier}: {resources.delete_if_ours(rds, identifier)} (run {run_id}: {why})")
                except Exception as exc:  # noqa: BLE001
                    self.say(f"{region}/{identifier}: NOT deleted: {describe_error(exc)[1]}", problem=True)
        if not found:
            self.say(f"nothing to clean up for target {self.target.name}: no instance tagged by pytest-kosmos-dr")

    def _alive(self, run_id: str, tags: dict[str, str], cluster) -> tuple[bool | None, str]:
        """(alive, why): dead when this host saw its run die; else what the target's drill lease says."""
        if run_id and run_id in self.dead_ids:
            return False, "its run folder on this host shows its process gone"
        here = resources.local_owner_state(tags)
        if here is True:
            return True, f"its process {tags.get(resources.TAG_PID)} runs on this host"
        if cluster is None:
            return None, "the DR cluster (and its drill lease) could not be reached"
        from .lease import run_is_alive

        try:
            alive, why = run_is_alive(cluster, self.target.kubernetes.namespace, run_id)
        except Exception as exc:  # noqa: BLE001
            return None, f"drill lease unreadable: {_plain(exc)}"
        if alive or here is None:
            return alive, why
        return False, f"its process on this host is gone ({why})"

    # -- the drill lease ------------------------------------------------------------------------
    def _leases(self, cluster, entries: list[dict]) -> None:
        from .lease import LEASE_NAME, delete_if_held_by, read

        if cluster is None:
            for entry in entries:
                self.say(f"drill lease of run {entry.get('run_id')}: not checked (the DR cluster could not be "
                         "reached); it expires by itself", problem=True)
            return
        namespace = self.target.kubernetes.namespace
        for entry in entries:
            holder = str(entry.get("holder") or entry.get("run_id") or "")
            where = f"{entry.get('namespace') or namespace}/{entry.get('name') or LEASE_NAME}"
            try:
                found = read(cluster, str(entry.get("namespace") or namespace), str(entry.get("name") or LEASE_NAME))
                if found is None or found[0].holder != holder:
                    now = "gone" if found is None else f"held by run {found[0].holder} now"
                    self._settle(entry, True, f"drill lease {where} of run {holder}: {now}, left as it is")
                    continue
                if self.dry_run:
                    self._settle(entry, False, f"would delete drill lease {where} held by dead run {holder}")
                    continue
                outcome = delete_if_held_by(cluster, str(entry.get("namespace") or namespace), holder,
                                            str(entry.get("name") or LEASE_NAME))
                self._settle(entry, True, f"drill lease {where} of run {holder}: {outcome}")
            except Exception as exc:  # noqa: BLE001
                self._settle(entry, False, f"drill lease {where} of run {holder}: {_plain(exc)}")
        # a lease that expired is nobody's: deleted (resourceVersion-checked) so the next run need not take it over
        try:
            found = read(cluster, namespace)
        except Exception:  # noqa: BLE001 - reported above when it matters
            return
        if found is not None and not found[0].held() and not self.dry_run:
            state = found[0]
            if state.holder not in self.dead_ids and state.fresh():
                return
            self.say(f"drill lease {namespace}/{LEASE_NAME} of run {state.holder or '-'} (no longer held): "
                     f"{delete_if_held_by(cluster, namespace, state.holder)}")

    def _cluster(self, env):
        from ..clients.kube import connect

        try:
            return connect(env.kubeconfig, env.kube_context, self.target.timeouts,
                           in_cluster=self.target.kubernetes.in_cluster)
        except Exception as exc:  # noqa: BLE001
            self.say(f"kosmos-dr cleanup: DR cluster: {_plain(exc)}", problem=True)
            return None

    def _settle(self, entry: dict, done: bool, line: str) -> None:
        if done:
            self.resolved.add(entry["id"])
            self.say(line)
        else:
            self.say(line, problem=not self.dry_run)

    # -- run folders ----------------------------------------------------------------------------
    def _remove_run_folders(self, sandbox_gone: bool = False) -> None:
        for run in self.dead:
            left = [e for _, e in run.pending if e["id"] not in self.resolved
                    and not (sandbox_gone and e.get("target") == self.target.name)]
            if left:
                others = sorted({str(e.get("target")) for e in left if e.get("target") != self.target.name})
                hint = f" (run kosmos-dr cleanup --target {others[0]})" if others else ""
                self.say(f"kept run folder {run.folder}: {len(left)} recorded change(s) not undone{hint}")
                continue
            if self.dry_run:
                self.say(f"would remove run folder {run.folder}")
            else:
                shutil.rmtree(run.folder, ignore_errors=True)
                self.say(f"removed run folder {run.folder} (its run is gone)")

    # -- a sandbox that is not running ------------------------------------------------------------
    def _sandbox_gone(self, state_dir: Path) -> None:
        orphans = orphaned_servers(state_dir)
        if not orphans:
            self.say("no sandbox running: nothing to clean (no PostgreSQL server of a sandbox is left running)")
            return
        for data_dir, servers in orphans.items():
            listed = ", ".join(f"pid {pid} ({folder.name})" for folder, pid in servers)
            if self.dry_run:
                self.say(f"no sandbox running, but its PostgreSQL servers still run: {listed} under {data_dir}; "
                         "would stop them")
                continue
            from ..sandbox.postgres import stop_servers_under

            stop_servers_under(data_dir)
            still = [pid for _, pid in servers if resources.process_alive(pid)]
            if still:
                self.say(f"no sandbox running, but its PostgreSQL servers still run under {data_dir}: could not stop "
                         f"pid {', '.join(map(str, still))}", problem=True)
            else:
                shutil.rmtree(data_dir, ignore_errors=True)
                self.say(f"no sandbox running; stopped the PostgreSQL servers it left running: {listed}, and removed "
                         f"{data_dir}")


def orphaned_servers(state_dir: Path) -> dict[Path, list[tuple[Path, int]]]:
    """Running PostgreSQL servers in sandbox data folders no live sandbox daemon (or its watchdog) owns:
    data folder -> [(server folder, postmaster pid)]."""
    from ..sandbox.postgres import sandbox_data_folders

    candidates = set(sandbox_data_folders())  # $TMPDIR, or memory (/dev/shm) for a default-size sandbox
    try:  # the default sandbox's own record, wherever its data folder is
        recorded = json.loads((Path(state_dir) / "sandbox.json").read_text()).get("data_dir")
        if recorded:
            candidates.add(Path(recorded))
    except (OSError, ValueError, AttributeError):
        pass
    owned = _owned_data_dirs()
    found: dict[Path, list[tuple[Path, int]]] = {}
    for data_dir in sorted(candidates):
        if data_dir.resolve() in owned or not data_dir.is_dir():
            continue
        for pid_file in sorted(data_dir.rglob("postmaster.pid")):
            try:
                pid = int(pid_file.read_text().splitlines()[0])
            except (OSError, ValueError, IndexError):
                continue
            if resources.process_alive(pid) and _is_postgres(pid):
                found.setdefault(data_dir, []).append((pid_file.parent, pid))
    return found


def _owned_data_dirs() -> set[Path]:
    """Data folders of live sandbox daemons (via their state folder) and of live watchdogs (which clean
    up themselves)."""
    from ..sandbox.manager import DAEMON_MODULE

    owned: set[Path] = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if DAEMON_MODULE not in argv:
            continue
        for flag in ("--data-dir", "--state-dir"):
            if flag in argv and argv.index(flag) + 1 < len(argv):
                value = Path(argv[argv.index(flag) + 1])
                if flag == "--data-dir":
                    owned.add(value.resolve())
                else:
                    try:
                        owned.add(Path(json.loads((value / "sandbox.json").read_text())["data_dir"]).resolve())
                    except (OSError, ValueError, KeyError, TypeError):
                        pass
    return owned


def _is_postgres(pid: int) -> bool:
    try:
        return b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust postmaster.pid




def _plain(exc: BaseException) -> str:
    from ..outcomes import plain_words

    return str(exc) if hasattr(exc, "reason") else plain_words(exc)


def undo_run(target_run) -> list[str]:
    """For ``TargetRun.close`` (the controller, at the end of a run): undo what this run's drills recorded and
    did not undo themselves (a worker killed mid-drill). Returns one line per change."""
    pending = changes.pending(target_run.run_dir)
    if not pending:
        return []
    lines: list[str] = []
    cleanup = Cleanup.__new__(Cleanup)
    cleanup.target, cleanup.dry_run, cleanup.failed, cleanup.resolved = target_run.target, False, False, set()
    cleanup.dead, cleanup.dead_ids = [], {target_run.run_id}
    cleanup.say = lambda line, problem=False: lines.append(line)  # type: ignore[method-assign]
    env = target_run.environment
    cleanup._kill_switches(env, [e for e in pending if e["kind"] == changes.KILL_SWITCH])
    cluster = cleanup._cluster(env)
    cleanup._scratch(env, [e for e in pending if e["kind"] == changes.SCRATCH])
    cleanup._leases(cluster, [e for e in pending if e["kind"] == changes.LEASE])
    return lines
