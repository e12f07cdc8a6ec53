"""A lean receiver for the delivery benchmark: what a provider's fast destination costs.

The benchmark's receiver runs in the bench's own process, on the two cores the deliverer and
the broker share, so whatever it spends per request is taken from the worker being measured.
aiohttp's server (request objects, header multidicts, a task per request) cost about as much
per request as a delivery itself; a destination built to take webhooks fast (a load balancer
or a small handler answering at once) costs a fraction of that. This one reads each request
(head and `Content-Length` body: what the deliverer always sends), notes its
`x-fasthook-request-id` and answers `204` on the same keep-alive connection.
"""

from __future__ import annotations

import asyncio
import time

from fasthook.embedded import free_port

_ANSWER = b"HTTP/1.1 204 No Content\r\n\r\n"
_END_OF_HEAD = b"\r\n\r\n"


class _Connection(asyncio.Protocol):
    def __init__(self, receiver: LeanReceiver) -> None:
        self._receiver = receiver
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        answers = 0
        while True:
            end = buffer.find(_END_OF_HEAD)
            if end < 0:
                break
            length, request_id = _read_head(buffer[:end])
            whole = end + 4 + length
            if len(buffer) < whole:
                break
            buffer = buffer[whole:]
            self._receiver.note(request_id)
            answers += 1
        self._buffer = buffer
        if answers and self._transport is not None:
            self._transport.write(_ANSWER * answers)


def _read_head(head: bytes) -> tuple[int, str]:
    length, request_id = 0, ""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"x-fasthook-request-id":
            request_id = value.strip().decode("latin-1")
    return length, request_id


class LeanReceiver:
    """Answers 204 and notes when each request id arrived (the interface of
    bench.pipeline.Receiver, on a bare asyncio protocol)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[str, float] = {}
        self._server: asyncio.Server | None = None
        self._waiting: set[str] = set()
        self._all_in = asyncio.Event()

    def note(self, request_id: str) -> None:
        self.arrived.setdefault(request_id, time.monotonic())
        # A wait hears of the last id it waits for, not of every arrival.
        waiting = self._waiting
        if waiting:
            waiting.discard(request_id)
            if not waiting:
                self._all_in.set()

    async def wait_all(self, ids: set[str], timeout_s: float) -> None:
        """Until every id arrived, or the timeout passed (what is missing is then reported)."""
        self._waiting = set(ids) - self.arrived.keys()
        if not self._waiting:
            return
        self._all_in.clear()
        try:
            await asyncio.wait_for(self._all_in.wait(), timeout_s)
        except TimeoutError:
            return
        finally:
            self._waiting = set()

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), "127.0.0.1", self.port)
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
