"""Time to a DR verdict: the gate suite against the sandbox, next to the plan's own procedure.

    python benchmarks/run.py            # default size, then the scale sandbox (--scale large)
    python benchmarks/run.py --quick    # default size only, one repetition
    python benchmarks/run.py --xlarge   # also the 10,000,000-conversation sandbox (minutes to seed)

Every figure is the wall time of a whole command as a user runs it (interpreter start included),
the median of ``--repeat`` runs; peak memory is the pytest process's ``ru_maxrss`` (from
``wait4``). Sandboxes are started in throwaway folders and always stopped. Method and results:
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
KOSMOS_DR = [PYTHON, "-m", "pytest_kosmos_dr.cli"]
PYTEST = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q"]

# The plan's procedure as an engineer types it (sequentially), against the same sandbox.
PROCEDURE = r"""
set -u
source "$1/sandbox.env"
kubectl get nodes --context=dr-cluster
kubectl get pods -n kosmos --context=dr-cluster
kubectl top pods -n kosmos
aws rds describe-db-snapshots --db-instance-identifier kosmos-prod --region us-east-1 --endpoint-url "$AWS_ENDPOINT_URL"
aws s3 ls s3://kosmos-backups/agent-state/ --recursive --endpoint-url "$AWS_ENDPOINT_URL"
psql -c "SELECT 1"
psql -c "SELECT COUNT(*) FROM conversations WHERE created_at > now() - interval '1 hour'"
curl -s -H "Authorization: Bearer $KOSMOS_API_TOKEN" "$KOSMOS_API_URL/health"
curl -s "$KOSMOS_GRAFANA_URL/api/health"
"""


def run(cmd: list[str], env: dict[str, str], *, check: bool = True) -> tuple[float, int, str]:
    """(wall seconds, peak RSS of the process in MB, output) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if check and proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return wall, usage.ru_maxrss // 1024, output


def median_run(cmd: list[str], env: dict[str, str], repeat: int) -> tuple[float, int, list[float], str]:
    results = [run(cmd, env) for _ in range(repeat)]
    walls = [r[0] for r in results]
    return statistics.median(walls), max(r[1] for r in results), walls, results[-1][2]


def summary_line(output: str) -> str:
    lines = [line for line in output.splitlines() if " passed" in line or " failed" in line]
    return lines[-1].strip() if lines else "?"


class Sandbox:
    """A sandbox in a throwaway folder: started on entry (timed), always stopped on exit."""

    def __init__(self, scale: str) -> None:
        self.scale = scale
        self.dir = Path(tempfile.mkdtemp(prefix=f"kosmos-dr-bench-{scale}-"))
        self.env = {**os.environ, "KOSMOS_DR_SANDBOX_DIR": str(self.dir)}
        self.env.pop("KOSMOS_DR_SANDBOX_SCALE", None)
        self.start_s = 0.0

    def __enter__(self) -> "Sandbox":
        self.start_s, _, _ = run([*KOSMOS_DR, "sandbox", "up", "--scale", self.scale], self.env)
        return self

    def __exit__(self, *exc) -> None:
        run([*KOSMOS_DR, "sandbox", "down"], self.env, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def phases(self) -> str:
        """The daemon's own log: how long the AWS side (PostgreSQL seeding, moto) took."""
        log = (self.dir / "sandbox.log").read_text() if (self.dir / "sandbox.log").exists() else ""
        found = [line.split("INFO ", 1)[1] for line in log.splitlines() if "aws side ready" in line]
        return found[-1] if found else "?"


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<58} {value:>12}  {note}")


def gate_figures(sandbox: Sandbox, repeat: int, *, procedure: bool, parallel: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    wall, rss, walls, out = median_run([*PYTEST, "suites/", "-m", "gate"], sandbox.env, repeat)
    figures["gate"], figures["gate_rss"] = wall, rss
    row("pytest suites/ -m gate (sandbox running)", f"{wall:.2f} s",
        f"peak {rss} MB; runs {', '.join(f'{w:.2f}' for w in walls)}; {summary_line(out)}")
    if procedure:
        script = sandbox.dir / "procedure.sh"
        script.write_text(PROCEDURE)
        pwall, _, pwalls, _ = median_run(["bash", str(script), str(sandbox.dir)], sandbox.env, repeat)
        figures["procedure"] = pwall
        row("plan procedure as shell commands (9 commands, fetch only)", f"{pwall:.2f} s",
            f"runs {', '.join(f'{w:.2f}' for w in pwalls)}")
        row("ratio gate / procedure", f"{wall / pwall:.2f}", "(target <= 0.50)")
    if parallel:
        nwall, nrss, nwalls, out = median_run([*PYTEST, "suites/", "-m", "gate", "-n", "2"], sandbox.env, repeat)
        figures["gate_n2"] = nwall
        row("pytest suites/ -m gate -n 2", f"{nwall:.2f} s",
            f"peak {nrss} MB (one worker); runs {', '.join(f'{w:.2f}' for w in nwalls)}; {summary_line(out)}")
    return figures


def pitr_drill(sandbox: Sandbox) -> float:
    wall, rss, out = run([*PYTEST, "suites/test_database_recovery.py", "--dr-allow-restore", "-k",
                          "point_in_time or intact_up_to"], sandbox.env, check=False)
    broken = [line.strip() for line in out.splitlines() if line.startswith(("BROKEN", "FAILED"))]
    row("point-in-time restore drill (REC-DB-PITR + REC-DB-INTEGRITY)", f"{wall:.2f} s",
        f"peak {rss} MB; {summary_line(out)}")
    for line in broken[:1]:
        row("  drill outcome", "", line[:160])
    return wall


def database_size(sandbox: Sandbox) -> str:
    out = subprocess.run(["bash", "-c", f'source "{sandbox.dir}/sandbox.env" && psql -Atc '
                          '"SELECT (SELECT count(*) FROM conversations) || \' conversations, \' || '
                          '(SELECT count(*) FROM messages) || \' messages, \' || '
                          'pg_size_pretty(pg_database_size(current_database()))"'],
                         capture_output=True, text=True, cwd=REPO)
    return out.stdout.strip() or out.stderr.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="default size only, one repetition")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions per figure (default 3; --quick 1)")
    parser.add_argument("--xlarge", action="store_true", help="also the 10,000,000-conversation sandbox")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    for tool in ("kubectl", "aws", "psql", "curl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not on PATH (the shell procedure needs it)")
    print(f"kosmos-dr benchmarks: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, median of {repeat}\n")

    print("default size (3 nodes, 5 pods, 2,000 conversations, 126 agent-state archives)")
    with Sandbox("default") as sandbox:
        row("sandbox cold start (kosmos-dr sandbox up)", f"{sandbox.start_s:.2f} s",
            f"(target <= 10 s; {sandbox.phases()})")
        row("database", database_size(sandbox))
        gate_figures(sandbox, repeat, procedure=True, parallel=True)
        pitr_drill(sandbox)

    cold_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-bench-cold-"))
    try:  # no sandbox in this folder: the run starts one in its run folder and stops it
        env = {**os.environ, "KOSMOS_DR_SANDBOX_DIR": str(cold_dir)}
        env.pop("KOSMOS_DR_SANDBOX_SCALE", None)
        wall, rss, out = run([*PYTEST, "suites/"], env)
        row("pytest suites/ from cold (sandbox started by the run)", f"{wall:.2f} s",
            f"peak {rss} MB (target <= 15 s); {summary_line(out)}")
    finally:
        shutil.rmtree(cold_dir, ignore_errors=True)

    scales = [] if args.quick else ["large"]
    if args.xlarge:
        scales.append("xlarge")
    for scale in scales:
        conversations = "1,000,000" if scale == "large" else "10,000,000"
        print(f"\nscale {scale} (200 nodes, 2,000 pods, {conversations} conversations, 20,001 agent-state archives)")
        with Sandbox(scale) as sandbox:
            row(f"sandbox cold start (kosmos-dr sandbox up --scale {scale})", f"{sandbox.start_s:.2f} s",
                f"({sandbox.phases()})")
            row("database", database_size(sandbox))
            gate_figures(sandbox, repeat, procedure=True, parallel=True)
            pitr_drill(sandbox)
    return 0


if __name__ == "__main__":
    sys.exit(main())
