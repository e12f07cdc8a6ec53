"""The whole stack at rest: CPU each process of `fasthook run` uses with nothing arriving.

`fasthook run` (broker, ClickHouse owner, every service, supervised) starts on free ports in a
temp dir; once its banner is out and start-up work has settled, the CPU seconds of each
service's process group are read from /proc over a window. CPU seconds, not wall-clock rates:
they hold on a machine other work is loading. Aim: the whole stack under 5% of one core.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.cpu import group_cpu_seconds, supervised_children
from bench.procs import Child, python
from bench.report import Report
from fasthook.embedded import free_port
from runtime import wire

AIM_CORES = 0.05
SERVICES = ("ingress", "api", "router", "deliverer", "projections", "issues", "console")
PORTS = (
    "INGRESS",
    "API",
    "ROUTER",
    "DELIVERER",
    "PROJECTIONS",
    "ISSUES",
    "INGRESS_METRICS",
    "ANALYSTS",
    "CONSOLE",
)
BANNER = "Ctrl-C stops everything"


def start_stack(tmp: Path, timeout_s: float = 120.0) -> Child:
    env = {f"FASTHOOK_{name}_PORT": str(free_port()) for name in PORTS}
    env.update(FASTHOOK_DATA_DIR=str(tmp / "data"), FASTHOOK_LOG_FORMAT="text")
    # Each service counts its broker requests by kind: what still wakes an idle stack.
    env[wire.ENV] = str(tmp / "wire")
    child = Child(
        "fasthook run",
        python("-m", "fasthook", "run", "--kafka-port", str(free_port())),
        tmp / "run.log",
        env,
    )
    deadline = time.monotonic() + timeout_s
    while BANNER not in child.log_path.read_text(errors="replace"):
        child.check_alive()
        if time.monotonic() > deadline:
            child.stop(60)
            raise RuntimeError(f"fasthook run printed no banner within {timeout_s}s")
        time.sleep(0.2)
    return child


def measure(
    parent_pid: int, window_s: float, wire_dir: Path
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Cores each child used over the window (CPU seconds / wall seconds), and the broker
    requests each service sent a second, by kind."""
    groups = supervised_children(parent_pid, SERVICES)
    services = {name: pid for name, pid in groups.items() if name != "broker"}
    trips = wire.read_counts(wire_dir, services)
    before, started = {n: group_cpu_seconds(p) for n, p in groups.items()}, time.monotonic()
    time.sleep(window_s)
    after, elapsed = {n: group_cpu_seconds(p) for n, p in groups.items()}, time.monotonic()
    seconds = elapsed - started
    per_s = wire.per_accepted(trips, wire.read_counts(wire_dir, services), seconds)
    return {name: (after[name] - before[name]) / seconds for name in groups}, per_s


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    window_s = duration_s or (5.0 if quick else 20.0)
    settle_s = 5.0 if quick else 10.0
    report = Report(
        "Whole stack idle (`fasthook run`, nothing arriving)",
        ["process", "% of one core", "CPU s in window", "broker requests a second"],
    )
    with tempfile.TemporaryDirectory(prefix="fasthook-bench-idle-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            time.sleep(settle_s)  # start-up work (tables, recovery) runs on past the banner
            cores, trips = measure(stack.process.pid, window_s, Path(tmp) / "wire")
            stack.check_alive()
        finally:
            stack.stop(60)
    for name in (*SERVICES, "broker"):
        if name in cores:
            sent = wire.render({name: trips[name]}) if name in trips else ""
            report.rows.append(
                [name, f"{cores[name] * 100:.1f}", f"{cores[name] * window_s:.2f}", sent]
            )
    total = sum(cores.values())
    all_trips = sum(sum(by_kind.values()) for by_kind in trips.values())
    report.rows.append(
        ["total", f"{total * 100:.1f}", f"{total * window_s:.2f}", f"{all_trips:.1f}"]
    )
    report.aims.append(
        (
            f"whole stack idle {total * 100:.1f}% of one core (aim < {AIM_CORES * 100:.0f}%)",
            total < AIM_CORES,
        )
    )
    report.notes.append(
        f"{window_s:.0f} s window after {settle_s:.0f} s of settling; CPU "
        "seconds from /proc per process group, so other load on the machine "
        "does not inflate them"
    )
    return report
