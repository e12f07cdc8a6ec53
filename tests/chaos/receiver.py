"""The receiver every connection delivers to: stoppable and restartable on the same port, and
writing every delivery it gets to its own log (one JSON line, with its x-fasthook-event-id)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.support.receiver import Received, Receiver

SID = re.compile(rb"SM\d{8}[0-9a-f]{24}")


@dataclass(frozen=True)
class Delivery:
    path: str
    event_id: str
    attempt: int
    sid: str
    transformed: bool
    at: float

    @classmethod
    def of(cls, got: Received) -> Delivery:
        sid = SID.search(got.body)
        return cls(
            got.path_qs.split("?")[0],
            got.header("x-fasthook-event-id") or "",
            int(got.header("x-fasthook-attempt") or 0),
            sid.group().decode() if sid else "",
            got.header("x-chaos-transformed") == "yes",
            got.at,
        )


class LoggingReceiver:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[str] = open(log_path, "a")  # closed by close()
        self.receiver = Receiver(answer=self._answer)

    @property
    def url(self) -> str:
        return self.receiver.url

    def _answer(self, _: int, got: Received) -> tuple[int, dict[str, str]]:
        delivery = Delivery.of(got)
        self._log.write(json.dumps(delivery.__dict__) + "\n")
        self._log.flush()
        return 200, {}

    async def start(self) -> None:
        await self.receiver.start()

    async def stop(self) -> None:
        await self.receiver.stop()

    def close(self) -> None:
        self._log.close()

    def deliveries(self) -> list[Delivery]:
        """What the receiver's log says it got."""
        return [Delivery(**json.loads(line)) for line in self.log_path.read_text().splitlines()]
