"""A real headless Chromium for the console's browser tests. Missing, the tests skip with the
line saying what to install — except in CI (CI=true), where a missing browser fails the run:
the browser tests are never silently skipped there."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.settings import Settings
from tests.support.console import (
    CHROMIUM_ARGS,
    INSTALL_HINT,
    BrowserErrors,
    chromium_path,
    console_world,
)
from tests.support.stack import stack_settings


@pytest.fixture
def settings(settings: Settings, engine) -> Settings:
    return stack_settings(settings, engine)


@pytest.fixture
async def world(settings: Settings, engine, tmp_path) -> AsyncIterator[dict[str, Any]]:
    """The whole stack and the console; its receiver answers 204 until a test says otherwise."""
    async with console_world(settings, engine, tmp_path, 204) as running:
        yield running


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"no Chromium for the console's browser tests: {INSTALL_HINT}")
        pytest.skip(f"no Chromium: {INSTALL_HINT}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def new_page(browser) -> AsyncIterator:
    """Pages in fresh browser contexts (one per signed-in user), each watched for errors."""
    errors = BrowserErrors()
    contexts = []

    async def make(width: int = 1280, height: int = 900):
        context = await browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = await context.new_page()
        errors.watch(page)
        return page

    yield make
    for context in contexts:
        await context.close()
    assert errors.messages == [], errors.messages
