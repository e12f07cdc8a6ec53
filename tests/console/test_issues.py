"""The issues pages in a real headless Chromium against the real stack with the issues job: a
receiver answering 500 opens an issue; the list (filters by status and type) shows it; its page
shows the timeline and the affected events; acknowledge (CSRF as every form); the receiver
fixed, "Replay affected events" starts the bulk job whose progress page ends COMPLETED, the
events delivered; resolved by hand, the timeline says so. Screenshots go to docs/console/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.console.test_story import send
from tests.support.console import console_world, screenshot, sign_in
from tests.support.poll import eventually

TIMEOUT = 60_000  # ms: a loaded machine, a batch of ClickHouse behind
FAILED = 3


@pytest.fixture
async def world(settings, engine, tmp_path) -> AsyncIterator[dict[str, Any]]:
    async with console_world(settings, engine, tmp_path, 500, issues=True) as running:
        yield running


@pytest.mark.timeout(900)
async def test_issue_list_detail_acknowledge_replay_and_resolve(world, new_page):
    api, console, answer = world["api"], world["console"], world["answer"]
    receiver = world["stack"].receiver
    _, source = await api.call("POST", "/v1/sources", {"name": "payments"})
    _, destination = await api.call(
        "POST", "/v1/destinations", {"name": "billing", "config": {"url": receiver.url + "/hook"}}
    )
    _, connection = await api.call(
        "POST",
        "/v1/connections",
        {
            "name": "payments-to-billing",
            "source_id": source["id"],
            "destination_id": destination["id"],
        },
    )
    status, trigger = await api.call(
        "POST",
        "/v1/issue-triggers",
        {
            "name": "billing down",
            "type": "delivery",
            "configs": {"connections": [connection["id"]], "resolve_after_ms": 3_600_000},
        },
    )
    assert status == 201, trigger
    for _ in range(FAILED):
        await send(source["url"] + "/twilio/status")

    async def counted():
        _, page = await api.call("GET", f"/v1/issues?issue_trigger_id={trigger['id']}")
        found = page["models"]
        return found[0] if found and found[0]["count"] >= FAILED else None

    try:
        issue = await eventually(counted, 120, "the issue counted every failure")
    except AssertionError as missing:
        # What the pipeline did meanwhile, so a failure here names the stage that stalled.
        _, issues = await api.call("GET", f"/v1/issues?issue_trigger_id={trigger['id']}")
        _, events = await api.call("GET", f"/v1/events?connection_id={connection['id']}")
        _, attempts = await api.call("GET", "/v1/attempts")
        raise AssertionError(
            f"{missing}: issues {issues.get('models')}, events "
            f"{[(e['id'], e['status']) for e in events.get('models', [])]}, attempts "
            f"{[(a['event_id'], a.get('response_status')) for a in attempts.get('models', [])]}"
        ) from None
    assert issue["count"] == FAILED, issue  # each failure once, none counted twice

    page = await new_page()
    await sign_in(page, console, api.key)
    await page.click("nav[aria-label=Main] >> text=Issues")
    row = page.locator(f"#row-{issue['id']}")
    await expect(row).to_contain_text("OPENED")
    await expect(row).to_contain_text("payments-to-billing")
    await expect(row).to_contain_text("HTTP 500")
    await expect(row.locator(".count")).to_have_text(str(FAILED))
    await screenshot(page, "issues")
    await page.select_option("select[name=type]", "transformation")
    await page.click("form.filters button.primary")
    await expect(page.locator("#issues tr.empty")).to_contain_text("No issue matches")
    await page.goto(f"{console.url}/issues?status=OPENED&type=delivery")
    await expect(row).to_be_visible()

    await row.locator("a.mono").click()
    await page.wait_for_url(f"**/issues/{issue['id']}")
    await expect(page.locator("#timeline tbody tr").first).to_contain_text("opened")
    await expect(page.locator("#affected tbody tr:not(.empty)")).to_have_count(FAILED)
    await screenshot(page, "issue")

    # The signed-in session's cookie without its CSRF token: refused, nothing changed.
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in await page.context.cookies())
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{console.url}/issues/{issue['id']}/status",
            data={"status": "IGNORED"},
            headers={"Origin": console.url, "Cookie": cookie},
        ) as refused,
    ):
        assert refused.status == 403, await refused.text()
    _, unchanged = await api.call("GET", f"/v1/issues/{issue['id']}")
    assert unchanged["status"] == "OPENED"

    await page.click("button:has-text('Acknowledge')")
    await expect(page.locator("#issue-status")).to_have_text("ACKNOWLEDGED", timeout=TIMEOUT)
    await expect(page.locator("#timeline tbody tr").last).to_contain_text(
        "acknowledged", timeout=TIMEOUT
    )

    answer["status"] = 204  # the destination is fixed
    await page.click("#replay")
    await page.wait_for_url("**/bulk/events/blk_*")
    await expect(page.locator("#job-status")).to_have_text("COMPLETED", timeout=TIMEOUT)
    await expect(page.locator("#processed")).to_have_text(str(FAILED))

    async def delivered():
        _, found = await api.call(
            "GET", f"/v1/events?connection_id={connection['id']}&status=SUCCESSFUL"
        )
        return found["count"] == FAILED

    await eventually(delivered, 60, "the affected events delivered")

    await page.goto(f"{console.url}/issues/{issue['id']}")
    await expect(page.locator("#affected tr.empty")).to_contain_text(
        "None left FAILED", timeout=TIMEOUT
    )
    await page.click("button:has-text('Resolve')")
    await expect(page.locator("#issue-status")).to_have_text("RESOLVED", timeout=TIMEOUT)
    await expect(page.locator("#timeline tbody tr").last).to_contain_text(
        "resolved", timeout=TIMEOUT
    )
    # Resolved stays resolved: no status to change any more (its replay is still offered).
    await expect(page.locator("#issue-live form[action$='/status']")).to_have_count(0)
    await expect(page.locator("#replay")).to_be_visible()
    await screenshot(page, "issue-resolved")
