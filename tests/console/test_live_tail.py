"""The live tail pushes new events: a Twilio callback sent while the events page is open
appears on it without a reload, and the lag (sent → row shown) is measured by polling the
page, not by sleeping. Real stack, real headless Chromium."""

from __future__ import annotations

import time

import pytest

from tests.console.test_story import CALLBACK, send
from tests.support.console import make_pipe, sign_in
from tests.support.poll import eventually


@pytest.mark.timeout(600)
async def test_new_events_are_pushed_to_the_open_page(world, new_page):
    api, console = world["api"], world["console"]
    receiver = world["stack"].receiver
    source, _, _ = await make_pipe(api, receiver.url, "tail")
    url = source["url"] + "/twilio/status"
    await send(url, CALLBACK)  # the source is served; its event is on the page before
    page = await new_page()
    await sign_in(page, console, api.key)
    rows = page.locator("#events tbody tr:not(.empty)")

    async def shown(count: int) -> bool:
        return await rows.count() >= count

    await eventually(lambda: shown(1), 60, "the first event listed", 0.05)
    await page.reload()  # the page now starts from it; what follows comes by the tail
    await eventually(lambda: shown(1), 60, "the first event listed again", 0.05)
    await page.wait_for_selector("#live-state")

    lags = []
    for n in range(3):
        began = time.monotonic()
        await send(url, CALLBACK + f"&n={n}".encode())
        await eventually(lambda n=n: shown(n + 2), 60, f"event {n + 2} pushed", 0.05)
        lags.append(time.monotonic() - began)
    assert await rows.count() == 4
    assert page.url.endswith("/events")  # no reload: the tail put them there
    print("sent → row on the open page:", ", ".join(f"{lag * 1000:.0f} ms" for lag in lags))
