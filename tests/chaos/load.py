"""Twilio-like load at a modest, bounded rate, recording every answer (or its absence)."""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

STATUSES = ("queued", "sent", "delivered", "delivered", "delivered", "failed", "undelivered")
MAX_IN_FLIGHT = 400  # bounds memory if the gateway stalls; never reached at the rates used


@dataclass(frozen=True)
class Target:
    """A source the load calls: its URL plus the callback path, and its Twilio auth token
    (None: an unauthenticated source, no signature sent)."""

    name: str
    url: str
    token: str | None = None


@dataclass
class Sent:
    sid: str  # MessageSid: unique per callback, how deliveries are matched to what was sent
    target: str
    message_status: str
    sent_at: float
    answered_at: float | None = None
    status: int | None = None  # None: no answer (refused, reset, timed out)
    request_id: str | None = None
    error: str | None = None


def callback(sid: str, status: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": "AC" + "a" * 32,
        "From": "+18005550199",
        "To": "+18005551212",
        "ApiVersion": "2010-04-01",
        "ErrorCode": "30003" if status in ("failed", "undelivered") else "",
    }


@dataclass
class Load:
    targets: list[Target]
    rate_per_s: float
    sent: list[Sent] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=itertools.count)
    _random: random.Random = field(default_factory=lambda: random.Random(9))

    async def send(
        self, http: aiohttp.ClientSession, target: Target, status: str | None = None
    ) -> Sent:
        sid = f"SM{next(self._ids):08d}{secrets.token_hex(12)}"
        status = status or self._random.choice(STATUSES)
        record = Sent(sid, target.name, status, time.monotonic())
        self.sent.append(record)
        params = callback(sid, status)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        if target.token is not None:
            headers["X-Twilio-Signature"] = RequestValidator(target.token).compute_signature(
                target.url, params
            )
        try:
            async with http.post(
                target.url,
                data=urlencode(params),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                await response.read()
                record.status = response.status
                record.request_id = response.headers.get("x-fasthook-request-id")
        except (aiohttp.ClientError, TimeoutError) as exc:
            record.error = type(exc).__name__
        record.answered_at = time.monotonic()
        return record

    async def run(self, duration_s: float) -> None:
        """Open loop: one callback every 1/rate s whatever the answers take, for duration_s."""
        started = time.monotonic()
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        tasks: set[asyncio.Task[Sent]] = set()

        async def one(target: Target) -> Sent:
            async with in_flight:
                return await self.send(http, target)

        async with aiohttp.ClientSession() as http:
            for n in itertools.count():
                due = started + n / self.rate_per_s
                if due - started >= duration_s:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                task = asyncio.create_task(one(self.targets[n % len(self.targets)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
