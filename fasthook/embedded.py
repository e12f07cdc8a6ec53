"""The embedded Kafka-protocol broker (`noida-db`) as a child process: dev, tests and `make run`.

It is not crash-safe; production points FASTHOOK_KAFKA_BOOTSTRAP at a real Kafka cluster.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from fasthook.errors import EmbeddedStackError

_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_range() -> tuple[int, int]:
    """Below the kernel's ephemeral range; with FASTHOOK_PORT_SLICE=i/n, the i-th of n equal
    slices of it, so parallel test workers (and the processes they start) never pick the
    same port."""
    low = _ephemeral_low()
    first, last = max(1025, low - 12_000), low - 1
    index, _, count = os.environ.get("FASTHOOK_PORT_SLICE", "0/1").partition("/")
    width = (last - first + 1) // max(1, int(count))
    first += int(index) * width
    return first, first + width - 1


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now that nothing else is about to take: below the kernel's ephemeral range
    (where every outgoing connection takes its source port, so a port picked there can be
    gone before the service binds it), and never the same one twice in this process."""
    first, last = _port_range()
    for _ in range(500):
        port = random.randint(first, last)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as sock:  # a crowded range: any port the kernel has
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def noida_binary() -> str:
    """The broker binary itself, not the `noida-db` Python wrapper: signals must reach it and
    waiting on our child must mean waiting on the broker."""
    try:
        binary = resources.files("noida_db") / "noida-db"
    except ModuleNotFoundError:
        raise EmbeddedStackError(
            "noida-db is not installed: pip install 'fasthook[embedded]'"
        ) from None
    path = Path(str(binary))
    if not path.is_file():
        raise EmbeddedStackError(f"the noida-db binary is missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


def broker_command(data_dir: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        noida_binary(),
        "start",
        "--only",
        "kafka",
        "--kafka-port",
        str(port),
        "--host",
        host,
        "--data-dir",
        str(data_dir),
    ]


async def wait_for_kafka(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Until the broker answers a metadata request (a listening port is not enough)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.1)
    raise EmbeddedStackError(f"Kafka at {bootstrap} did not answer within {timeout_s}s: {last}")


class EmbeddedBroker:
    """Starts and stops one noida-db Kafka broker (synchronously, for fixtures and the CLI)."""

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "broker.log"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        return broker_command(self.data_dir, self.port, self.host)

    def start(self, timeout_s: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            asyncio.run(wait_for_kafka(self.bootstrap, timeout_s))
        except EmbeddedStackError as exc:
            output = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
            raise EmbeddedStackError(f"{exc}\nbroker output:\n{output}") from exc
        if self.process.poll() is not None:
            raise EmbeddedStackError(f"noida-db exited with {self.process.returncode}")

    def kill(self) -> None:
        """SIGKILL: what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
