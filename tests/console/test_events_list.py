"""The events list sorted by last attempt and filtered by attempt count, in a real headless
Chromium against the real stack: three events fail, the oldest is retried, and sorting by
last attempt puts it first while the attempt-count filter keeps it alone; the URL carries
both (a deep link shows the same list)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.console.test_story import CALLBACK, TIMEOUT, send
from tests.support.console import make_pipe, screenshot, sign_in
from tests.support.poll import eventually


@pytest.mark.timeout(600)
async def test_sort_by_last_attempt_and_filter_by_attempts(world, new_page):
    api, console, answer = world["api"], world["console"], world["answer"]
    receiver = world["stack"].receiver
    answer["status"] = 500
    source, _, _ = await make_pipe(api, receiver.url, "sorted")
    for n in range(3):
        await send(source["url"] + "/twilio/status", CALLBACK + str(n).encode())

    async def failed() -> list[dict]:
        _, page = await api.call("GET", f"/v1/events?source_id={source['id']}&status=FAILED")
        return page["models"] if page["count"] == 3 else []

    events = await eventually(failed, 60, "three failed events", interval_s=0.5)
    oldest = events[-1]["id"]  # newest first
    answer["status"] = 204
    status, _ = await api.call("POST", f"/v1/events/{oldest}/retry")
    assert status == 202

    async def retried() -> bool:
        _, event = await api.call("GET", f"/v1/events/{oldest}")
        return event["attempts"] == 2 and event["status"] == "SUCCESSFUL"

    await eventually(retried, 60, "the retry delivered", interval_s=0.5)

    page = await new_page()
    await sign_in(page, console, api.key)
    rows = page.locator("#events tbody tr:not(.empty)")
    await expect(rows).to_have_count(3, timeout=TIMEOUT)
    await expect(rows.first).not_to_have_id(f"row-{oldest}")  # created order: newest first

    await page.select_option("form.filters select[name=sort]", "last_attempt_at")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url("**sort=last_attempt_at**")
    await expect(rows.first).to_have_id(f"row-{oldest}")
    await expect(rows).to_have_count(3)
    await expect(page.locator("#events thead")).to_contain_text("Last attempt")
    assert await page.locator("#live-state").count() == 0  # the tail follows creation only

    await page.fill("form.filters input[name=attempts_min]", "2")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url("**attempts_min=2**")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_id(f"row-{oldest}")
    await screenshot(page, "events-sorted")

    # A deep link in a new tab shows the same list.
    other = await new_page()
    await sign_in(other, console, api.key)
    await other.goto(page.url)
    other_rows = other.locator("#events tbody tr:not(.empty)")
    await expect(other_rows).to_have_count(1)
    await expect(other.locator("form.filters select[name=sort]")).to_have_value("last_attempt_at")
    await expect(other.locator("form.filters input[name=attempts_min]")).to_have_value("2")
