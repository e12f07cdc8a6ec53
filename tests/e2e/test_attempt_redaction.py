"""A destination's credential reaches the receiver and nowhere else: not the attempts topic, not
ClickHouse, not `GET /v1/attempts`."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from fasthook.embedded import free_port
from projections.clickhouse import database_name
from projections.migrations import migrate
from runtime.settings import Settings
from tests.projections.conftest import start_service, stop_service
from tests.support.api import start_api, stop_api
from tests.support.deliverer import Pipe, attempts_for, make_event, publish_events, start_deliverer
from tests.support.kafka import read_topic
from tests.support.poll import eventually
from tests.support.receiver import Receiver

CREDENTIALS = {
    "BASIC_AUTH": (
        {"username": "ann", "password": "pw-s3cr3t-basic"},
        base64.b64encode(b"ann:pw-s3cr3t-basic").decode(),
    ),
    "BEARER_TOKEN": ({"token": "s3cr3t-bearer"}, "s3cr3t-bearer"),
    "API_KEY": (
        {"header_key": "X-Key", "api_key": "s3cr3t-header-key", "to": "header"},
        "s3cr3t-header-key",
    ),
    "API_KEY_QUERY": (
        {"header_key": "api_key", "api_key": "s3cr3t-query-key", "to": "query"},
        "s3cr3t-query-key",
    ),
}


@pytest.fixture
def settings(settings: Settings, engine, topics) -> Settings:
    return settings.with_(
        allowed_destinations="127.0.0.1/32",
        projections_port=free_port(),
        analysts_port=free_port(),
        clickhouse_dsn=engine.dsn,
        clickhouse_database=topics.namespace,
        projector_batch_ms=50,
    )


@pytest.fixture
async def stack(settings: Settings, engine) -> AsyncIterator[dict]:
    await migrate(engine, database_name(settings), settings.projections_retention_days)
    projections = await start_service(settings)
    api = await start_api(settings)
    deliverer = await start_deliverer(settings)
    receiver = await Receiver().start()
    try:
        yield {"api": api, "receiver": receiver}
    finally:
        await receiver.stop()
        await deliverer.runner.cleanup()
        await stop_api(api)
        await stop_service(projections)
        await engine.command(f"DROP DATABASE IF EXISTS {database_name(settings)}")


async def test_credentials_are_redacted_on_the_topic_in_clickhouse_and_in_the_api(
    stack, producer, settings, bootstrap, engine
):
    api, receiver = stack["api"], stack["receiver"]
    _, source = await api.call("POST", "/v1/sources", {"name": "twilio"})
    events = []
    for name, (auth, _) in CREDENTIALS.items():
        status, destination = await api.call(
            "POST",
            "/v1/destinations",
            {
                "name": name.lower(),
                "config": {
                    "url": f"{receiver.url}/{name}",
                    "auth_type": name.removesuffix("_QUERY"),
                    "auth": auth,
                },
            },
        )
        assert status == 201, destination
        status, connection = await api.call(
            "POST",
            "/v1/connections",
            {"name": name.lower(), "source_id": source["id"], "destination_id": destination["id"]},
        )
        assert status == 201, connection
        events.append(make_event(Pipe(api.team, destination, connection, "")))
    await publish_events(producer, settings, events)
    await attempts_for(bootstrap, settings, [e["event_id"] for e in events], len(events))

    # The receiver got every credential ...
    received = " ".join(f"{r.path_qs} {r.headers}" for r in receiver.received)
    secrets = [secret for _, secret in CREDENTIALS.values()]
    assert all(secret in received for secret in secrets)

    # ... and no stored or returned attempt holds one.
    on_topic = str(await read_topic(bootstrap, settings.topics.attempts))
    assert on_topic.count("REDACTED") == len(events)

    async def projected() -> list[dict]:
        rows = await engine.query(
            f"SELECT requested_url, request_headers FROM {database_name(settings)}.attempts"
        )
        return rows if len(rows) == len(events) else []

    in_clickhouse = str(await eventually(projected, 20, "attempts in ClickHouse", 0.1))

    from_api = []
    for event in events:
        status, body = await api.call("GET", f"/v1/attempts?event_id={event['event_id']}")
        assert status == 200, body
        from_api.extend(body["models"])
    [query_key] = [
        a["requested_url"]
        for a in from_api
        if a["requested_url"].endswith("API_KEY_QUERY?api_key=REDACTED")
    ]
    assert query_key
    for stored in (on_topic, in_clickhouse, str(from_api)):
        assert not any(secret in stored for secret in secrets), stored
    assert "Bearer REDACTED" in in_clickhouse and "Basic REDACTED" in in_clickhouse
