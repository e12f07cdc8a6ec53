"""Bounded teardown steps: a stack's teardown that hangs fails naming the step and showing where
every task of the loop was waiting, instead of one opaque pytest-timeout at the test's end."""

from __future__ import annotations

import asyncio
import inspect
import io
from collections.abc import Awaitable, Callable

STEP_TIMEOUT_S = 90.0


def task_stacks() -> str:
    """Where each task of the running loop is waiting."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        out.write(f"--- {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(limit=12, file=out)
    return out.getvalue()


async def step(name: str, work: Awaitable[object], timeout_s: float = STEP_TIMEOUT_S) -> None:
    """Await one teardown step; if it takes longer than `timeout_s`, fail with every task's
    stack (taken before the step is cancelled)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if done:
        task.result()
        return
    stacks = task_stacks()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    raise AssertionError(f"teardown step {name!r} did not finish in {timeout_s:.0f} s:\n{stacks}")


async def run_all(steps: list[tuple[str, Callable[[], object]]]) -> None:
    """Every step in order, each bounded, the later ones even when an earlier one failed; then
    the first failure."""
    failures: list[BaseException] = []
    for name, call in steps:
        try:
            result = call()
            if inspect.isawaitable(result):
                await step(name, result)
        except Exception as failure:  # reported after the other steps ran
            failures.append(failure)
    if failures:
        raise failures[0]
