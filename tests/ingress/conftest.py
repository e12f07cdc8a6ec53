from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings, variable
from tests.support.ingress import RunningIngress, start_ingress


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, served by the server FASTHOOK_INGRESS_SERVER names (the default
    otherwise): `FASTHOOK_INGRESS_SERVER=aiohttp pytest tests/ingress` runs it all on aiohttp's,
    the in-process harness and the `python -m ingress` processes alike."""
    chosen = os.environ.get(variable("ingress_server"))
    return settings.with_(ingress_server=chosen) if chosen else settings


@pytest.fixture
async def ingress(settings: Settings) -> AsyncIterator[RunningIngress]:
    running = await start_ingress(settings)
    yield running
    await running.close()
