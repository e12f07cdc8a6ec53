"""A crash between recording an attempt and scheduling its retry: the re-run converges on one
attempt and one retry chain."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka.errors import KafkaConnectionError

from deliverer.delivery import Delivery
from deliverer.metrics import DelivererMetrics
from deliverer.sending import make_session
from deliverer.ssrf import DestinationGuard
from deliverer.view import DeliveryView
from runtime.secrets import SecretBox
from schemas.codec import decode, encode
from tests.support.deliverer import declare_pipe, make_event
from tests.support.kafka import read_topic
from tests.support.receiver import Receiver, answers

GUARD = DestinationGuard(["127.0.0.1/32"])
RETRY = {"type": "retry", "strategy": "linear", "count": 3, "interval": 60_000}


class CrashingProducer:
    """Stands in for the producer: keeps what is published; the `crash_at`-th publish raises,
    as the broker going away (or the process dying) between two publishes would."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at = crash_at
        self.calls = 0
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.calls += 1
        if self.calls == self.crash_at:
            raise KafkaConnectionError("the broker went away")
        self.sent.append((topic, decode(value)))


async def view_of(bootstrap, settings) -> DeliveryView:
    view = DeliveryView(SecretBox(settings.secret_key))
    for record in await read_topic(bootstrap, settings.topics.config):
        view.apply(record["entity_id"], record)
    return view


async def test_a_crash_between_record_and_schedule_leaves_one_attempt_and_one_retry(
    producer, settings, bootstrap
):
    receiver = await Receiver(answer=answers(then=500)).start()
    session = make_session(GUARD, 5)
    try:
        pipe = await declare_pipe(producer, settings, receiver.url, [RETRY])
        view = await view_of(bootstrap, settings)
        event = make_event(pipe)
        out = CrashingProducer(crash_at=2)  # the second of the two publishes fails

        async def no_sync() -> None:
            return None

        def delivery() -> Delivery:
            return Delivery(
                settings,
                view,
                out,
                session,
                GUARD,  # type: ignore[arg-type]
                DelivererMetrics(),
                no_sync,
            )

        try:
            await delivery().deliver(event, RETRY)
        except KafkaConnectionError:
            pass  # the crash: the offset is not committed, the record is read again
        await delivery().deliver(event, RETRY)  # the re-run

        attempts = [r for t, r in out.sent if t == settings.topics.attempts]
        retries = [r for t, r in out.sent if t != settings.topics.attempts]
        assert len(receiver.received) == 2  # sent twice: at least once
        assert len({a["attempt_id"] for a in attempts}) == 1, attempts
        assert len(retries) == 1, "one retry chain, not two"
        assert retries[0]["attempt_number"] == 2
        # The retry went out only after its attempt was recorded.
        order = [t == settings.topics.attempts for t, _ in out.sent]
        assert order.index(False) > order.index(True)
    finally:
        await session.close()
        await receiver.stop()


async def test_two_copies_of_a_scheduled_retry_make_one_attempt(producer, settings, bootstrap):
    """A crash after the retry was scheduled but before the offset was committed schedules it
    again on the re-run: the two copies (each with its own times) deliver attempt 2 once."""
    receiver = await Receiver(answer=answers(then=500)).start()
    session = make_session(GUARD, 5)
    try:
        pipe = await declare_pipe(producer, settings, receiver.url, [RETRY])
        view = await view_of(bootstrap, settings)
        out = CrashingProducer()

        async def no_sync() -> None:
            return None

        delivery = Delivery(
            settings,
            view,
            out,
            session,
            GUARD,  # type: ignore[arg-type]
            DelivererMetrics(),
            no_sync,
        )
        event = make_event(pipe)
        await delivery.deliver(event, RETRY)
        await delivery.deliver(event, RETRY)  # the re-run after the crash
        copies = [r for t, r in out.sent if t != settings.topics.attempts]
        assert len(copies) == 2
        now = copies[-1]["created_at"]
        due = [encode("EventCreated", {**copy, "due_at": now}) for copy in copies]
        await asyncio.gather(
            *(delivery.handle_event(SimpleNamespace(value=v, offset=i)) for i, v in enumerate(due))
        )

        second = [
            r for t, r in out.sent if t == settings.topics.attempts and r["attempt_number"] == 2
        ]
        assert len(second) == 1
        assert [r.header("x-fasthook-attempt") for r in receiver.received] == ["1", "1", "2"]
    finally:
        await session.close()
        await receiver.stop()
