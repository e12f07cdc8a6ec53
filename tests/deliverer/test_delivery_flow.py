"""The deliverer against real receivers on 127.0.0.1: headers, signatures, retries, isolation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from deliverer.signatures import verify
from tests.support.deliverer import attempts_for, declare_pipe, make_event, publish_events
from tests.support.poll import eventually
from tests.support.receiver import Receiver, answers

FAST_RETRY = {
    "type": "retry",
    "strategy": "exponential",
    "count": 5,
    "interval": 100,
    "response_status_codes": ["429", "500-599"],
}


async def test_delivers_exact_body_with_fasthook_headers_and_signature(
    deliverer, receiver, producer, settings, bootstrap
):
    pipe = await declare_pipe(producer, settings, receiver.url + "/hook")
    body = b"MessageSid=SM1&MessageStatus=failed&To=%2B1800&ErrorCode="
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", "abc="),
        ("Connection", "close"),
        ("x-fasthook-event-id", "spoofed"),
    ]
    event = make_event(pipe, body, headers=headers)
    await publish_events(producer, settings, [event])
    [got] = await receiver.wait_for(1)
    assert got.body == body and got.method == "POST" and got.path_qs == "/hook"
    assert got.header("X-Twilio-Signature") == "abc="
    assert got.header("x-fasthook-event-id") == event["event_id"]  # not the spoofed one
    assert got.header("x-fasthook-request-id") == event["request_id"]
    assert got.header("x-fasthook-attempt") == "1"
    assert got.header("x-fasthook-source-url") == event["source_url"]
    assert got.header("x-fasthook-connection-id") == pipe.connection["id"]
    assert verify(got.header("x-fasthook-signature"), pipe.signing_secret, got.body)
    attempts = await attempts_for(bootstrap, settings, [event["event_id"]], 1)
    [attempt] = attempts[event["event_id"]]
    assert (attempt["status"], attempt["event_status"], attempt["response_status"]) == (
        "SUCCESSFUL",
        "SUCCESSFUL",
        204,
    )
    assert attempt["trigger"] == "INITIAL" and attempt["requested_url"] == receiver.url + "/hook"


async def test_retry_rule_retries_500s_then_succeeds(deliverer, producer, settings, bootstrap):
    receiver = await Receiver(answer=answers(500, 500)).start()
    try:
        pipe = await declare_pipe(producer, settings, receiver.url, [FAST_RETRY])
        event = make_event(pipe)
        await publish_events(producer, settings, [event])
        attempts = (await attempts_for(bootstrap, settings, [event["event_id"]], 1))[
            event["event_id"]
        ]
        assert [a["trigger"] for a in attempts] == ["INITIAL", "AUTOMATIC", "AUTOMATIC"]
        assert [a["response_status"] for a in attempts] == [500, 500, 204]
        assert [a["event_status"] for a in attempts] == ["SCHEDULED", "SCHEDULED", "SUCCESSFUL"]
        assert attempts[0]["next_attempt_at"] is not None
        assert [r.header("x-fasthook-attempt") for r in receiver.received] == ["1", "2", "3"]
        assert len(set(receiver.event_ids())) == 1  # the same event id on every attempt
    finally:
        await receiver.stop()


async def test_404_is_not_retried_and_no_rule_means_no_retry(
    deliverer, producer, settings, bootstrap
):
    receiver = await Receiver(answer=answers(404, 500, then=500)).start()
    try:
        with_rule = await declare_pipe(producer, settings, receiver.url, [FAST_RETRY])
        without = await declare_pipe(producer, settings, receiver.url + "/b")
        first, second = make_event(with_rule), make_event(without)
        await publish_events(producer, settings, [first])
        await attempts_for(bootstrap, settings, [first["event_id"]], 1)
        await publish_events(producer, settings, [second])
        found = await attempts_for(bootstrap, settings, [first["event_id"], second["event_id"]], 2)
        assert [a["response_status"] for a in found[first["event_id"]]] == [404]
        assert found[first["event_id"]][0]["event_status"] == "FAILED"
        assert [a["response_status"] for a in found[second["event_id"]]] == [500]
        assert found[second["event_id"]][0]["event_status"] == "FAILED"
    finally:
        await receiver.stop()


async def test_retry_after_is_honoured(deliverer, producer, settings, bootstrap):
    receiver = await Receiver(answer=answers(429, headers={"Retry-After": "1"})).start()
    try:
        pipe = await declare_pipe(producer, settings, receiver.url, [FAST_RETRY])
        event = make_event(pipe)
        await publish_events(producer, settings, [event])
        await attempts_for(bootstrap, settings, [event["event_id"]], 1)
        first, second = receiver.received
        # The rule alone would wait 100 ms; the receiver asked for a second.
        assert second.at - first.at >= 0.95
    finally:
        await receiver.stop()


async def fast_p99(producer, settings, pipe, receiver: Receiver, count: int) -> float:
    """p99 seconds from publishing `count` events to their arrival at `receiver`."""
    already = len(receiver.received)
    started = time.monotonic()
    await publish_events(producer, settings, [make_event(pipe) for _ in range(count)])
    await receiver.wait_for(already + count, timeout_s=30)
    lags = sorted(r.at - started for r in receiver.received[already:])
    return lags[int(len(lags) * 0.99) - 1]


async def test_a_destination_that_never_answers_does_not_slow_a_fast_one(
    deliverer, producer, settings, bootstrap
):
    slow = await Receiver(answer=lambda n, r: None).start()
    fast = await Receiver().start()
    try:
        slow_pipe = await declare_pipe(producer, settings, slow.url, timeout_ms=5000)
        fast_pipe = await declare_pipe(producer, settings, fast.url)
        alone = await fast_p99(producer, settings, fast_pipe, fast, 200)
        await publish_events(producer, settings, [make_event(slow_pipe) for _ in range(150)])
        await slow.wait_for(100)  # the hanging destination now holds all its slots
        beside = await fast_p99(producer, settings, fast_pipe, fast, 200)
        print(
            f"fast destination p99: {alone * 1000:.0f} ms alone, {beside * 1000:.0f} ms "
            "beside a destination that never answers"
        )
        assert beside <= alone * 2 + 0.25
    finally:
        await slow.stop()
        await fast.stop()


async def test_receiver_down_then_up_gets_every_event(deliverer, producer, settings, bootstrap):
    receiver = Receiver()
    retry = {"type": "retry", "strategy": "linear", "count": 50, "interval": 200}
    pipe = await declare_pipe(producer, settings, receiver.url, [retry])
    events = [make_event(pipe) for _ in range(30)]
    await publish_events(producer, settings, events)
    await asyncio.sleep(1.0)  # the receiver stays down for a while: that is the test
    await receiver.start()
    try:
        found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 30)
        assert all(a[-1]["event_status"] == "SUCCESSFUL" for a in found.values())
        assert any(a[0]["error_code"] == "CONNECTION_REFUSED" for a in found.values())
        assert set(receiver.event_ids()) == {e["event_id"] for e in events}
    finally:
        await receiver.stop()


async def test_delay_rule_holds_the_event_until_due(deliverer, receiver, producer, settings):
    pipe = await declare_pipe(producer, settings, receiver.url)
    event = make_event(pipe, delay_ms=1500)
    published = time.monotonic()
    await publish_events(producer, settings, [event])
    [got] = await receiver.wait_for(1)
    assert got.at - published >= 1.3


async def test_exhausted_retries_end_failed_and_a_manual_retry_is_one_more_attempt(
    deliverer, producer, settings, bootstrap
):
    receiver = await Receiver(answer=answers(then=503)).start()
    try:
        rule = {"type": "retry", "strategy": "linear", "count": 2, "interval": 50}
        pipe = await declare_pipe(producer, settings, receiver.url, [rule])
        event = make_event(pipe)
        await publish_events(producer, settings, [event])
        attempts = (await attempts_for(bootstrap, settings, [event["event_id"]], 1))[
            event["event_id"]
        ]
        assert [a["event_status"] for a in attempts] == ["SCHEDULED", "SCHEDULED", "FAILED"]
        assert [a["attempt_number"] for a in attempts] == [1, 2, 3]

        # What the API publishes for POST /v1/events/{id}/retry: the same event, trigger MANUAL.
        manual = {**event, "attempt_number": 4, "trigger": "MANUAL"}
        await publish_events(producer, settings, [manual])

        async def four() -> bool:
            return len(receiver.received) >= 4

        await eventually(four, 10, "the manual attempt")

        # Its attempt record follows the answer (the deliverer's producer lingers): wait for it.
        async def manual_recorded() -> list[dict[str, Any]]:
            found = (await attempts_for(bootstrap, settings, [event["event_id"]], 1))[
                event["event_id"]
            ]
            return found if found[-1]["trigger"] == "MANUAL" else []

        attempts = await eventually(manual_recorded, 10, "the manual attempt recorded")
        last = attempts[-1]
        assert (last["trigger"], last["attempt_number"], last["event_status"]) == (
            "MANUAL",
            4,
            "FAILED",
        )  # one more attempt, no new automatic schedule
        assert receiver.received[-1].header("x-fasthook-attempt") == "4"
    finally:
        await receiver.stop()
