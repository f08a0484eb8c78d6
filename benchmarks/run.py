"""Time to a DR verdict: the gate suite against the sandbox, next to the plan's own procedure.

    python benchmarks/run.py            # default size, then the scale sandbox (--scale large)
    python benchmarks/run.py --quick    # default size only, one repetition
    python benchmarks/run.py --latency 200ms   # the latency case at another round trip (default 100ms)
    python benchmarks/run.py --xlarge   # also the 10,000,000-conversation sandbox (minutes to seed)

Every figure is the wall time of a whole command as a user runs it (interpreter start included),
the median of ``--repeat`` runs; peak memory is the pytest process's ``ru_maxrss`` (from
``wait4``). Sandboxes are started in throwaway folders and always stopped. The latency case runs the
gate and the procedure side by side on a second sandbox started with ``--latency`` (every endpoint's
responses delayed by that round trip, sandbox/latency.py). Per gate run: the requests each endpoint
received (the sandbox's request log) and the round trips each endpoint's latency proxy counted; the
critical path is *estimated* as (gate at latency L - gate at no latency) / L: the round trips the gate
waits for one after another. The end prints every figure next to its target (issue 18). Method and
results: ``docs/performance.md``.
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
sys.path.insert(0, str(REPO))  # the checkout's package (pytest_kosmos_dr.sandbox.manager, .latency)
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

    def __init__(self, scale: str, latency_ms: float = 0) -> None:
        self.scale, self.latency_ms = scale, latency_ms
        self.dir = Path(tempfile.mkdtemp(prefix=f"kosmos-dr-bench-{scale}-"))
        self.env = {**os.environ, "KOSMOS_DR_SANDBOX_DIR": str(self.dir)}
        self.env.pop("KOSMOS_DR_SANDBOX_SCALE", None)
        self.start_s = 0.0

    def __enter__(self) -> "Sandbox":
        cmd = [*KOSMOS_DR, "sandbox", "up", "--scale", self.scale]
        if self.latency_ms:
            cmd += ["--latency", f"{self.latency_ms:g}ms"]
        self.start_s, _, _ = run(cmd, self.env)
        return self

    def running(self):
        from pytest_kosmos_dr.sandbox import manager

        found = manager.find_running(self.dir)
        if found is None:
            raise SystemExit(f"the sandbox in {self.dir} is gone")
        return found

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
    at = f" at {sandbox.latency_ms:g} ms" if sandbox.latency_ms else ""
    wall, rss, walls, out = median_run([*PYTEST, "suites/", "-m", "gate"], sandbox.env, repeat)
    figures["gate"], figures["gate_rss"] = wall, rss
    row(f"pytest suites/ -m gate{at} (sandbox running)", f"{wall:.2f} s",
        f"peak {rss} MB; runs {', '.join(f'{w:.2f}' for w in walls)}; {summary_line(out)}")
    if procedure:
        script = sandbox.dir / "procedure.sh"
        script.write_text(PROCEDURE)
        pwall, _, pwalls, _ = median_run(["bash", str(script), str(sandbox.dir)], sandbox.env, repeat)
        figures["procedure"] = pwall
        row(f"plan procedure{at} (9 shell commands, fetch only)", f"{pwall:.2f} s",
            f"runs {', '.join(f'{w:.2f}' for w in pwalls)}")
        row(f"ratio gate / procedure{at}", f"{wall / pwall:.2f}",
            "(target <= 0.50)" if sandbox.latency_ms else "(target <= 1.0)")
    if parallel:
        nwall, nrss, nwalls, out = median_run([*PYTEST, "suites/", "-m", "gate", "-n", "2"], sandbox.env, repeat)
        figures["gate_n2"] = nwall
        row("pytest suites/ -m gate -n 2", f"{nwall:.2f} s",
            f"peak {nrss} MB (one worker); runs {', '.join(f'{w:.2f}' for w in nwalls)}; {summary_line(out)}")
    return figures


def request_counts(sandbox: Sandbox) -> dict[str, object]:
    """One more gate run, counted: the requests each endpoint received (the sandbox's request log: HTTP to
    AWS, Kubernetes, KOSMOS API, Grafana, status page; internal requests in that window included, e.g.
    the Route53 health checker's) and, behind latency proxies, each proxy's connections and round trips."""
    running = sandbox.running()
    before = running.latency_counts()
    running.clear_requests()
    run([*PYTEST, "suites/", "-m", "gate"], sandbox.env, check=False)
    entries = running.requests()
    after = running.latency_counts()
    per_component: dict[str, int] = {}
    for entry in entries:
        per_component[entry["component"]] = per_component.get(entry["component"], 0) + 1
    trips = {name: {key: value - before.get(name, {}).get(key, 0) for key, value in counts.items()}
             for name, counts in after.items()}
    total = len(entries)
    row("requests of one gate run (request log, HTTP)", f"{total}",
        ", ".join(f"{name} {count}" for name, count in sorted(per_component.items())))
    if trips:
        row("round trips through the latency proxies (client turns)", f"{sum(t['round_trips'] for t in trips.values())}",
            ", ".join(f"{name} {t['round_trips']} ({t['connections']} conn)" for name, t in sorted(trips.items())
                      if t["round_trips"] or t["connections"]))
    return {"requests": total, "per_component": per_component, "round_trips": trips}


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
    parser.add_argument("--latency", default="100ms", help="round trip of the latency case (default 100ms; 0: skip it)")
    args = parser.parse_args(argv)
    from pytest_kosmos_dr.sandbox.latency import parse_latency

    latency_ms = parse_latency(args.latency) * 1000
    results: dict[str, float | None] = {}
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
        figures = gate_figures(sandbox, repeat, procedure=True, parallel=True)
        results.update(gate_0=figures["gate"], procedure_0=figures["procedure"], rss=figures["gate_rss"],
                       cold_start=sandbox.start_s)
        results["requests"] = request_counts(sandbox)["requests"]
        pitr_drill(sandbox)

    if latency_ms:
        print(f"\nlatency case: the same sandbox started with --latency {latency_ms:g}ms (every endpoint's responses "
              "that much late)")
        with Sandbox("default", latency_ms) as sandbox:
            row(f"sandbox cold start (kosmos-dr sandbox up --latency {latency_ms:g}ms)", f"{sandbox.start_s:.2f} s")
            figures = gate_figures(sandbox, repeat, procedure=True, parallel=False)
            results.update(gate_l=figures["gate"], procedure_l=figures["procedure"])
            results["rss"] = max(results["rss"], figures["gate_rss"])
            counted = request_counts(sandbox)
            results["round_trips"] = sum(t["round_trips"] for t in counted["round_trips"].values())
            chain = (figures["gate"] - results["gate_0"]) / (latency_ms / 1000)
            results["critical_path"] = chain
            row("critical path (estimate: (gate at L - gate at 0) / L)", f"{chain:.0f} round trips",
                f"= {figures['gate'] - results['gate_0']:.2f} s of waiting at {latency_ms:g} ms")

    cold_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-bench-cold-"))
    try:  # no sandbox in this folder: the run starts one in its run folder and stops it
        env = {**os.environ, "KOSMOS_DR_SANDBOX_DIR": str(cold_dir)}
        env.pop("KOSMOS_DR_SANDBOX_SCALE", None)
        wall, rss, out = run([*PYTEST, "suites/"], env)
        results["cold_suites"] = wall
        results["rss"] = max(results["rss"], rss)
        row("pytest suites/ from cold (sandbox started by the run)", f"{wall:.2f} s",
            f"peak {rss} MB (target <= 10 s); {summary_line(out)}")
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
            figures = gate_figures(sandbox, repeat, procedure=True, parallel=True)
            if scale == "large":
                results["gate_large"] = figures["gate"]
                results["rss"] = max(results["rss"], figures["gate_rss"])
            pitr_drill(sandbox)
    print_targets(results, latency_ms)
    return 0


def print_targets(results: dict, latency_ms: float) -> None:
    """Every figure of issue 18 next to its target: met, missed, or not measured in this run."""
    def ratio(a: str, b: str) -> float | None:
        return results[a] / results[b] if results.get(a) is not None and results.get(b) else None

    at = f"{latency_ms:g} ms"
    lines = [
        (f"gate at --latency {at}", results.get("gate_l"), "s", 3.0),
        (f"gate / procedure at --latency {at}", ratio("gate_l", "procedure_l"), "x", 0.5),
        ("gate / procedure at no added latency", ratio("gate_0", "procedure_0"), "x", 1.0),
        ("gate at scale large", results.get("gate_large"), "s", 6.0),
        ("cold pytest suites/", results.get("cold_suites"), "s", 10.0),
        ("peak memory (pytest processes)", results.get("rss"), "MB", 300),
        ("cold start, default size (kosmos-dr sandbox up)", results.get("cold_start"), "s", 10.0),
    ]
    print("\ntargets (issue 18)")
    for label, value, unit, limit in lines:
        if value is None:
            row(label, "not run", f"(target <= {limit:g} {unit}; run without --quick for scale large)"
                if "scale" in label else f"(target <= {limit:g} {unit})")
            continue
        shown = f"{value:.2f} {unit}" if unit != "MB" else f"{value:.0f} {unit}"
        row(label, shown, f"target <= {limit:g} {unit}: {'met' if value <= limit else 'MISSED'}")
    row("requests of one gate run (HTTP, request log)", str(results.get("requests", "?")), "(reported, no target)")
    if results.get("round_trips") is not None:
        row(f"round trips of one gate run through the proxies at {at}", str(results["round_trips"]),
            "(reported, no target)")
    if results.get("critical_path") is not None:
        row("critical path, estimated ((gate at L - gate at 0) / L)", f"{results['critical_path']:.0f} round trips",
            "(reported, no target)")


if __name__ == "__main__":
    sys.exit(main())
