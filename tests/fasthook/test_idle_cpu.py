"""An idle stack rests: nothing arriving, the whole `fasthook run` tree uses a sliver of a core.

The embedded broker answers an empty fetch at once instead of holding it, so a consumer that
does not rest by itself spins; before the fix the idle stack took over half a core (the router
most). The bound is a generous bug guard, not a performance figure (`python -m bench --only idle`
prints those): a spinning consumer alone breaks it on any machine.
"""

from __future__ import annotations

import asyncio
import time

from tests.support.supervised import SERVICES, SupervisedStack

WINDOW_S = 10.0
BOUND_CORES = 0.30
# Start-up work (projections creating tables, the router recovering its table) may run on past
# the banner: the stack must rest in one of a few windows, and a spinning consumer never does.
WINDOWS = 4


async def test_an_idle_stack_uses_under_a_third_of_a_core(tmp_path):
    stack = SupervisedStack(tmp_path)
    try:
        await stack.start()
        assert set(stack.cpu_seconds()) == {*SERVICES, "broker"}
        measured: list[dict[str, float]] = []
        for _ in range(WINDOWS):
            before, started = stack.cpu_seconds(), time.monotonic()
            await asyncio.sleep(WINDOW_S)
            after, elapsed = stack.cpu_seconds(), time.monotonic() - started
            cores = {name: (after[name] - before[name]) / elapsed for name in after}
            measured.append(cores)
            if sum(cores.values()) < BOUND_CORES:
                break
        else:
            raise AssertionError(
                f"idle stack never rested below {BOUND_CORES} cores: "
                + "; ".join(
                    f"{sum(m.values()):.2f} cores ("
                    + ", ".join(f"{name} {used:.2f}" for name, used in sorted(m.items()))
                    + ")"
                    for m in measured
                )
            )
        await stack.stop()
    finally:
        stack.kill()
