from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from fasthook.embedded import free_port
from router.transform import Sandboxes
from runtime.settings import Settings
from tests.support.ingress import RunningIngress, start_ingress
from tests.support.processes import ServiceProcess


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The session settings, plus a router port of this test's own."""
    return settings.with_(router_port=free_port())


@pytest.fixture
async def router(settings: Settings, tmp_path) -> AsyncIterator[ServiceProcess]:
    process = ServiceProcess("router", settings, tmp_path / "router.log")
    process.start()
    await process.wait_ready(f"http://127.0.0.1:{settings.router_port}/readyz", 60)
    yield process
    process.kill()


@pytest.fixture
async def ingress(settings: Settings) -> AsyncIterator[RunningIngress]:
    running = await start_ingress(settings)
    yield running
    await running.runner.cleanup()


@pytest.fixture
def opened() -> Iterator[Callable[..., Sandboxes]]:
    """Makes V8 sandboxes that are closed when the test ends: an isolate left to the garbage
    collector at interpreter exit may hang it (router.transform.Sandboxes.close)."""
    made: list[Sandboxes] = []

    def open_sandboxes(**limits: Any) -> Sandboxes:
        made.append(Sandboxes(**limits))
        return made[-1]

    yield open_sandboxes
    for sandboxes in made:
        sandboxes.close()
