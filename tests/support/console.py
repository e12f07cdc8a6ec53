"""The web console on a free loopback port, and a real headless Chromium to drive it.

The browser is the machine's own (Debian: `apt-get install chromium`), used through
Playwright's `executable_path`: Playwright cannot download its browsers here."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from console.app import create_app
from fasthook.embedded import free_port
from projections.clickhouse import Engine
from runtime.settings import Settings
from tests.support.receiver import Received, Receiver
from tests.support.stack import running_stack

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "install the system Chromium: `apt-get install -y chromium` (Debian/Ubuntu)"
# The docs' screenshots are refreshed on demand (`FASTHOOK_SCREENSHOTS=docs make test`), so an
# ordinary run leaves the tree clean; otherwise they go to a temporary folder (still taken:
# a page that cannot be rendered fails the test either way).
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
SCREENSHOTS = (
    DOCS_SCREENSHOTS
    if os.environ.get("FASTHOOK_SCREENSHOTS") == "docs"
    else Path(tempfile.gettempdir()) / "fasthook-console-screenshots"
)


def chromium_path() -> str | None:
    """The system Chromium: FASTHOOK_CHROMIUM, else /usr/bin/chromium, else on PATH."""
    for candidate in (
        os.environ.get("FASTHOOK_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class RunningConsole:
    settings: Settings
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return self.settings.console_base_url


@asynccontextmanager
async def running_console(settings: Settings) -> AsyncIterator[RunningConsole]:
    """The console for an API already running at `settings.api_port`."""
    settings = settings.with_(console_port=free_port())
    runner = web.AppRunner(create_app(settings), access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, settings.console_host, settings.console_port).start()
    try:
        yield RunningConsole(settings, runner)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def console_world(
    settings: Settings, engine: Engine, tmp_path: Path, status: int, *, issues: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """The whole stack (with the issues job if asked), the console in front of it, and a
    receiver answering `world["answer"]["status"]` (a test breaks and fixes it by changing
    that)."""
    answer = {"status": status}

    def respond(_: int, __: Received) -> tuple[int, dict[str, str]]:
        return answer["status"], {}

    async with running_stack(
        settings, engine, tmp_path, Receiver(answer=respond), issues=issues
    ) as stack:
        async with running_console(stack.api.settings) as console:
            yield {"stack": stack, "api": stack.api, "console": console, "answer": answer}


@dataclass
class BrowserErrors:
    """Everything a page reported as an error: the tests end with none."""

    messages: list[str] = field(default_factory=list)

    def watch(self, page) -> None:  # a playwright Page
        page.on(
            "console",
            lambda m: (
                m.type == "error" and self.messages.append(f"console: {m.text} at {page.url}")
            ),
        )
        page.on("pageerror", lambda e: self.messages.append(f"page error: {e} at {page.url}"))


async def sign_in(page, console: RunningConsole, key: str) -> None:
    await page.goto(console.url + "/signin")
    await page.fill("#key", key)
    await page.click("button.primary")
    await page.wait_for_url("**/events")


async def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def make_pipe(
    api, receiver_url: str, prefix: str, **destination_config: Any
) -> tuple[dict, dict, dict]:
    """A source, a destination at the receiver, and the connection between them, through the
    API: (source, destination, connection)."""
    _, source = await api.call("POST", "/v1/sources", {"name": f"{prefix}-source"})
    status, destination = await api.call(
        "POST",
        "/v1/destinations",
        {
            "name": f"{prefix}-destination",
            "config": {"url": receiver_url + "/hook", **destination_config},
        },
    )
    assert status == 201, destination
    status, connection = await api.call(
        "POST",
        "/v1/connections",
        {
            "name": f"{prefix}-connection",
            "source_id": source["id"],
            "destination_id": destination["id"],
        },
    )
    assert status == 201, connection
    return source, destination, connection
