"""The guide's inspect/retry/replay flow through the API: search requests and events, list
attempts, retry an event, and re-run a filtered request after the filter changed — the
receiver validates the Twilio signature of the replay again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import pytest
import schemathesis
from twilio.request_validator import RequestValidator

from runtime.settings import Settings
from tests.api.test_guide import GUIDE_BODY, guide_connection
from tests.support.http import send_raw
from tests.support.poll import eventually
from tests.support.receiver import Receiver, answers
from tests.support.stack import running_stack, stack_settings

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def settings(settings: Settings, engine) -> Settings:
    return stack_settings(settings, engine)


@pytest.fixture
async def stack(settings: Settings, engine, tmp_path) -> AsyncIterator[dict]:
    # The receiver fails twice (an outage), then is fixed.
    async with running_stack(
        settings, engine, tmp_path, Receiver(answer=answers(500, 500))
    ) as running:
        yield {"api": running.api, "receiver": running.receiver}


def signed(url: str, body: bytes) -> list[tuple[str, str]]:
    params = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    return [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(url, params)),
    ]


def twilio_valid(got) -> bool:
    params = {k: v[0] for k, v in parse_qs(got.body.decode(), keep_blank_values=True).items()}
    return RequestValidator(TOKEN).validate(
        got.header("x-fasthook-source-url"), params, got.header("X-Twilio-Signature")
    )


async def test_search_retry_and_replay_through_the_api(stack):
    api, receiver = stack["api"], stack["receiver"]
    _, source = await api.call("POST", "/v1/sources", {"name": "twilio"})
    _, destination = await api.call(
        "POST", "/v1/destinations", {"name": "receiver", "config": {"url": receiver.url + "/hook"}}
    )
    connection = guide_connection(source["id"], destination["id"])
    connection["rules"] = [connection["rules"][0]]  # the filter, no automatic retry
    _, created = await api.call("POST", "/v1/connections", connection)

    url = source["url"] + "/twilio/status"
    other = source["url"] + "/voice/status"  # not in the filter's paths

    async def accepted(target: str):
        answer = await send_raw(target, "POST", signed(target, GUIDE_BODY), GUIDE_BODY)
        return answer if answer.status == 200 else None

    # The new source reaches the ingress's view within moments: poll until it answers.
    sent = await eventually(lambda: accepted(url), 5, "the source served")
    filtered = await accepted(other)
    request_id = sent.header("x-fasthook-request-id")
    filtered_id = filtered.header("x-fasthook-request-id")

    async def listed(path: str, count: int):
        status, body = await api.call("GET", path)
        assert status == 200, body
        return body["models"] if body["count"] >= count else None

    # The guide's queries.
    [found] = await eventually(
        lambda: listed(
            f"/v1/requests?source_id={source['id']}&status=accepted&include_data=true"
            f"&q=SMaaaaaaaa&limit=1",
            1,
        ),
        30,
        "the request searchable",
    )
    assert found["data"]["body"]["MessageStatus"] == "delivered"
    [event] = await eventually(
        lambda: listed(
            f"/v1/events?source_id={source['id']}&status=FAILED&include_data=true&q=MessageStatus",
            1,
        ),
        30,
        "the failed event",
    )
    assert event["request_id"] == request_id
    attempts = await listed(f"/v1/attempts?event_id={event['id']}", 1)
    assert attempts[0]["response_status"] == 500

    # Event retry after the receiver is fixed (it fails once more, then answers 204).
    status, _ = await api.call("POST", f"/v1/events/{event['id']}/retry")
    assert status == 202
    attempts = await eventually(
        lambda: listed(f"/v1/attempts?event_id={event['id']}", 2), 30, "the manual attempt recorded"
    )
    assert {a["trigger"] for a in attempts} == {"INITIAL", "MANUAL"}

    # The filtered request, replayed after the filter also admits /voice/status.
    connection["rules"][0]["path"] = {"$in": ["/twilio/status", "/voice/status"]}
    status, _ = await api.call("PUT", f"/v1/connections/{created['id']}", connection)
    assert status == 200
    status, _ = await api.call("POST", f"/v1/requests/{filtered_id}/retry")
    assert status == 202
    replays = await eventually(lambda: _replay_received(receiver), 30, "the replay delivered")
    assert all(twilio_valid(got) for got in replays)
    assert replays[0].header("x-fasthook-source-url") == other


async def _replay_received(receiver: Receiver):
    found = [
        r
        for r in receiver.received
        if "/voice/status" in (r.header("x-fasthook-source-url") or "")
        and r.header("x-fasthook-attempt") == "1"
    ]
    return found


async def test_openapi_covers_the_forwarded_routes(stack):
    api = stack["api"]
    async with api.http.get(api.url + "/v1/openapi.json") as response:
        document = await response.json()
    paths = document["paths"]
    for path in (
        "/v1/requests",
        "/v1/requests/{id}/raw_body",
        "/v1/events/{id}/retry",
        "/v1/attempts",
        "/v1/ignored-events",
        "/v1/bulk/events/retry/{id}/cancel",
        "/v1/sources",
        "/v1/connections/{id}/pause",
    ):
        assert path in paths, path
    names = [p["name"] for p in paths["/v1/events"]["get"]["parameters"]]
    assert {"source_id", "status", "q", "include_data", "created_at[gte]"} <= set(names)
    assert "401" in paths["/v1/events"]["get"]["responses"]
    # A valid OpenAPI 3.1 document, as schemathesis (which validates it) reads it.
    schema = schemathesis.openapi.from_dict(document)
    assert len(list(schema.get_all_operations())) >= len(paths)
