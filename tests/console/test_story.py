"""The on-call story in a real headless Chromium against the real stack (embedded broker,
the real ClickHouse engine, a real receiver): sign in, a Twilio callback arrives live, its
inspector shows the exact body and the attempts; the receiver breaks (FAILED), is fixed and
the event retried (SUCCESSFUL); a filter rule changed in the editor and a filtered request
replayed; a paused connection holds events and unpausing delivers them; another team sees
none of it. Screenshots of each page go to docs/console/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from api.admin import admin_session
from tests.support.api import make_team
from tests.support.console import screenshot, sign_in
from tests.support.http import send_raw
from tests.support.poll import eventually
from tests.support.receiver import Receiver

FORM = [("Content-Type", "application/x-www-form-urlencoded")]
CALLBACK = (
    b"MessageSid=SM0123456789abcdef0123456789abcdef&MessageStatus=delivered"
    b"&AccountSid=AC0123&To=%2B15550001111&From=%2B15550002222&ErrorCode="
)
TIMEOUT = 60_000  # ms: a loaded machine, a batch of ClickHouse behind


async def send(url: str, body: bytes = CALLBACK) -> str:
    async def accepted():
        answer = await send_raw(url, "POST", FORM, body)
        return answer if answer.status == 200 else None

    # A source created a moment ago reaches the ingress's view within moments.
    answer = await eventually(accepted, 20, "the source served", interval_s=0.2)
    return answer.header("x-fasthook-request-id")


# A whole story in a browser on a loaded machine: more than the default 300 s.
@pytest.mark.timeout(900)
async def test_the_on_call_story(world, new_page):
    api, console, answer = world["api"], world["console"], world["answer"]
    receiver = world["stack"].receiver
    _, source = await api.call("POST", "/v1/sources", {"name": "twilio-status"})
    _, destination = await api.call(
        "POST", "/v1/destinations", {"name": "receiver", "config": {"url": receiver.url + "/hook"}}
    )
    status, connection = await api.call(
        "POST",
        "/v1/connections",
        {
            "name": "status-to-receiver",
            "source_id": source["id"],
            "destination_id": destination["id"],
            "rules": [{"type": "filter", "path": {"$in": ["/twilio/status"]}}],
        },
    )
    assert status == 201, connection

    page = await new_page()
    await sign_in(page, console, api.key)
    await expect(page.locator("tr.empty")).to_contain_text("Nothing has arrived yet")
    await screenshot(page, "events-empty")

    # A Twilio callback arrives live: the list shows it without a reload.
    await expect(page.locator("#live-state")).to_be_visible()
    request_id = await send(source["url"] + "/twilio/status")
    row = page.locator("#events tbody tr:not(.empty)").first
    await expect(row).to_contain_text("SUCCESSFUL", timeout=TIMEOUT)
    await expect(row).to_contain_text("twilio-status")
    await screenshot(page, "events")

    # Its inspector: the exact body, the Twilio fields, the attempts.
    await row.locator("a").first.click()
    await page.wait_for_url(re.compile(r".*/events/evt_\w+$"))
    await expect(page.locator("#raw-body")).to_have_text(CALLBACK.decode())
    glance = page.locator("dl.glance")
    await expect(glance).to_contain_text("SM0123456789abcdef0123456789abcdef")
    await expect(glance).to_contain_text("delivered")
    attempt = page.locator("li.attempt").first
    await expect(attempt).to_contain_text("INITIAL")
    await expect(attempt).to_contain_text("204")
    await attempt.locator("summary:has-text('Response headers')").click()
    await expect(attempt.locator("table.kv")).to_contain_text("Server")
    await expect(page.locator("#outgoing-body")).to_contain_text('"MessageStatus": "delivered"')
    await screenshot(page, "event-inspector")
    event_url = page.url

    # The request inspector: headers in order, the form body as a table.
    await page.goto(f"{console.url}/requests/{request_id}")
    await expect(page.locator("table[aria-label='Form fields']")).to_contain_text("MessageStatus")
    await screenshot(page, "request-inspector")

    # The receiver breaks: the next callback FAILED (no retry rule). Fixed, Retry: SUCCESSFUL.
    answer["status"] = 500
    failed_request = await send(source["url"] + "/twilio/status")
    await page.goto(f"{console.url}/events?status=FAILED")
    failed = page.locator("#events tbody tr:not(.empty)").first
    await expect(failed).to_contain_text("FAILED", timeout=TIMEOUT)
    await expect(failed).to_contain_text("500")
    answer["status"] = 204
    await failed.locator("a").first.click()
    await expect(page.locator("#event-status")).to_contain_text("FAILED")
    await page.click("text=Retry")
    await expect(page.locator("#event-status")).to_contain_text("SUCCESSFUL", timeout=TIMEOUT)
    await expect(page.locator("li.attempt")).to_have_count(2)
    await expect(page.locator("li.attempt").nth(1)).to_contain_text("MANUAL")
    assert failed_request

    # A filtered request; the filter changed in the editor; replayed through today's rules.
    filtered_id = await send(source["url"] + "/voice/status")
    await stored(api, f"/v1/requests/{filtered_id}/ignored_events")
    await page.goto(f"{console.url}/requests/{filtered_id}")
    await expect(page.locator("text=FILTERED")).to_be_visible(timeout=TIMEOUT)
    await page.goto(f"{console.url}/connections")
    await screenshot(page, "connections")
    await page.click(f"#{connection['id']} >> text=Edit")
    await page.fill("#rules", '[{"type": "filter", "path": {"$inn": ["/voice/status"]}}]')
    await page.click("button:has-text('Save')")
    await expect(page.locator("#err-rules")).to_contain_text("$inn")  # the API's own error
    await screenshot(page, "connection-editor-error")
    await page.fill(
        "#rules", '[{"type": "filter", "path": {"$in": ["/twilio/status", "/voice/status"]}}]'
    )
    await page.click("button:has-text('Save')")
    await page.wait_for_url("**/connections")
    await expect(page.locator(f"#{connection['id']}")).to_contain_text("/voice/status")
    before = len(receiver.received)
    await page.goto(f"{console.url}/requests/{filtered_id}")
    await page.click("text=Replay through today's rules")
    await expect(page.locator("#replay-result")).to_contain_text("Replayed as", timeout=TIMEOUT)
    replay_id = await page.locator("#replay-result a").inner_text()
    await stored(api, f"/v1/requests/{replay_id}/events")  # projected: the link answers
    await page.click("#replay-result a")
    await expect(page.locator("#ev-h")).to_contain_text("Events (1)", timeout=TIMEOUT)
    await eventually(
        lambda: _later_call(receiver, before, "/voice/status"), 60, "the replay delivered"
    )

    # Pause: new events HOLD; unpause: delivered.
    await page.goto(f"{console.url}/connections")
    await page.click(f"#{connection['id']} >> button:has-text('Pause')")
    await expect(page.locator(f"#{connection['id']}")).to_contain_text("PAUSED")
    held_request = await _sent_while_paused(source["url"] + "/twilio/status", api, connection["id"])
    await page.goto(f"{console.url}/events?status=HOLD")
    held = page.locator("#events tbody tr:not(.empty)").first
    await expect(held).to_contain_text("HOLD", timeout=TIMEOUT)
    await page.goto(f"{console.url}/connections")
    await page.click(f"#{connection['id']} >> button:has-text('Unpause')")
    await expect(page.locator(f"#{connection['id']}")).to_contain_text("ENABLED")
    await shown_after_reloads(
        page, f"{console.url}/requests/{held_request}", "#ev-h + table", "SUCCESSFUL"
    )
    await page.goto(f"{console.url}/requests")
    await screenshot(page, "requests")

    # Metrics: a chart per kind of thing counted, destinations' health.
    await page.goto(f"{console.url}/metrics")
    await expect(page.locator(".uplot")).to_have_count(4)
    await expect(page.locator("#destinations")).to_contain_text("receiver")
    await screenshot(page, "metrics")

    # Keyboard: the first Tab reaches the skip link, then the navigation.
    await page.goto(f"{console.url}/events")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.getAttribute('href')") == "/requests"

    # A phone-sized screen: the events page still fits its width.
    phone = await new_page(390, 844)
    await sign_in(phone, console, api.key)
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(phone, "events-phone")

    # Another team's session sees none of it.
    async with admin_session(api.settings) as admin:
        _, other_key = await make_team(admin, "globex")
    other = await new_page()
    await sign_in(other, console, other_key)
    await expect(other.locator("#events tbody tr")).to_have_count(1)
    await expect(other.locator("tr.empty")).to_contain_text("Nothing has arrived yet")
    await other.goto(f"{console.url}/requests")
    await expect(other.locator("#requests tbody tr.empty")).to_have_count(1)
    answer_page = await other.request.get(event_url)
    assert answer_page.status == 404
    await other.goto(f"{console.url}/connections")
    await expect(other.locator("body")).not_to_contain_text("twilio-status")
    await other.goto(f"{console.url}/metrics")
    await expect(other.locator("#destinations tr.empty")).to_have_count(1)


async def shown_after_reloads(page, url: str, selector: str, text: str) -> None:
    """A page without a live part: reloaded until it shows `text` (unpause reaches the
    deliverer a moment after the API answered)."""

    async def shown() -> bool:
        await page.goto(url)
        return text in await page.locator(selector).inner_text()

    await eventually(shown, TIMEOUT / 1000, f"{text} on {url}", interval_s=1)


async def stored(api, path: str) -> list:
    """Poll the API until a list has something: the projections trail by a batch."""

    async def listed():
        status, page = await api.call("GET", path)
        return status == 200 and page["models"]

    return await eventually(listed, 60, f"{path} listed", interval_s=0.2)


async def _later_call(receiver: Receiver, before: int, path: str) -> bool:
    return any(
        path in (r.header("x-fasthook-source-url") or "") for r in receiver.received[before:]
    )


async def _sent_while_paused(url: str, api, connection_id: str) -> str:
    """The pause reaches the router and deliverer a moment after the API answers: send until
    an event of this connection is held."""

    async def held():
        request_id = await send(url)

        async def status():
            _, page = await api.call("GET", f"/v1/events?request_id={request_id}")
            return page["models"][0]["status"] if page.get("models") else None

        found = await eventually(status, 30, "the event listed", interval_s=0.2)
        return request_id if found == "HOLD" else None

    return await eventually(held, 60, "an event held", interval_s=0.5)
