"""Running the real deliverer, and the configuration and events it works from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaProducer

from api.config_log import publish_entity
from api.entities import new_team
from deliverer.app import create_app
from deliverer.keys import KAFKA
from fasthook.embedded import free_port
from runtime.secrets import SecretBox
from runtime.settings import Settings
from schemas.codec import encode
from schemas.ids import new_id
from tests.support.config import declare
from tests.support.kafka import read_topic
from tests.support.poll import eventually


@dataclass
class RunningDeliverer:
    app: web.Application
    runner: web.AppRunner
    settings: Settings


async def start_deliverer(settings: Settings) -> RunningDeliverer:
    settings = settings.with_(deliverer_port=free_port())
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.deliverer_port).start()
    await app[KAFKA].follower.wait_caught_up(10)
    return RunningDeliverer(app, runner, settings)


@dataclass
class Pipe:
    """A team, a destination and a connection on the config topic."""

    team: dict[str, Any]
    destination: dict[str, Any]
    connection: dict[str, Any]
    signing_secret: str


async def declare_pipe(
    producer: AIOKafkaProducer,
    settings: Settings,
    url: str,
    rules: list[dict[str, Any]] | None = None,
    **destination_config: Any,
) -> Pipe:
    box = SecretBox(settings.secret_key)
    team = new_team("acme", box)
    await publish_entity(producer, settings.topics.config, "team", team)
    source = await declare(producer, settings, "source", {"name": "twilio"}, team["id"])
    destination = await declare(
        producer,
        settings,
        "destination",
        {
            "name": "receiver",
            "config": {"url": url, "auth_type": "FASTHOOK_SIGNATURE", **destination_config},
        },
        team["id"],
    )
    connection = await declare(
        producer,
        settings,
        "connection",
        {
            "name": "pipe",
            "source_id": source["id"],
            "destination_id": destination["id"],
            "rules": rules or [],
        },
        team["id"],
    )
    return Pipe(team, destination, connection, box.open(team["signing_secret"]["current"]))


def make_event(
    pipe: Pipe,
    body: bytes = b"MessageSid=SM1&MessageStatus=failed&ErrorCode=",
    *,
    delay_ms: int = 0,
    headers: list[tuple[str, str]] | None = None,
    source_url: str = "https://hooks.example.com/tok/twilio/status",
    trigger: str = "INITIAL",
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "event_id": new_id("evt"),
        "request_id": new_id("req"),
        "team_id": pipe.team["id"],
        "source_id": pipe.connection["source_id"],
        "connection_id": pipe.connection["id"],
        "destination_id": pipe.destination["id"],
        "created_at": now,
        "due_at": now + delay_ms,
        "attempt_number": 1,
        "trigger": trigger,
        "source_url": source_url,
        "request": {
            "method": "POST",
            "path": "/twilio/status",
            "query": "",
            "headers": [
                {"name": k, "value": v, "raw": None}
                for k, v in headers or [("Content-Type", "application/x-www-form-urlencoded")]
            ],
            "body": body,
        },
        "bulk_id": None,
    }


async def publish_events(
    producer: AIOKafkaProducer, settings: Settings, events: list[dict[str, Any]]
) -> None:
    for event in events:
        await producer.send(
            settings.topics.events, encode("EventCreated", event), key=event["event_id"].encode()
        )
    await producer.flush()


async def attempts_for(
    bootstrap: str, settings: Settings, event_ids: list[str], final: int, timeout_s: float = 30.0
) -> dict[str, list[dict[str, Any]]]:
    """Attempts per event, once `final` events have a final (non-SCHEDULED) attempt."""
    wanted = set(event_ids)

    async def done() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for attempt in await read_topic(bootstrap, settings.topics.attempts):
            if attempt["event_id"] in wanted:
                found.setdefault(attempt["event_id"], []).append(attempt)
        finals = sum(1 for a in found.values() if a[-1]["event_status"] != "SCHEDULED")
        return found if finals >= final else {}

    return await eventually(done, timeout_s, f"{final} events finished", 0.2)
