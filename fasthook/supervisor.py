"""Keeps child processes running: a process that dies is restarted with backoff, and logged.

A child's output goes to its own log file when the spec names one (a file, not a pipe: a
child never blocks on a reader, and outlives a supervisor that is killed). Every state change
is also told to `on_change`, which `fasthook run` turns into one line on the terminal.

Ctrl-C (or SIGTERM) stops every child: SIGTERM first so services finish in-flight work, then
SIGKILL for whatever outlives the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None


# (service, state, details): state is "started", "exited" or "restarted".
OnChange = Callable[[str, str, dict[str, Any]], None]


@dataclass
class Backoff:
    initial_s: float = 0.5
    cap_s: float = 30.0
    # A process that stayed up this long is healthy again: start over from `initial_s`.
    stable_after_s: float = 60.0
    current_s: float = 0.0

    def next_delay(self, lived_s: float) -> float:
        if lived_s >= self.stable_after_s or self.current_s == 0.0:
            self.current_s = self.initial_s
        else:
            self.current_s = min(self.cap_s, self.current_s * 2)
        return self.current_s


class Supervisor:
    def __init__(self, grace_s: float = 15.0, on_change: OnChange | None = None) -> None:
        self.grace_s = grace_s
        self.on_change = on_change
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.restarts: dict[str, int] = {}
        # Where each child's current run begins in its log file (what a crash line reads).
        self.log_offsets: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._started: dict[str, asyncio.Event] = {}

    def add(self, spec: ServiceSpec) -> None:
        self._started[spec.name] = asyncio.Event()
        self.restarts[spec.name] = 0
        self._tasks.append(asyncio.create_task(self._keep(spec), name=f"supervise:{spec.name}"))

    async def started(self, name: str) -> None:
        await self._started[name].wait()

    async def _spawn(self, spec: ServiceSpec) -> asyncio.subprocess.Process:
        if spec.log_path is None:
            return await asyncio.create_subprocess_exec(
                *spec.argv, env={**os.environ, **spec.env}, start_new_session=True
            )
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Appending: a restarted child's lines follow its crash, which stays readable.
        fd = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.log_offsets[spec.name] = os.fstat(fd).st_size
        try:
            return await asyncio.create_subprocess_exec(
                *spec.argv,
                env={**os.environ, **spec.env},
                start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            os.close(fd)

    def _tell(self, name: str, state: str, **details: Any) -> None:
        if self.on_change is not None:
            self.on_change(name, state, details)

    async def _keep(self, spec: ServiceSpec) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            began = time.monotonic()
            process = await self._spawn(spec)
            self.processes[spec.name] = process
            self._started[spec.name].set()
            self._tell(
                spec.name,
                "restarted" if self.restarts[spec.name] else "started",
                pid=process.pid,
                restarts=self.restarts[spec.name],
            )
            code = await process.wait()
            if self._stopping.is_set():
                return
            lived = time.monotonic() - began
            delay = backoff.next_delay(lived)
            self.restarts[spec.name] += 1
            log.warning(
                "service exited; restarting",
                extra={
                    "child": spec.name,
                    "exit_code": code,
                    "lived_s": round(lived, 2),
                    "restart_in_s": delay,
                    "restarts": self.restarts[spec.name],
                },
            )
            self._tell(
                spec.name,
                "exited",
                exit_code=code,
                lived_s=round(lived, 2),
                restart_in_s=delay,
                log_path=spec.log_path,
                log_from=self.log_offsets.get(spec.name, 0),
            )
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                pass

    async def stop(self, order: Sequence[str | Sequence[str]] = ()) -> None:
        """Stop children, in `order` first (e.g. services before the broker they write to); the
        names of one entry together (the workers of one service: each one's leaving its
        consumer groups would otherwise make the others rebalance just to stop)."""
        self._stopping.set()
        steps = [(step,) if isinstance(step, str) else tuple(step) for step in order]
        named = {name for step in steps for name in step}
        steps += [(name,) for name in self.processes if name not in named]
        for step in steps:
            await asyncio.gather(*(self._stop_one(name) for name in step))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _stop_one(self, name: str) -> None:
        process = self.processes.get(name)
        if process is None or process.returncode is not None:
            return
        _signal(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self.grace_s)
        except TimeoutError:
            log.warning("service did not stop in time; killing", extra={"child": name})
            _signal(process, signal.SIGKILL)
            await process.wait()


def _signal(process: asyncio.subprocess.Process, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
