"""Bulk retry from the browser: 200 failed events, the plan's count, a job's progress to the
end; a second job cancelled midway; the jobs list. Real stack, real headless Chromium."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from projections.keys import BULK
from tests.console.test_story import FORM, send
from tests.support.console import screenshot, sign_in
from tests.support.http import send_raw
from tests.support.poll import eventually

COUNT = 200
TIMEOUT = 120_000


async def count(api, query: str) -> int:
    total, cursor = 0, ""
    while True:
        _, page = await api.call("GET", f"/v1/events?{query}&limit=250{cursor}")
        total += page["count"]
        if not page["pagination"]["next"]:
            return total
        cursor = f"&next={page['pagination']['next']}"


# A whole story in a browser on a loaded machine: more than the default 300 s.
@pytest.mark.timeout(900)
async def test_bulk_retry_of_failed_events_with_plan_progress_and_cancel(world, new_page):
    api, console, answer = world["api"], world["console"], world["answer"]
    receiver = world["stack"].receiver
    answer["status"] = 500  # the destination is down: every event fails
    _, source = await api.call("POST", "/v1/sources", {"name": "bulk-source"})
    _, destination = await api.call(
        "POST", "/v1/destinations", {"name": "flaky", "config": {"url": receiver.url + "/hook"}}
    )
    await api.call(
        "POST",
        "/v1/connections",
        {"name": "bulk-connection", "source_id": source["id"], "destination_id": destination["id"]},
    )
    url = source["url"] + "/twilio/status"
    await send(url)  # the source is served
    gate = asyncio.Semaphore(20)

    async def one(n: int) -> None:
        async with gate:
            got = await send_raw(url, "POST", FORM, f"MessageSid=SM{n:032d}".encode())
            assert got.status == 200

    await asyncio.gather(*(one(n) for n in range(COUNT - 1)))
    failed = f"source_id={source['id']}&status=FAILED"

    async def all_failed() -> bool:
        return await count(api, failed) == COUNT

    await eventually(all_failed, 120, f"{COUNT} failed events", interval_s=1)

    page = await new_page()
    await sign_in(page, console, api.key)
    await page.goto(f"{console.url}/events?{failed}")
    await page.click("text=Retry all matching…")
    await expect(page.locator("#plan-count")).to_have_text(str(COUNT), timeout=TIMEOUT)
    await screenshot(page, "bulk-plan")
    answer["status"] = 204  # the destination is fixed
    bulk = world["stack"].projections.app[BULK]
    bulk.page_size, bulk.pause_s = 50, 0.2
    await page.click(f"text=Retry {COUNT} events")
    await page.wait_for_url("**/bulk/events/blk_*")
    await expect(page.locator("#job-status")).to_have_text("COMPLETED", timeout=TIMEOUT)
    await expect(page.locator("#processed")).to_have_text(str(COUNT))
    await screenshot(page, "bulk-job")

    async def all_successful() -> bool:
        return await count(api, f"source_id={source['id']}&status=SUCCESSFUL") == COUNT

    await eventually(all_successful, 120, "every event delivered", interval_s=1)

    # A second job over every event of the source, slowed down, cancelled midway.
    bulk.page_size, bulk.pause_s = 10, 1.0
    await page.goto(f"{console.url}/events?source_id={source['id']}")
    await page.click("text=Retry all matching…")
    await expect(page.locator("#plan-count")).to_have_text(str(COUNT), timeout=TIMEOUT)
    await page.click(f"text=Retry {COUNT} events")
    await page.wait_for_url("**/bulk/events/blk_*")
    await expect(page.locator("#job-status")).to_have_text("RUNNING", timeout=TIMEOUT)
    await expect(page.locator("#processed")).not_to_have_text("0", timeout=TIMEOUT)
    await page.click("button:has-text('Cancel')")
    await expect(page.locator("#job-status")).to_have_text("CANCELLED", timeout=TIMEOUT)
    processed = int(await page.locator("#processed").inner_text())
    assert 0 < processed < COUNT

    await page.goto(f"{console.url}/bulk")
    rows = page.locator("table.rows tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("CANCELLED")
    await expect(rows.nth(1)).to_contain_text("COMPLETED")
    await screenshot(page, "bulk-jobs")
