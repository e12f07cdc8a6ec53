"""Projector workers scaled out: N accepted requests on the requests topic, projected once by
one `python -m projections` and once by two sharing one consumer group, side by side in one
run. Each process has its own embedded engine (chdb allows one per process); against a
ClickHouse server the workers would share one. The figure is records/s from start until the
workers' record counters (`fasthook_projector_records_total`) reach N, engine start included.

On a machine whose cores other work shares, two workers only show how much of one core a
second process can add: the load average is printed beside every figure.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from bench.pipeline import preload, request_record, source_stack
from bench.procs import Child, python, wait_for
from bench.report import Report
from fasthook.embedded import free_port

RECORDS = "fasthook_projector_records_total"


def projected(port: int) -> float:
    """The process's projected-records counter (every topic)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(RECORDS + "{")
    )


def project(tmp: Path, env: dict[str, str], n: int, workers: int, group: str) -> float:
    """Seconds until `workers` processes in `group` projected all `n` records."""
    with ExitStack() as ctx:
        children = []
        began = time.monotonic()
        for i in range(workers):
            port = free_port()
            name = f"{group}-{i}"
            child = ctx.enter_context(
                Child(
                    name,
                    python("-m", "projections"),
                    tmp / f"{name}.log",
                    {
                        **env,
                        "FASTHOOK_PROJECTIONS_PORT": str(port),
                        "FASTHOOK_ANALYSTS_PORT": str(free_port()),
                        "FASTHOOK_CLICKHOUSE_DSN": "",
                        "FASTHOOK_DATA_DIR": str(tmp / name),
                        "FASTHOOK_INSTANCE_ID": name,
                        "FASTHOOK_PROJECTOR_GROUP": group,
                        "FASTHOOK_PROJECTOR_BATCH_RECORDS": "20000",
                    },
                )
            )
            children.append((child, port))
        for child, port in children:
            wait_for(child, port, "GET", "/readyz", timeout_s=120)
        while sum(projected(port) for _, port in children) < n:
            if time.monotonic() - began > 1800:
                raise RuntimeError("projection did not finish in 30 minutes")
            time.sleep(0.2)
        return time.monotonic() - began


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    n = 50_000 if quick else 300_000
    report = Report(
        f"Projector workers over {n:,} requests",
        ["workers", "records", "records/s", "took", "load average (1 min)"],
    )
    with ExitStack() as ctx:
        tmp, stack, source = source_stack(ctx, "fh-bench-projscale-")
        chunk = 50_000
        for start in range(0, n, chunk):
            values = [
                (f"k{i}".encode(), request_record(source, i))
                for i in range(start, min(n, start + chunk))
            ]
            asyncio.run(preload(stack.broker.bootstrap, stack.topics.requests, values))
        ns = stack.settings.topic_namespace
        for workers in (1, 2):
            seconds = project(tmp, dict(stack.env), n, workers, f"{ns}-scale{workers}")
            report.rows.append(
                [
                    str(workers),
                    f"{n:,}",
                    f"{n / seconds:,.0f}",
                    f"{seconds:.1f} s",
                    f"{os.getloadavg()[0]:.1f}",
                ]
            )
    report.notes.append(
        f"{os.cpu_count()} cores shared with whatever else runs; "
        "each worker its own embedded engine, engine start included"
    )
    return report
