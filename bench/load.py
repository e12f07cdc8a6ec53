"""Load generator: Twilio-like form POSTs to 127.0.0.1 over raw asyncio streams.

It runs in a process of its own (`run_load`), so it never shares the server's event loop; on
2 cores it still competes for CPU, which is why it reports its own CPU use. Raw streams rather
than aiohttp's client: same CPU, well over twice the requests (docs/benchmarks.md).

Closed loop: `concurrency` clients, each sending its next request once the previous answer came:
the peak rate. Open loop: requests start on a fixed schedule whatever the server does, and
latency counts from the scheduled time, so a stalled server cannot slow the generator down and
hide its own stall (coordinated omission).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import snapshot

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_SID = "AC" + "7f" * 16
# Not a real signature: the benchmark source has no auth; the header is there for its bytes.
SIGNATURE = "bm90LWEtcmVhbC10d2lsaW8tc2lnbmF0dXJl"
# A request that fails is not retried at once, so a refused connect cannot spin the loop.
ERROR_PAUSE_S = 0.01

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Spec:
    port: int
    path: str
    keepalive: bool
    duration_s: float
    concurrency: int = 64  # closed loop: clients
    rate: float = 0.0  # open loop: requests per second; 0 means closed loop
    warmup_s: float = 1.0  # run, but not counted: connections, caches and JITs settle
    max_conns: int = 512  # open loop: sockets at most; waiting for one counts as latency
    drain_s: float = 10.0  # open loop: how long answers may come after the last send
    watch: dict[str, int] = field(default_factory=dict)  # name → process group, for CPU use


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, of the 200s only
    statuses: Counter[int] = field(default_factory=Counter)  # every other status
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, status: int, seconds: float) -> None:
        if status == 200:
            self.latencies.append(seconds)
        else:
            self.statuses[status] += 1


def request_factory(spec: Spec) -> Callable[[int], bytes]:
    """Request `n`: what Twilio sends for a status callback, with unique ids."""
    connection = "keep-alive" if spec.keepalive else "close"
    tag = f"{os.getpid() & 0xFFFFFFFF:08x}"  # keeps ids of successive generators apart

    def build(n: int) -> bytes:
        body = (
            f"MessageSid=SM{tag}{n:024x}&MessageStatus=delivered&SmsStatus=delivered"
            f"&To=%2B18005551212&From=%2B18005550199&AccountSid={ACCOUNT_SID}&ErrorCode="
        )
        return (
            f"POST {spec.path} HTTP/1.1\r\n"
            f"Host: {HOST}:{spec.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {SIGNATURE}\r\n"
            f"I-Twilio-Idempotency-Token: {tag}-0000-4000-8000-{n:012x}\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
            "Accept: */*\r\n"
            "Cache-Control: max-age=259200\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {connection}\r\n"
            f"\r\n{body}"
        ).encode()

    return build


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, server closes): reads exactly one response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:  # both servers always send one; anything else is a broken answer
        raise ValueError("response without Content-Length")
    length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
    if length:
        await reader.readexactly(length)
    return status, b"\r\nconnection: close" in lower


def close(conn: Conn | None) -> None:
    if conn is not None:
        conn[1].close()


FAILURES = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


async def closed_client(
    spec: Spec,
    stats: Stats,
    build: Callable[[int], bytes],
    counter: itertools.count[int],
    window: tuple[float, float],
) -> None:
    conn: Conn | None = None
    try:
        while time.perf_counter() < window[1]:
            request = build(next(counter))
            started = time.perf_counter()
            try:
                if conn is None:  # connect time is part of the latency, as the sender sees it
                    conn = await asyncio.open_connection(HOST, spec.port)
                conn[1].write(request)
                status, closing = await read_response(conn[0])
            except FAILURES as exc:
                stats.errors[type(exc).__name__] += 1
                close(conn)
                conn = None
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            ended = time.perf_counter()
            # Counted by completion time: the rate over the window is then unbiased.
            if window[0] <= ended <= window[1]:
                stats.record(status, ended - started)
            if closing or not spec.keepalive:
                close(conn)
                conn = None
    finally:
        close(conn)


async def closed_loop(spec: Spec, stats: Stats, window: tuple[float, float]) -> None:
    build, counter = request_factory(spec), itertools.count()
    clients = [
        asyncio.create_task(closed_client(spec, stats, build, counter, window))
        for _ in range(spec.concurrency)
    ]
    await asyncio.sleep(window[1] - time.perf_counter())
    # Answers still in flight at the end are not counted; cancelling bounds the run.
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)


async def open_request(
    spec: Spec,
    stats: Stats,
    request: bytes,
    scheduled: float,
    counted: bool,
    idle: list[Conn],
    sockets: asyncio.Semaphore,
) -> None:
    async with sockets:
        conn = idle.pop() if idle else None
        try:
            if conn is None:
                conn = await asyncio.open_connection(HOST, spec.port)
            conn[1].write(request)
            status, closing = await read_response(conn[0])
        except FAILURES as exc:
            stats.errors[type(exc).__name__] += 1
            close(conn)
            return
        if counted:
            stats.record(status, time.perf_counter() - scheduled)
        if spec.keepalive and not closing:
            idle.append(conn)
        else:
            close(conn)


async def open_loop(spec: Spec, stats: Stats, window: tuple[float, float]) -> None:
    build = request_factory(spec)
    idle: list[Conn] = []
    sockets = asyncio.Semaphore(spec.max_conns)
    in_flight: set[asyncio.Task[None]] = set()
    start = window[0] - spec.warmup_s
    total = round(spec.rate * (spec.warmup_s + spec.duration_s))
    for n in range(total):
        scheduled = start + n / spec.rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        # Behind schedule, this sends the overdue requests back to back: their wait counts.
        task = asyncio.create_task(
            open_request(spec, stats, build(n), scheduled, scheduled >= window[0], idle, sockets)
        )
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        _, late = await asyncio.wait(in_flight, timeout=spec.drain_s)
        for task in late:
            task.cancel()
            stats.errors["unanswered"] += 1
        await asyncio.gather(*late, return_exceptions=True)
    for conn in idle:
        close(conn)


def tcp_counters() -> dict[str, int]:
    """The kernel's SYNs dropped at full accept queues and SYNs retransmitted (TcpExt, the
    whole network namespace: other processes' connections count too). Either one costs its
    client a 1 s SYN retransmission: the signature of a listen backlog too small for a burst."""
    with open("/proc/net/netstat") as netstat:
        lines = [line.split() for line in netstat if line.startswith("TcpExt:")]
    counters = dict(zip(lines[0][1:], map(int, lines[1][1:]), strict=True))
    return {name: counters.get(name, 0) for name in ("ListenDrops", "TCPSynRetrans")}


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank, so p99 is a latency that some request really had."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def generate(spec: Spec) -> dict[str, Any]:
    stats = Stats()
    begin = time.perf_counter() + 0.05
    window = (begin + spec.warmup_s, begin + spec.warmup_s + spec.duration_s)
    loop = closed_loop if spec.rate == 0 else open_loop
    task = asyncio.create_task(loop(spec, stats, window))
    # CPU use is read at the edges of the counted window, so warm-up does not dilute it.
    await asyncio.sleep(window[0] - time.perf_counter())
    cpu_before, own_before = snapshot(spec.watch), time.process_time()
    tcp_before = tcp_counters()
    await asyncio.sleep(window[1] - time.perf_counter())
    cpu_after, own_after = snapshot(spec.watch), time.process_time()
    tcp_after = tcp_counters()
    await task
    ordered = sorted(stats.latencies)
    cores = {name: (cpu_after[name] - cpu_before[name]) / spec.duration_s for name in cpu_after}
    cores["generator"] = (own_after - own_before) / spec.duration_s
    machine = cores.pop("machine")
    cores["others"] = max(0.0, machine - sum(cores.values()))  # not ours: the run is suspect
    return {
        "ok": len(ordered),
        "rps": len(ordered) / spec.duration_s,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
        "non_200": {str(status): count for status, count in stats.statuses.items()},
        "errors": dict(stats.errors),
        "cores": cores,
        "tcp": {name: tcp_after[name] - tcp_before[name] for name in tcp_after},
    }


def run_load(spec: Spec) -> dict[str, Any]:
    """Runs one load in a child process and returns its figures."""
    budget = spec.warmup_s + spec.duration_s + spec.drain_s + 30  # a hung child cannot hang us
    # subprocess.run kills the child on timeout and on Ctrl-C before re-raising.
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", json.dumps(asdict(spec))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=budget,
        check=False,
        start_new_session=True,  # Ctrl-C reaches us only, and we stop it
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    spec = Spec(**json.loads(sys.argv[1]))
    print(json.dumps(asyncio.run(generate(spec))))


if __name__ == "__main__":
    main()
