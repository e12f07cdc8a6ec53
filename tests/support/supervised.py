"""`fasthook run` (what `make run` starts): the supervised process tree, on free ports in a
temp dir.

The supervisor's output (and its children's, which inherit it) goes to a file, not a pipe:
a pipe nobody reads fills up and blocks every service that logs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench.cpu import group_cpu_seconds, supervised_children, supervised_workers
from fasthook.embedded import free_port
from fasthook.workers import PORT_STRIDE

SERVICES = ("ingress", "api", "router", "deliverer", "projections", "issues", "console")


def strided_port(workers: int) -> int:
    """A free port whose next `workers - 1` strides are free too: a service's workers' ports
    (fasthook.workers)."""
    while True:
        port = free_port()
        taken = False
        for index in range(1, workers):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + PORT_STRIDE * index))
                except OSError:
                    taken = True
        if not taken:
            return port


class SupervisedStack:
    def __init__(self, tmp_path: Path, *args: str, workers: int = 1, **env: str) -> None:
        """`args`: more of `fasthook run`'s options; `workers`: the most processes of a service
        they ask for, whose own ports must be free too."""
        self.args = args
        self.ports = {
            "kafka": free_port(),
            "ingress": free_port(),
            "api": free_port(),
            "router": strided_port(workers),
            "deliverer": strided_port(workers),
            "projections": free_port(),
            "ingress_metrics": strided_port(workers),
            "analysts": free_port(),
            "issues": free_port(),
            "console": free_port(),
        }
        self.log_path = tmp_path / "fasthook-run.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FASTHOOK_")}
        self.env.update(
            FASTHOOK_DATA_DIR=str(tmp_path / "data"),
            FASTHOOK_LOG_FORMAT="text",
            FASTHOOK_INGRESS_PORT=str(self.ports["ingress"]),
            FASTHOOK_API_PORT=str(self.ports["api"]),
            FASTHOOK_ROUTER_PORT=str(self.ports["router"]),
            FASTHOOK_DELIVERER_PORT=str(self.ports["deliverer"]),
            FASTHOOK_PROJECTIONS_PORT=str(self.ports["projections"]),
            FASTHOOK_ISSUES_PORT=str(self.ports["issues"]),
            FASTHOOK_INGRESS_METRICS_PORT=str(self.ports["ingress_metrics"]),
            FASTHOOK_ANALYSTS_PORT=str(self.ports["analysts"]),
            FASTHOOK_CONSOLE_PORT=str(self.ports["console"]),
            **env,
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['kafka']}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self, timeout_s: float = 90) -> dict[str, str]:
        """Start it and wait for the banner: its API URL, key and demo source."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fasthook",
                    "run",
                    "--kafka-port",
                    str(self.ports["kafka"]),
                    *self.args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        text = ""
        while "Ctrl-C stops everything" not in text:
            # A broker or ClickHouse that cannot start ends here, loudly, with the output.
            assert time.monotonic() < deadline and self.process.poll() is None, text[-4000:]
            await asyncio.sleep(0.2)
            text = self.output()[offset:]
        found = {
            "api": re.search(r"API:\s+(http://\S+)/v1", text),
            "key": re.search(r"API key:\s+(fhp_\S+)", text),
            "source_url": re.search(r"Demo source:\s+(http://\S+)", text),
            "source_id": re.search(r"Demo source:.*\((src_\w+)\)", text),
            "metrics": re.search(r"Ingress metrics:\s+(http://\S+)", text),
            "clickhouse": re.search(r"ClickHouse:\s+(http://\S+)", text),
            "console": re.search(r"Console:\s+(http://\S+)", text),
        }
        assert all(found.values()), text
        return {name: match.group(1) for name, match in found.items()}

    def child_pid(self, name: str) -> int | None:
        """The pid of the supervisor's live child running `name` (a service, or "broker")."""
        assert self.process is not None
        return supervised_children(self.process.pid, SERVICES).get(name)

    def worker_pids(self, name: str) -> list[int]:
        """The pids of every live process of service `name` (`fasthook run --workers`)."""
        assert self.process is not None
        return supervised_workers(self.process.pid, SERVICES).get(name, [])

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each live child (a service, or "broker") has used so far, its whole
        process group (the supervisor starts each in its own)."""
        assert self.process is not None
        return {
            name: group_cpu_seconds(pid)
            for name, pid in supervised_children(self.process.pid, SERVICES).items()
        }

    def signal_child(self, name: str, sig: int) -> int:
        """Signal a child's whole process group (the supervisor starts each in its own)."""
        pid = self.child_pid(name)
        assert pid is not None, f"no live {name} under the supervisor"
        os.killpg(pid, sig)
        return pid

    async def ready(self, name: str) -> bool:
        return await self.ready_at(self.ports[name])

    async def ready_at(self, port: int) -> bool:
        """Whether the process serving probes on `port` (a worker's own: fasthook.workers) is
        ready."""
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(
                    f"http://127.0.0.1:{port}/readyz",
                    timeout=aiohttp.ClientTimeout(total=2),
                ) as response,
            ):
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(self.process.wait, 60) == 0, self.output()[-4000:]
        for port in self.ports.values():
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"

    def kill(self) -> None:
        """Whatever is left: the supervisor and every child group it started."""
        if self.process is None:
            return
        children = [pid for name in (*SERVICES, "broker") for pid in self.worker_pids(name)]
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in children:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    pass
