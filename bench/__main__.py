"""`python -m bench` (`make bench`): run every benchmark in turn and print its figures."""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
from collections.abc import Callable
from types import FrameType

from bench import (
    analysts,
    api_replicas,
    console,
    event_pages,
    hop,
    idle,
    ingest,
    issues,
    listen,
    pipeline,
    projections,
    projections_scale,
    scale,
)
from bench.report import Report, render, render_aims

BENCHMARKS: dict[str, Callable[..., Report | list[Report]]] = {
    "idle": idle.run,
    "ingest": ingest.run,
    "pipeline": pipeline.run,
    "hop": hop.run,
    "projections": projections.run,
    "projections_scale": projections_scale.run,
    "analysts": analysts.run,
    "listen": listen.run,
    "issues": issues.run,
    "console": console.run,
    "event_pages": event_pages.run,
    "api_replicas": api_replicas.run,
    "scale": scale.run,
}


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # As for Ctrl-C: unwind, so every finally block stops the processes it started.
    raise KeyboardInterrupt


def counts(text: str) -> tuple[int, ...]:
    """ "1,2,4" → (1, 2, 4): worker counts, each at least 1."""
    found = tuple(int(part) for part in text.split(","))
    if not found or min(found) < 1:
        raise argparse.ArgumentTypeError("worker counts are integers of at least 1: 1,2")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (3 s each)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run this benchmark alone")
    parser.add_argument("--duration", type=float, help="seconds per load (default 10, quick 3)")
    parser.add_argument("--concurrency", type=int, help="closed-loop clients (default 64)")
    parser.add_argument(
        "--workers",
        type=counts,
        default=scale.COUNTS,
        metavar="N,M,…",
        help="the worker counts `scale` compares (default 1,2): `--only scale --workers 1,2,4`",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)

    print(
        f"# machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        flush=True,
    )
    names = [args.only] if args.only else list(BENCHMARKS)
    try:
        reports: list[Report] = []
        for name in names:
            options = {"counts": args.workers} if name == "scale" else {}
            made = BENCHMARKS[name](
                quick=args.quick, duration_s=args.duration, concurrency=args.concurrency, **options
            )
            reports += made if isinstance(made, list) else [made]
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        return 130
    for report in reports:
        print()
        print(render(report))
    if len(reports) > 1:
        print()
        print(render_aims(reports))
    # Missing an aim is a finding, not a failure of the benchmark: exit 0 either way.
    return 0


if __name__ == "__main__":
    sys.exit(main())
