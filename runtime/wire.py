"""Broker requests counted by kind, per process: the figure that explains CPU per webhook.

At a moderate rate a webhook's CPU is mostly per round trip (a fetch, a produce request, a
commit, each encoded, written, answered and decoded on both sides), not per record. Benchmarks
set `FASTHOOK_COUNT_REQUESTS` to a directory: every process that imports `runtime.kafka` then
counts what each of its connections sends to the broker, by kind (Fetch, Produce, OffsetCommit,
Heartbeat, Metadata, …), and rewrites `<dir>/<process group>-<pid>.json` every
`DUMP_EVERY_S`. Off (the default), nothing is wrapped: the hot path is aiokafka's own.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiokafka import conn

ENV = "FASTHOOK_COUNT_REQUESTS"
DUMP_EVERY_S = 0.5
_VERSION = re.compile(r"(Request)?(_v\d+)?$")

counts: Counter[str] = Counter()


def kind(request: object) -> str:
    """`FetchRequest`, `FetchRequest_v4` → `Fetch`: a request's kind, whatever its version."""
    return _VERSION.sub("", type(request).__name__) or type(request).__name__


def _dump(directory: Path) -> None:
    path = directory / f"{os.getpgid(0)}-{os.getpid()}.json"
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(dict(counts)))
    partial.replace(path)  # a reader never sees half a file


def _dumping(directory: Path, stop: threading.Event) -> None:
    dumped = -1
    while not stop.wait(DUMP_EVERY_S):
        total = counts.total()
        if total != dumped:  # an idle process writes nothing
            _dump(directory)
            dumped = total


def install(environ: Mapping[str, str] = os.environ) -> bool:
    """Count every request this process sends to a broker, if the benchmark asked for it."""
    target = environ.get(ENV)
    if not target or getattr(conn.AIOKafkaConnection.send, "counted", False):
        return False
    directory = Path(target)
    directory.mkdir(parents=True, exist_ok=True)
    plain = conn.AIOKafkaConnection.send

    def send(self: Any, request: Any, expect_response: bool = True) -> Any:
        counts[kind(request)] += 1
        return plain(self, request, expect_response)

    send.counted = True  # type: ignore[attr-defined]
    conn.AIOKafkaConnection.send = send
    threading.Thread(
        target=_dumping, args=(directory, threading.Event()), name="wire-counts", daemon=True
    ).start()
    return True


def read_counts(directory: Path, pgids: Mapping[str, int]) -> dict[str, Counter[str]]:
    """What each named process group has sent so far, from the files its processes write."""
    by_group: dict[int, Counter[str]] = {pgid: Counter() for pgid in pgids.values()}
    for path in directory.glob("*.json"):
        pgid = int(path.name.partition("-")[0])
        if pgid in by_group:
            try:
                by_group[pgid].update(json.loads(path.read_text()))
            except (OSError, ValueError):  # being replaced right now: the next read has it
                continue
    return {name: by_group[pgid] for name, pgid in pgids.items()}


def per_accepted(
    before: Mapping[str, Counter[str]], after: Mapping[str, Counter[str]], accepted: float
) -> dict[str, dict[str, float]]:
    """Requests per accepted webhook (or per second, given seconds), by process and kind, over
    a window."""
    out: dict[str, dict[str, float]] = {}
    for name, now in after.items():
        used = now - before.get(name, Counter())
        out[name] = {k: used[k] / accepted for k in sorted(used, key=lambda k: -used[k])}
    return out


def render(rates: Mapping[str, Mapping[str, float]]) -> str:
    """`router 3.10 (Fetch 1.02, Produce 1.01, …)`: each process's total, then by kind."""
    parts = []
    for name, by_kind in rates.items():
        detail = ", ".join(f"{k} {n:.2f}" for k, n in by_kind.items() if n >= 0.005)
        parts.append(f"{name} {sum(by_kind.values()):.2f} ({detail})")
    return "; ".join(parts)
