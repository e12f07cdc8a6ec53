"""What reaches the receiver byte for byte: header values that are not UTF-8 stay as they came."""

from __future__ import annotations

from deliverer.outgoing import HttpRequest
from deliverer.sending import make_session, send
from deliverer.ssrf import DestinationGuard
from tests.support.deliverer import declare_pipe, make_event, publish_events

GUARD = DestinationGuard(["127.0.0.1/32"])
RAW = b"caf\xe9 \xff\x80\tend"  # latin-1 é, bytes that are no text at all, a tab


def exact(value: str | None) -> bytes | None:
    """The receiver reads raw header bytes as latin-1: encoding back gives the wire bytes."""
    return None if value is None else value.encode("latin-1")


async def test_header_bytes_go_out_exactly(receiver):
    session = make_session(GUARD, 5)
    try:
        request = HttpRequest(
            "POST",
            receiver.url + "/hook",
            [("X-Raw", RAW), ("X-Text", "café ✓"), ("X-Plain", "a b")],
            b"x",
        )
        outcome = await send(session, request, 5, GUARD)
    finally:
        await session.close()
    assert outcome.status == 204, outcome
    [got] = receiver.received
    assert exact(got.header("X-Raw")) == RAW
    assert exact(got.header("X-Text")) == "café ✓".encode()
    assert exact(got.header("X-Plain")) == b"a b"


async def test_a_providers_non_utf8_header_is_delivered_as_it_arrived(
    deliverer, receiver, producer, settings
):
    pipe = await declare_pipe(producer, settings, receiver.url)
    event = make_event(pipe)
    event["request"]["headers"].append(
        {"name": "X-Provider-Note", "value": RAW.decode("latin-1"), "raw": RAW}
    )
    await publish_events(producer, settings, [event])
    [got] = await receiver.wait_for(1)
    assert exact(got.header("X-Provider-Note")) == RAW
