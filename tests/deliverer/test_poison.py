"""A record the deliverer cannot handle ends as a recorded failure; it never holds a partition."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from aiokafka.errors import KafkaConnectionError

from deliverer.keys import KAFKA, VIEW
from deliverer.outgoing import HttpRequest
from deliverer.sending import make_session, send
from deliverer.ssrf import DestinationGuard
from runtime.consuming import ConcurrentConsumer
from tests.support.deliverer import attempts_for, declare_pipe, make_event, publish_events
from tests.support.kafka import committed_total, read_topic
from tests.support.poll import eventually
from tests.support.receiver import Receiver, answers

RETRY = {"type": "retry", "strategy": "linear", "count": 3, "interval": 100}
GUARD = DestinationGuard(["127.0.0.1/32"])


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", [("X-Note", "a\r\nX-Injected: 1")]),  # header injection
        ("POST", [("X-Note", "a\nb")]),
        ("POST", [("X-Note", "a\x00b")]),
        ("POST", [("X-Note", b"a\r\nb")]),  # the same, in the bytes of a non-UTF-8 value
        ("POST", [("X:Note", "v")]),  # not a header name: the receiver would read another header
        ("POST", [("X Note", "v")]),
        ("POST", [("", "v")]),
        ("GE T", []),  # not a method token
        ("", []),
        ("GET\r\nX: 1", []),
    ],
)
async def test_a_request_that_cannot_be_sent_as_built_is_invalid(receiver, method, headers):
    session = make_session(GUARD, 5)
    try:
        request = HttpRequest(method, receiver.url + "/hook", headers, b"x")
        outcome = await send(session, request, 5, GUARD)
    finally:
        await session.close()
    assert (outcome.status, outcome.error_code) == (None, "INVALID_REQUEST")
    assert outcome.error
    assert receiver.received == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://", "not a url", "http://[::1/x"])
async def test_a_url_that_cannot_be_called_is_invalid(url):
    session = make_session(GUARD, 5)
    try:
        outcome = await send(session, HttpRequest("POST", url, [], b""), 5, GUARD)
    finally:
        await session.close()
    assert (outcome.status, outcome.error_code) == (None, "INVALID_REQUEST")


async def test_poison_events_fail_once_and_the_partition_moves_on(
    deliverer, receiver, producer, settings, bootstrap
):
    pipe = await declare_pipe(producer, settings, receiver.url, [RETRY])
    injected = make_event(pipe, headers=[("X-Note", "a\r\nX-Injected: 1")])
    bad_name = make_event(pipe, headers=[("X:Note", "v")])
    bad_method = make_event(pipe)
    bad_method["request"]["method"] = "GE T"
    good = make_event(pipe)
    events = [injected, bad_name, bad_method, good]
    await publish_events(producer, settings, events)

    found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 4)
    for event in events[:3]:
        [attempt] = found[event["event_id"]]  # permanent: never retried
        assert (attempt["status"], attempt["event_status"], attempt["error_code"]) == (
            "FAILED",
            "FAILED",
            "INVALID_REQUEST",
        )
    assert found[good["event_id"]][-1]["event_status"] == "SUCCESSFUL"
    assert receiver.event_ids() == [good["event_id"]]

    on_topic = len(await read_topic(bootstrap, settings.topics.events))
    group = f"{settings.topic_namespace}-deliverer"

    async def committed() -> bool:
        return await committed_total(bootstrap, group, settings.topics.events) == on_topic

    await eventually(committed, 15, "the deliverer committed past every event", 0.2)


async def test_a_bug_on_one_record_is_given_up_but_broker_trouble_is_retried(
    producer, settings, bootstrap
):
    topic = settings.topics.requests  # any topic of the namespace: nothing else reads it here
    seen: Counter[bytes] = Counter()

    async def handle(record) -> None:
        seen[record.value] += 1
        if record.value == b"bug":
            raise KeyError("a bug in handling this one record")
        if record.value == b"flaky" and seen[b"flaky"] <= 2:
            raise KafkaConnectionError("the broker is away for a moment")

    consumer = ConcurrentConsumer(
        settings, [topic], f"{settings.topic_namespace}-poison", handle, 10
    )
    await consumer.start()
    try:
        for value in (b"bug", b"flaky", b"fine"):  # one key: one partition, in this order
            await producer.send_and_wait(topic, value, key=b"same")

        async def committed() -> bool:
            await consumer.commit()
            return await committed_total(bootstrap, consumer.group, topic) == 3

        await eventually(committed, 20, "the consumer committed past all three records", 0.2)
        assert seen == Counter({b"bug": 1, b"flaky": 3, b"fine": 1})
    finally:
        await consumer.stop(0)


async def test_a_bug_in_handling_one_event_ends_as_a_recorded_failure(
    deliverer, producer, settings, bootstrap
):
    """Whatever raises while handling an event (here: a retry rule no strategy matches, and a
    team without a signing secret) becomes that event's failed attempt, not an endless retry."""
    receiver = await Receiver(answer=answers(then=500)).start()
    try:
        broken_rule = await declare_pipe(producer, settings, receiver.url, [RETRY])
        unsigned = await declare_pipe(producer, settings, receiver.url + "/unsigned")
        await deliverer.app[KAFKA].follower.sync()
        view = deliverer.app[VIEW]
        state = view.connections[broken_rule.connection["id"]]
        view.connections[state.id] = replace(state, retry={**RETRY, "strategy": "sideways"})
        view._teams.pop(unsigned.team["id"])  # FASTHOOK_SIGNATURE with no secret to sign with
        events = [make_event(broken_rule), make_event(unsigned)]
        await publish_events(producer, settings, events)

        found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 2)
        [bug] = found[events[0]["event_id"]]
        [unbuildable] = found[events[1]["event_id"]]
        assert (bug["event_status"], bug["error_code"]) == ("FAILED", "INTERNAL_ERROR")
        assert (unbuildable["event_status"], unbuildable["error_code"]) == (
            "FAILED",
            "INVALID_REQUEST",
        )
        assert len(receiver.received) == 1  # the unsigned request never went out
    finally:
        await receiver.stop()
