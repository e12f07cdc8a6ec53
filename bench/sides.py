"""Before and after side by side in one run:
`python -m bench.sides BEFORE AFTER [ROUNDS [BENCHMARK]]`.

BEFORE and AFTER are two source trees of FastHook (e.g. `git archive main | tar -x -C /tmp/b`
and this one). BENCHMARK is `listen` (the default), `routing` (bench.pipeline's routing rows:
one router worker routing a backlog), `delivery` (its delivery row: one deliverer working
through 20,000 events to a fast receiver) or `idle` (the whole stack, nothing arriving). It runs
ROUNDS times for each, alternating (before, after, after, before, …) so the machine's load,
which moves by the minute on a shared machine, weighs on both sides alike; the services, the
API and the `fasthook listen` CLI run from each tree in turn, while the benchmark's own process
(the broker, the local server, the clock) is this tree's, the same instrument for both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from bench import idle, listen, pipeline, procs
from bench.report import Report, render

BENCHMARKS: dict[str, Callable[[], Report]] = {
    "listen": listen.run,
    "routing": pipeline.routing_run,
    "delivery": pipeline.delivery_run,
    "idle": idle.run,
}


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3, 4) or (len(argv) == 4 and argv[3] not in BENCHMARKS):
        print(__doc__, file=sys.stderr)
        return 2
    trees = {"before": Path(argv[0]).resolve(), "after": Path(argv[1]).resolve()}
    rounds = int(argv[2]) if len(argv) >= 3 else 2
    benchmark = BENCHMARKS[argv[3] if len(argv) == 4 else "listen"]
    # The children run `python -m …` in their tree (bench.procs.ROOT), which comes first on
    # their path; no PYTHONPATH may put this tree's code before it.
    os.environ.pop("PYTHONPATH", None)
    for round_ in range(rounds):
        order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
        for side in order:
            procs.ROOT = trees[side]
            load = os.getloadavg()
            report = benchmark()
            print(
                f"\n### {side} (round {round_ + 1}, {trees[side]}): load average "
                f"{load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
                flush=True,
            )
            print(render(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
