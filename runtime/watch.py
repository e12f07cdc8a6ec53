"""Whether the broker answers: the `broker_reachable` of every service's /readyz."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from typing import Protocol

from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import ApiVersionRequest


class MetadataClient(Protocol):
    """What BrokerWatch needs of a Kafka client (aiokafka's `AIOKafkaClient` is one)."""

    def fetch_all_metadata(self) -> Awaitable[object]: ...

    def get_random_node(self) -> int | None: ...

    def send(self, node_id: int, request: ApiVersionRequest) -> Awaitable[object]: ...


def answered_at(client: object) -> float:
    """When (time.monotonic) one of `client`'s live connections last had an answer from a
    broker, or -inf. aiokafka keeps it on each connection, for its idle-connection check:
    `_last_action` is set when a connection opens and when a response is read."""
    latest = -math.inf
    for conn in getattr(client, "_conns", {}).values():
        if conn.connected():
            latest = max(latest, float(getattr(conn, "_last_action", -math.inf)))
    return latest


class BrokerWatch:
    """Keeps `reachable` current by asking a started client for cluster metadata now and then.

    Once the client knows a broker, the question is the smallest one that needs an answer (the
    broker's API versions). Asking for every topic's metadata, as a client's full refresh does
    (the embedded broker also answers a question naming no topic with every topic), made the
    broker describe every partition of the catalog and each service decode it every 2 s: a
    tenth of an idle deliverer's CPU, for an answer that only has to arrive.

    Nor does it ask while the broker answers anyway: a consumer it `hear`s (the config
    follower, the projector) fetches a few times a second even when idle, and an answer to any
    of its clients within the interval is the same proof (half a request a second per service
    of an idle stack, for nothing).
    """

    def __init__(
        self, client: MetadataClient, interval_s: float = 2.0, timeout_s: float = 2.0
    ) -> None:
        self._client = client
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self.reachable = False
        self._task: asyncio.Task[None] | None = None
        self._heard: list[object] = [client]

    def hear(self, client: object) -> None:
        """Answers `client` (a started consumer's) has from the broker count as reachable."""
        self._heard.append(client)

    def heard_lately(self) -> bool:
        """An answer came to one of the clients heard within the interval."""
        since = time.monotonic() - self._interval_s
        return any(answered_at(client) > since for client in self._heard)

    def _ask(self) -> Awaitable[object]:
        node_id = self._client.get_random_node()
        if node_id is None:  # no broker known yet: through the bootstrap servers
            return self._client.fetch_all_metadata()
        return self._client.send(node_id, ApiVersionRequest())

    async def check(self) -> bool:
        try:
            await asyncio.wait_for(self._ask(), self._timeout_s)
        except (KafkaError, TimeoutError, OSError):
            self.reachable = False
        else:
            self.reachable = True
        return self.reachable

    async def _run(self) -> None:
        while True:
            if self.heard_lately():
                self.reachable = True
            else:
                await self.check()
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="broker-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
