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

from runtime.settings import Settings, settings_environment


def service_env(settings: Settings) -> dict[str, str]:
    # Text logs: a test's failure shows the service's log, read by people.
    return {**os.environ, **settings_environment(settings.with_(log_format="text"))}


class ServiceProcess:
    def __init__(self, module: str, settings: Settings, log_path: Path) -> None:
        self.module = module
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=service_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
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
