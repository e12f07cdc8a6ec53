"""Services as real OS processes, for tests that kill them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from runtime.settings import Settings


def service_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "FASTHOOK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FASTHOOK_TOPIC_NAMESPACE": settings.topic_namespace,
        "FASTHOOK_INGRESS_HOST": settings.ingress_host,
        "FASTHOOK_INGRESS_PORT": str(settings.ingress_port),
        "FASTHOOK_INGRESS_METRICS_PORT": str(settings.ingress_metrics_port),
        "FASTHOOK_PUBLIC_URL": settings.public_base_url,
        "FASTHOOK_PRODUCE_TIMEOUT_S": str(settings.produce_timeout_s),
        "FASTHOOK_SHUTDOWN_TIMEOUT_S": str(settings.shutdown_timeout_s),
        "FASTHOOK_LOG_FORMAT": "text",
        "FASTHOOK_SECRET_KEY": settings.secret_key,
        "FASTHOOK_API_PORT": str(settings.api_port),
        "FASTHOOK_ROUTER_PORT": str(settings.router_port),
        "FASTHOOK_DELIVERER_PORT": str(settings.deliverer_port),
        "FASTHOOK_ISSUES_PORT": str(settings.issues_port),
        "FASTHOOK_ALLOWED_DESTINATIONS": settings.allowed_destinations,
        "FASTHOOK_INSTANCE_ID": settings.instance_id,
        "FASTHOOK_DATA_DIR": settings.data_dir,
    }


class ServiceProcess:
    def __init__(self, module: str, settings: Settings, log_path: Path) -> None:
        self.module = module
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], env=service_env(self.settings),
                stdout=log, stderr=subprocess.STDOUT,
            )

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    async def wait_exit(self, timeout_s: float) -> int:
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout_s)

    async def wait_ready(self, url: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, (
                    f"{self.module} exited: {self.log_path.read_text()[-2000:]}"
                )
                try:
                    async with http.get(url) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.module} not ready within {timeout_s}s")
