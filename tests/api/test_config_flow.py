"""API writes reach the ingress through the config topic, fast; views rebuild after restarts."""

from __future__ import annotations

import asyncio
import time

from tests.api.test_guide import GUIDE_BODY, RECEIVER, TWILIO_SOURCE, guide_connection
from tests.support.api import start_api, stop_api
from tests.support.http import send_raw
from tests.support.ingress import start_ingress

FORM = [("Content-Type", "application/x-www-form-urlencoded")]


async def status_within(url: str, method: str, expected: int, seconds: float) -> float:
    """Poll the source URL until it answers `expected`; return how long that took."""
    began = time.monotonic()
    while True:
        answer = await send_raw(url, method, FORM, GUIDE_BODY if method != "GET" else b"")
        if answer.status == expected:
            return time.monotonic() - began
        assert time.monotonic() - began < seconds, f"still {answer.status}, wanted {expected}"
        await asyncio.sleep(0.01)


async def test_disable_enable_and_methods_reach_the_ingress_within_a_second(api, settings):
    ingress = await start_ingress(settings)
    try:
        status, source = await api.call("POST", "/v1/sources", TWILIO_SOURCE)
        assert status == 201
        url = f"{ingress.base_url}/{source['url'].rsplit('/', 1)[1]}/twilio/status"
        await status_within(url, "POST", 200, 1.0)

        status, disabled = await api.call("PUT", f"/v1/sources/{source['id']}/disable")
        assert (status, disabled["status"]) == (200, "disabled") and disabled["disabled_at"]
        await status_within(url, "POST", 410, 1.0)

        status, enabled = await api.call("PUT", f"/v1/sources/{source['id']}/enable")
        assert (status, enabled["status"], enabled["disabled_at"]) == (200, "enabled", None)
        await status_within(url, "POST", 200, 1.0)

        await status_within(url, "GET", 200, 1.0)  # the guide allows POST and GET
        post_only = {
            **TWILIO_SOURCE,
            "config": {**TWILIO_SOURCE["config"], "allowed_http_methods": ["POST"]},
        }
        status, _ = await api.call("PUT", f"/v1/sources/{source['id']}", post_only)
        assert status == 200
        await status_within(url, "GET", 405, 1.0)
        status, _ = await api.call("PUT", f"/v1/sources/{source['id']}", TWILIO_SOURCE)
        await status_within(url, "GET", 200, 1.0)

        status, _ = await api.call("DELETE", f"/v1/sources/{source['id']}")
        assert status == 200
        await status_within(url, "POST", 404, 1.0)
    finally:
        await ingress.runner.cleanup()


async def test_read_after_write_and_restart_rebuilds_the_same_view(api, settings):
    status, source = await api.call("POST", "/v1/sources", TWILIO_SOURCE)
    status, destination = await api.call("POST", "/v1/destinations", RECEIVER)
    status, connection = await api.call(
        "POST", "/v1/connections", guide_connection(source["id"], destination["id"])
    )
    assert status == 201
    # Read after write: the writer's own view already holds it.
    assert (await api.call("GET", f"/v1/connections/{connection['id']}"))[1] == connection
    status, paused = await api.call("PUT", f"/v1/connections/{connection['id']}/pause")
    assert (status, paused["status"]) == (200, "paused")
    listed = {}
    for kind in ("sources", "destinations", "connections"):
        listed[kind] = (await api.call("GET", f"/v1/{kind}"))[1]["models"]

    # A fresh API process state (new view, read from the topic) sees exactly the same.
    await stop_api(api)
    restarted = await start_api(settings)
    try:
        for kind in ("sources", "destinations", "connections"):
            status, page = await restarted.call("GET", f"/v1/{kind}", key=api.key)
            assert status == 200
            assert page["models"] == listed[kind]
        _, again = await restarted.call("GET", f"/v1/connections/{connection['id']}", key=api.key)
        assert again == paused
    finally:
        await stop_api(restarted)
        api.http = restarted.http  # the fixture closes it again harmlessly
