from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from tests.support.ingress import RunningIngress, start_ingress


@pytest.fixture
async def ingress(settings: Settings) -> AsyncIterator[RunningIngress]:
    running = await start_ingress(settings)
    yield running
    await running.runner.cleanup()
