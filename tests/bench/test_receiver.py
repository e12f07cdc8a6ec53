"""The delivery benchmark's lean receiver answers what the deliverer sends, as a server would."""

from __future__ import annotations

import asyncio

from bench.receiver import LeanReceiver
from deliverer.http_client import HttpClient, request_bytes, target
from deliverer.ssrf import DestinationGuard
from schemas.ids import new_id


async def test_it_answers_each_request_and_notes_its_id() -> None:
    receiver = LeanReceiver()
    url = await receiver.start()
    client = HttpClient(DestinationGuard(["127.0.0.1/32"]), 5.0)

    ids = {new_id("req") for _ in range(3)}
    try:
        for index, request_id in enumerate(sorted(ids)):
            body = b"x" * (index * 70_000)  # a body over several reads too
            data = request_bytes("POST", target(url), [("x-fasthook-request-id", request_id)], body)
            answer = await client.exchange("POST", url, data, 5.0, 1024)
            assert answer.status == 204
        await receiver.wait_all(ids, 10)
        assert set(receiver.arrived) == ids
    finally:
        await client.close()
        await receiver.stop()


async def test_pipelined_requests_on_one_connection_are_each_answered() -> None:
    receiver = LeanReceiver()
    url = await receiver.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
    try:
        requests = b"".join(
            f"POST /hook HTTP/1.1\r\nHost: x\r\nX-FastHook-Request-Id: r{i}\r\n"
            f"Content-Length: 2\r\n\r\nhi".encode()
            for i in range(3)
        )
        writer.write(requests[:25])
        await writer.drain()
        writer.write(requests[25:])
        await writer.drain()
        answers = await asyncio.wait_for(reader.readexactly(3 * 27), 10)
        assert answers == b"HTTP/1.1 204 No Content\r\n\r\n" * 3
        assert set(receiver.arrived) == {"r0", "r1", "r2"}
        assert url.endswith("/hook")
    finally:
        writer.close()
        await receiver.stop()
