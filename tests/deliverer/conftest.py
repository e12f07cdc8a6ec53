from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from tests.support.deliverer import RunningDeliverer, start_deliverer
from tests.support.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Deliveries go to receivers on loopback: allow it, as the embedded stack does."""
    return settings.with_(allowed_destinations="127.0.0.1/32,::1/128")


@pytest.fixture
async def deliverer(settings: Settings) -> AsyncIterator[RunningDeliverer]:
    running = await start_deliverer(settings)
    yield running
    await running.runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = await Receiver().start()
    yield running
    await running.stop()
