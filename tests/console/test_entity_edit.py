"""Editing a source and a destination in a real headless Chromium against the real stack:
the API's validation errors at their fields, a write-only secret never shown (the form asks
for it again rather than dropping it), the saved settings read back from the API."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.console import make_pipe, screenshot, sign_in

SECRET = "first-bearer-token-xyz"
NEW_SECRET = "second-bearer-token-abc"


@pytest.mark.timeout(600)
async def test_edit_a_source_and_a_destination(world, new_page):
    api, console = world["api"], world["console"]
    receiver = world["stack"].receiver
    source, destination, _ = await make_pipe(
        api, receiver.url, "editable", auth_type="BEARER_TOKEN", auth={"token": SECRET}
    )
    page = await new_page()
    await sign_in(page, console, api.key)

    # The destination: its form never holds the secret.
    await page.goto(f"{console.url}/connections")
    await page.click(f"#{destination['id']} >> text=Edit destination")
    await page.wait_for_url(f"**/destinations/{destination['id']}/edit")
    await expect(page.locator("#url")).to_have_value(receiver.url + "/hook")
    await expect(page.locator("#auth-type")).to_contain_text("BEARER_TOKEN")
    await expect(page.locator("#secret")).to_have_value("")
    assert SECRET not in await page.content()

    # Saving without the secret would drop it: the form asks for it, at the field.
    await page.fill("#url", receiver.url + "/moved")
    await page.click("button.primary")
    await expect(page.locator("#secret")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#err-secret")).to_contain_text("enter the token again")
    await expect(page.locator("#url")).to_have_value(receiver.url + "/moved")  # kept

    # The API's own error lands at its field; the typed secret is not sent back.
    await page.fill("#url", "not a url")
    await page.fill("#secret", NEW_SECRET)
    await page.click("button.primary")
    await expect(page.locator("#url")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#err-url")).to_be_visible()
    await expect(page.locator("#secret")).to_have_value("")
    assert NEW_SECRET not in await page.content()
    await screenshot(page, "destination-editor-error")

    await page.fill("#url", receiver.url + "/moved")
    await page.fill("#secret", NEW_SECRET)
    await page.select_option("#http_method", "PUT")
    await page.check("input[name=path_forwarding]")
    await page.click("button.primary")
    await page.wait_for_url("**/connections#*")
    _, saved = await api.call("GET", f"/v1/destinations/{destination['id']}")
    assert saved["config"]["url"] == receiver.url + "/moved"
    assert saved["config"]["http_method"] == "PUT" and saved["config"]["path_forwarding"]
    assert saved["config"]["auth_type"] == "BEARER_TOKEN" and saved["status"] == "enabled"

    # The source: name and allowed methods, an unknown method refused at its field.
    await page.click(f"#{source['id']} >> text=Edit source")
    await page.wait_for_url(f"**/sources/{source['id']}/edit")
    await expect(page.locator("#allowed_http_methods")).to_have_value("POST, PUT, PATCH, DELETE")
    assert await page.locator("#secret").count() == 0  # no auth, no secret to ask for
    await page.fill("#allowed_http_methods", "POST, FETCH")
    await page.click("button.primary")
    await expect(page.locator("#allowed_http_methods")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#err-allowed_http_methods")).to_be_visible()
    await page.fill("#name", "renamed-source")
    await page.fill("#allowed_http_methods", "POST GET")
    await page.click("button.primary")
    await page.wait_for_url("**/connections#*")
    await expect(page.locator(f"#h-{source['id']}")).to_contain_text("renamed-source")
    _, saved = await api.call("GET", f"/v1/sources/{source['id']}")
    assert saved["name"] == "renamed-source"
    assert saved["config"]["allowed_http_methods"] == ["POST", "GET"]
    assert saved["url"] == source["url"]  # the URL given to the provider stays
