"""CPU time of process groups, from /proc: on 2 cores it tells who ran out of CPU first."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system seconds of every live process in group `pgid` (all threads included).

    Whole groups, because a child may fork helpers (noida-db is a launcher script).
    """
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # Fields after the ")" that closes the command name (which may hold spaces).
        fields = stat.rpartition(")")[2].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def snapshot(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each group, and of the whole machine under "machine"."""
    return {"machine": machine_busy_seconds()} | {
        name: group_cpu_seconds(pgid) for name, pgid in groups.items()
    }


def machine_busy_seconds() -> float:
    """Non-idle CPU seconds of the whole machine since boot, all cores together.

    Minus what the benchmark's own processes used, it shows whether something else ran at the
    same time: on a shared 2-core machine that alone can halve a figure.
    """
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICKS


def supervised_children(parent_pid: int, names: tuple[str, ...]) -> dict[str, int]:
    """The live children of a `fasthook run` supervisor: service name (`python -m NAME`), or
    "broker" for the embedded broker, to pid (of a service with several workers, the oldest).
    The supervisor starts each in its own process group, so a pid is also the group to count
    with `group_cpu_seconds`."""
    return {name: pids[0] for name, pids in supervised_workers(parent_pid, names).items()}


def supervised_workers(parent_pid: int, names: tuple[str, ...]) -> dict[str, list[int]]:
    """As `supervised_children`, every process of each (`fasthook run --workers`), by pid."""
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        # Fields after the command name, which may hold spaces: state, ppid, ...
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) != parent_pid or state == "Z":
            continue
        if argv and argv[0].endswith(b"noida-db"):
            found.setdefault("broker", []).append(int(entry.name))
        elif len(argv) > 2 and argv[1] == b"-m" and argv[2].decode() in names:
            found.setdefault(argv[2].decode(), []).append(int(entry.name))
    return {name: sorted(pids) for name, pids in found.items()}
