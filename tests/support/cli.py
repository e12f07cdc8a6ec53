"""Running the `fasthook` command against a real API, as a user would: in-process through
Click's runner (in a thread, so the test's event loop keeps serving the API) or as a real
subprocess. Never the user's own config file: FASTHOOK_CONFIG points into the test's tmp dir."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from fasthook.cli import cli


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)

    def lines(self) -> list[Any]:
        """`--output json` of a list: one object per line."""
        assert self.code == 0, self.stderr
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@dataclass
class Cli:
    api_url: str
    api_key: str
    config: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "FASTHOOK_API_URL": self.api_url,
            "FASTHOOK_API_KEY": self.api_key,
            "FASTHOOK_CONFIG": str(self.config),
            **extra,
        }

    async def __call__(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> Ran:
        """In-process (Click's runner), in a thread."""

        def invoke() -> Ran:
            result = CliRunner().invoke(
                cli, list(args), env=env or self.env(), input=stdin, catch_exceptions=False
            )
            return Ran(result.exit_code, result.stdout, result.stderr)

        return await asyncio.to_thread(invoke)

    async def process(
        self, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
    ) -> Ran:
        """As a real subprocess: `python -m fasthook ARGS`."""
        return await run_process(list(args), {**os.environ, **(env or self.env())}, timeout_s)


async def run_process(args: list[str], env: dict[str, str], timeout_s: float = 120) -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fasthook",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())
