"""Transformations, deduplication, delay, disabled connections and replays, end to end."""

from __future__ import annotations

import asyncio
import time

import pytest

from schemas.codec import encode
from schemas.limits import HOP_HEADER, MAX_HOPS
from tests.api.test_guide import GUIDE_BODY
from tests.router.test_routing_flow import FORM, outcomes, router_applied, setup_connection
from tests.support.config import update
from tests.support.http import send_raw
from tests.support.kafka import read_topic

ADD_HEADER = """
addHandler('transform', (request, context) => {
  request.headers['x-status'] = request.body.MessageStatus + ':' + process.env.REGION;
  return request;
});
"""
THROWS = "addHandler('transform', (request) => { throw new Error('no thanks'); });"
NEWLINE_HEADER = """
addHandler('transform', (request) => { request.headers['x'] = 'a\\nb'; return request; });
"""
FOREVER = """
addHandler('transform', (request) => {
  if (request.body.MessageStatus === 'loop') { while (true) {} }
  return request;
});
"""


async def post(ingress, source, body: bytes, headers=None, path="/twilio/status"):
    answer = await send_raw(ingress.source_url(source) + path, "POST", headers or [FORM], body)
    assert answer.status == 200
    return answer.header("x-fasthook-request-id")


async def test_transformation_adds_a_header_and_keeps_the_body(
    router, ingress, producer, settings, bootstrap
):
    rules = [{"type": "transformation", "code": ADD_HEADER, "env": {"REGION": "eu"}}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    request_id = await post(ingress, source, GUIDE_BODY)
    kind, event = (await outcomes(bootstrap, settings, [request_id]))[request_id]
    assert kind == "EVENT"
    headers = {h["name"].lower(): h["value"] for h in event["request"]["headers"]}
    assert headers["x-status"] == "delivered:eu"
    # The body was not changed by the code, so its exact bytes (Twilio signs them) are kept.
    assert event["request"]["body"] == GUIDE_BODY


@pytest.mark.parametrize(
    ("code", "detail"),
    [
        (THROWS, "Error: no thanks"),
        # A header value with a line break could not be sent: refused here, naming the field.
        (NEWLINE_HEADER, "the transformation's output is invalid: headers.x: "),
    ],
)
async def test_transformation_that_fails_is_ignored_with_why(
    code, detail, router, ingress, producer, settings, bootstrap
):
    rules = [{"type": "transformation", "code": code}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    request_id = await post(ingress, source, GUIDE_BODY)
    cause, ignored = (await outcomes(bootstrap, settings, [request_id]))[request_id]
    assert cause == "TRANSFORMATION_FAILED"
    assert detail in ignored["detail"]


async def test_a_request_at_the_hop_limit_is_ignored_as_a_loop(
    router, ingress, producer, settings, bootstrap
):
    source, _, connection = await setup_connection(
        producer, settings, ingress, [{"type": "filter", "path": "/twilio/status"}]
    )
    looped = await post(ingress, source, GUIDE_BODY, [FORM, (HOP_HEADER, str(MAX_HOPS))])
    below = await post(ingress, source, GUIDE_BODY, [FORM, (HOP_HEADER, str(MAX_HOPS - 1))])
    found = await outcomes(bootstrap, settings, [looped, below])
    cause, ignored = found[looped]
    assert cause == "LOOP_DETECTED" and ignored["connection_id"] == connection["id"]
    assert HOP_HEADER in ignored["detail"]
    assert found[below][0] == "EVENT"


async def test_endless_transformation_is_cut_off_while_others_flow(
    router, ingress, producer, settings, bootstrap
):
    rules = [{"type": "transformation", "code": FOREVER}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    loop_id = await post(ingress, source, GUIDE_BODY.replace(b"=delivered", b"=loop", 1))
    started = time.monotonic()
    others = [await post(ingress, source, GUIDE_BODY) for _ in range(20)]
    found = await outcomes(bootstrap, settings, [loop_id, *others])
    assert all(found[i][0] == "EVENT" for i in others)
    cause, ignored = found[loop_id]
    assert cause == "TRANSFORMATION_FAILED" and "longer than" in ignored["detail"]
    # The 20 others did not queue behind the endless one's 1 s budget each.
    assert time.monotonic() - started < 15


async def test_deduplicate_drops_a_repeat_within_the_window_then_lets_it_through(
    router, ingress, producer, settings, bootstrap
):
    # Request times decide the window, so it must outlast waiting for the first's outcome on
    # a loaded machine (a 1.5 s window once saw the repeat arrive after it had closed).
    window_ms = 6000
    rules = [
        {
            "type": "deduplicate",
            "window": window_ms,
            "include_fields": ["headers.i-twilio-idempotency-token"],
        }
    ]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    token = [FORM, ("I-Twilio-Idempotency-Token", "20d7190c-25a7-4f2a-a137-1f7d68f7c1d4")]
    first = await post(ingress, source, GUIDE_BODY, token)
    found = await outcomes(bootstrap, settings, [first])
    repeat = await post(ingress, source, GUIDE_BODY, token)
    other = await post(ingress, source, GUIDE_BODY, [FORM, ("I-Twilio-Idempotency-Token", "x")])
    found = await outcomes(bootstrap, settings, [first, repeat, other])
    assert found[first][0] == "EVENT" and found[other][0] == "EVENT"
    gap_ms = found[repeat][1]["created_at"] - found[first][1]["created_at"]
    assert gap_ms < window_ms, f"the test sent the repeat {gap_ms} ms after the first"
    assert found[repeat][0] == "DUPLICATE"
    assert found[first][1]["event_id"] in found[repeat][1]["detail"]

    # The window itself is what is being tested: the next request comes once it has closed.
    closes_at = (found[first][1]["created_at"] + window_ms) / 1000
    await asyncio.sleep(max(0.0, closes_at - time.time()) + 0.05)
    later = await post(ingress, source, GUIDE_BODY, token)
    assert (await outcomes(bootstrap, settings, [later]))[later][0] == "EVENT"


async def test_delay_disabled_and_replay(router, ingress, producer, settings, bootstrap):
    source, _, connection = await setup_connection(
        producer, settings, ingress, [{"type": "delay", "delay": 60_000}]
    )
    delayed = await post(ingress, source, GUIDE_BODY)
    kind, event = (await outcomes(bootstrap, settings, [delayed]))[delayed]
    assert kind == "EVENT" and event["due_at"] - event["created_at"] == 60_000

    await update(producer, settings, "connection", connection, 2, status="disabled")
    await router_applied(settings, 4)
    disabled = await post(ingress, source, GUIDE_BODY)
    cause, _ = (await outcomes(bootstrap, settings, [disabled]))[disabled]
    assert cause == "DISABLED"

    # A replay of the disabled one, after the connection is enabled and its filter changed.
    await update(
        producer,
        settings,
        "connection",
        connection,
        3,
        status="enabled",
        rules=[{"type": "filter", "path": "/twilio/status"}],
    )
    await router_applied(settings, 5)
    [original] = [
        r
        for r in await read_topic(bootstrap, settings.topics.requests)
        if r["request_id"] == disabled
    ]
    replay = {
        **original,
        "request_id": "req_01M8REPLAY0000000000000000",
        "replay_of": disabled,
        "connection_ids": [connection["id"]],
    }
    await producer.send_and_wait(
        settings.topics.requests,
        encode("RequestReceived", replay),
        key=replay["request_id"].encode(),
    )
    kind, event = (await outcomes(bootstrap, settings, [replay["request_id"]]))[
        replay["request_id"]
    ]
    assert kind == "EVENT" and event["request"]["body"] == GUIDE_BODY
    assert event["source_url"] == original["public_url"]  # what Twilio signed, still
