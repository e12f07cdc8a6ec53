"""Rotating FASTHOOK_SECRET_KEY on a live gateway, as docs/operations.md tells operators to:
the new key beside the old one, then first; `fasthook secret-key reseal`; then the old key
removed. A Twilio source's auth token, a destination's bearer token and the team's signing
secret — all sealed under the old key — keep verifying and signing at every step."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from twilio.request_validator import RequestValidator

from deliverer.signatures import verify
from fasthook.embedded import free_port
from runtime.secrets import generate_key
from runtime.settings import Settings
from tests.api.test_guide import GUIDE_BODY, guide_connection
from tests.support.api import RunningApi, start_api, stop_api
from tests.support.deliverer import start_deliverer
from tests.support.ingress import start_ingress
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess
from tests.support.receiver import Receiver, send_raw

TOKEN = "0123456789abcdef0123456789abcdef"
BEARER = "bearer-sealed-under-the-old-key"


@asynccontextmanager
async def gateway(settings: Settings, receiver: Receiver, log: Path) -> AsyncIterator[RunningApi]:
    """Ingress, api, router (a process) and deliverer, all under `settings.secret_key`."""
    settings = settings.with_(router_port=free_port())
    ingress = await start_ingress(settings)
    settings = settings.with_(public_url=ingress.base_url)
    api = await start_api(settings)
    router = ServiceProcess("router", settings, log)
    router.start()
    deliverer = await start_deliverer(settings)
    try:
        await router.wait_ready(f"http://127.0.0.1:{settings.router_port}/readyz", 60)
        yield api
    finally:
        await deliverer.runner.cleanup()
        router.kill()
        await stop_api(api)
        await ingress.runner.cleanup()


async def delivered_and_verified(
    api: RunningApi, receiver: Receiver, source: dict[str, Any], signing_secret: str
) -> None:
    """A Twilio-signed callback in; out at both destinations with Twilio's signature, one
    signed by FastHook under the team's signing secret, one with its bearer token."""
    receiver.received.clear()  # what an earlier step delivered proves nothing now
    # This step's ingress (its port is new each time), the source's own path.
    url = f"{api.settings.public_url}{urlparse(source['url']).path}/twilio/status"
    params = {k: v[0] for k, v in parse_qs(GUIDE_BODY.decode(), keep_blank_values=True).items()}
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(url, params)),
    ]

    async def both_delivered() -> bool:  # entities written a moment ago reach every view soon
        answer = await send_raw(url, "POST", headers, GUIDE_BODY)
        # 404: ingress does not know the source yet; 503: the broker was slower than the
        # produce timeout (nothing stored: a provider sends again, and so do we).
        assert answer.status in (200, 404, 503), answer
        try:
            await receiver.wait_for(len(receiver.received) + 1, timeout_s=0.5)
        except AssertionError:
            pass
        return {got.path_qs for got in receiver.received} == {"/signed", "/bearer"}

    await eventually(both_delivered, 30, "a callback at both destinations")
    by_path = {got.path_qs: got for got in receiver.received}
    for got in by_path.values():
        assert got.body == GUIDE_BODY
        assert RequestValidator(TOKEN).validate(
            got.header("x-fasthook-source-url"), params, got.header("X-Twilio-Signature")
        )
    assert verify(by_path["/signed"].header("x-fasthook-signature"), signing_secret, GUIDE_BODY)
    assert by_path["/bearer"].header("authorization") == f"Bearer {BEARER}"


def reseal(settings: Settings, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FASTHOOK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FASTHOOK_TOPIC_NAMESPACE": settings.topic_namespace,
        "FASTHOOK_SECRET_KEY": key,
        "FASTHOOK_LOG_FORMAT": "text",
    }
    return subprocess.run(
        [sys.executable, "-m", "fasthook", "secret-key", "reseal", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(allowed_destinations="127.0.0.1/32", secret_key=generate_key())


async def test_a_key_rotates_without_a_secret_lost(settings: Settings, tmp_path: Path) -> None:
    old, new = settings.secret_key, generate_key()
    receiver = await Receiver().start()
    try:
        async with gateway(settings, receiver, tmp_path / "router-1.log") as api:
            _, team = await api.call("GET", "/v1/team")
            status, source = await api.call(
                "POST",
                "/v1/sources",
                {
                    "name": "twilio",
                    "config": {"auth_type": "TWILIO", "auth": {"auth_token": TOKEN}},
                },
            )
            assert status == 201, source
            destinations = {}
            for path, auth in (
                ("/signed", {"auth_type": "FASTHOOK_SIGNATURE"}),
                ("/bearer", {"auth_type": "BEARER_TOKEN", "auth": {"token": BEARER}}),
            ):
                status, destination = await api.call(
                    "POST",
                    "/v1/destinations",
                    {"name": path[1:], "config": {"url": receiver.url + path, **auth}},
                )
                assert status == 201, destination
                destinations[path] = destination
                status, _ = await api.call(
                    "POST",
                    "/v1/connections",
                    {**guide_connection(source["id"], destination["id"]), "name": path[1:]},
                )
                assert status == 201
            # The team's secret as the receiver holds it (revealed once, like a user does).
            signing_secret = team["signing_secret"]["current"]
            await delivered_and_verified(api, receiver, source, signing_secret)
            caller = {"key": api.key, "team_id": team["id"]}

        # 1. The new key beside the old one (older services still seal with the old), then
        # 2. first: every service opens both, the new one seals.
        for step, keys in enumerate((f"{old},{new}", f"{new},{old}"), start=2):
            async with gateway(
                settings.with_(secret_key=keys), receiver, tmp_path / f"router-{step}.log"
            ) as api2:
                status, body = await api2.call("GET", f"/v1/sources/{source['id']}", **caller)
                assert status == 200, body
                await delivered_and_verified(api2, receiver, source, signing_secret)

        # 3. Reseal: everything the old key sealed, now sealed by the new one.
        check = reseal(settings, f"{new},{old}", "--check")
        assert check.returncode == 1 and "source" in check.stdout, check
        done = reseal(settings, f"{new},{old}")
        assert done.returncode == 0, done.stderr
        assert "1 source" in done.stdout and "destination" in done.stdout, done.stdout
        assert "team" in done.stdout, done.stdout
        again = reseal(settings, f"{new},{old}", "--check")
        assert again.returncode == 0 and "nothing" in again.stdout, again

        # 4. The old key removed: every secret still verifies and signs.
        async with gateway(
            settings.with_(secret_key=new), receiver, tmp_path / "router-4.log"
        ) as api4:
            bearer_id = destinations["/bearer"]["id"]
            status, held = await api4.call("GET", f"/v1/destinations/{bearer_id}", **caller)
            assert status == 200, held
            await delivered_and_verified(api4, receiver, source, signing_secret)
            # The API opens the team's signing secret with the new key alone.
            status, revealed = await api4.call("GET", "/v1/team", **caller)
            assert status == 200 and revealed["signing_secret"]["current"] == signing_secret
    finally:
        await receiver.stop()
