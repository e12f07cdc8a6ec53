"""`python -m projections` (or a module that serves the same app) as a real OS process with
its own embedded engine path (<data_dir>/clickhouse, unless its settings name a server):
the test process already owns another chdb path, and chdb allows one per process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from runtime.settings import Settings
from tests.support.processes import ServiceProcess, service_env


class ProjectionsProcess(ServiceProcess):
    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        *,
        module: str = "projections",
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(module, settings, log_path)
        self.env = dict(env or {})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.projections_port}"

    def start(self, *args: str) -> None:
        env = {**service_env(self.settings), **self.env}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_started(self, timeout_s: float = 60.0) -> None:
        await self.wait_ready(self.url + "/readyz", timeout_s)
