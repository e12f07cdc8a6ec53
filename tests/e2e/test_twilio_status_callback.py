"""A signed Twilio status callback through ingress, router and deliverer to a receiver that
validates both signatures: Twilio's (with the SDK, against x-fasthook-source-url) and ours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from deliverer.signatures import verify
from fasthook.embedded import free_port
from runtime.settings import Settings
from tests.api.test_guide import GUIDE_BODY, guide_connection
from tests.support.api import start_api, stop_api
from tests.support.deliverer import start_deliverer
from tests.support.ingress import start_ingress
from tests.support.processes import ServiceProcess
from tests.support.receiver import Receiver, sent_until_received

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(allowed_destinations="127.0.0.1/32", router_port=free_port())


@pytest.fixture
async def stack(settings: Settings, tmp_path) -> AsyncIterator[dict]:
    ingress = await start_ingress(settings)
    settings = settings.with_(public_url=ingress.base_url)
    api = await start_api(settings)
    router = ServiceProcess("router", settings, tmp_path / "router.log")
    router.start()
    deliverer = await start_deliverer(settings)
    receiver = await Receiver().start()
    try:
        await router.wait_ready(f"http://127.0.0.1:{settings.router_port}/readyz", 60)
        yield {"ingress": ingress, "api": api, "receiver": receiver}
    finally:
        await receiver.stop()
        await deliverer.runner.cleanup()
        router.kill()
        await stop_api(api)
        await ingress.runner.cleanup()


async def test_signed_status_callback_reaches_a_validating_receiver(stack):
    api, receiver = stack["api"], stack["receiver"]
    _, source = await api.call(
        "POST",
        "/v1/sources",
        {
            "name": "twilio",
            "config": {
                "auth_type": "TWILIO",
                "auth": {"auth_token": TOKEN},
                "allowed_http_methods": ["POST"],
            },
        },
    )
    _, destination = await api.call(
        "POST",
        "/v1/destinations",
        {
            "name": "receiver",
            "config": {
                "url": receiver.url + "/webhooks/twilio/status",
                "auth_type": "FASTHOOK_SIGNATURE",
            },
        },
    )
    status, _ = await api.call(
        "POST", "/v1/connections", guide_connection(source["id"], destination["id"])
    )
    assert status == 201
    _, team = await api.call("GET", "/v1/team")

    url = source["url"] + "/twilio/status?tenant=a%20b"
    params = {k: v[0] for k, v in parse_qs(GUIDE_BODY.decode(), keep_blank_values=True).items()}
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", signature),
        ("I-Twilio-Idempotency-Token", "20d7190c-25a7-4f2a-a137-1f7d68f7c1d4"),
    ]
    # Each send is a real callback; the receiver takes any.
    got = await sent_until_received(receiver, url, headers, GUIDE_BODY)

    # The receiver's checks, as the guide tells it to do them:
    assert got.body == GUIDE_BODY
    assert got.header("x-fasthook-source-url") == url
    received_params = {
        k: v[0] for k, v in parse_qs(got.body.decode(), keep_blank_values=True).items()
    }
    assert RequestValidator(TOKEN).validate(
        got.header("x-fasthook-source-url"), received_params, got.header("X-Twilio-Signature")
    )
    assert verify(got.header("x-fasthook-signature"), team["signing_secret"]["current"], got.body)
    assert got.header("I-Twilio-Idempotency-Token") == "20d7190c-25a7-4f2a-a137-1f7d68f7c1d4"
