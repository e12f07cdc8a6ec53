from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from tests.support.api import RunningApi, start_api, stop_api


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[RunningApi]:
    running = await start_api(settings)
    yield running
    await stop_api(running)
