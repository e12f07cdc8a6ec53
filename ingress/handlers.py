"""The source URL handler: look up, check, record, then answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from functools import partial
from typing import Protocol

from aiohttp import web
from aiokafka.errors import KafkaError

from ingress.deadlines import Deadline
from ingress.keys import BATCHER, DERIVED, KAFKA, METRICS, SETTINGS, SOURCES
from ingress.records import (
    accepted_answer,
    header_pairs,
    longest_header_line,
    redact,
    rejection_answer,
    request_record,
    split_target,
)
from ingress.signatures import credential_header, verify
from ingress.sources import Source
from ingress.verification import IncomingRequest, Verification
from runtime.serve import IN_FLIGHT
from schemas.codec import encode
from schemas.headers import header_records
from schemas.ids import new_id
from schemas.limits import MAX_REJECTED_BODY_BYTES
from schemas.records import Header, RequestReceived

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-fasthook-request-id"
NOT_VERIFIED = Verification("NONE", False, "not checked: rejected before verification")


# Bodies larger than this are verified in a worker thread: hashing and parsing megabytes
# (a 5 MiB Twilio form takes most of a second) must not hold up every other request's answer.
VERIFY_ON_LOOP_MAX_BYTES = 64 * 1024


class Content(Protocol):
    """What the handler reads of a request's body stream (aiohttp's StreamReader, or the lean
    server's ingress.server.Body)."""

    def is_eof(self) -> bool: ...
    def read_nowait(self) -> bytes: ...
    async def readany(self) -> bytes: ...


class SourceRequest(Protocol):
    """What the handler reads of a request: aiohttp's `web.Request` has it, and the lean
    server (ingress/server.py) builds no more than it."""

    @property
    def app(self) -> web.Application: ...
    @property
    def match_info(self) -> Mapping[str, str]: ...
    @property
    def method(self) -> str: ...
    @property
    def raw_path(self) -> str: ...
    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]: ...
    @property
    def content(self) -> Content: ...
    @property
    def content_length(self) -> int | None: ...
    @property
    def remote(self) -> str | None: ...


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


async def read_body(request: SourceRequest, limit: int, deadline_s: float) -> bytes:
    """The raw body, refusing early (without reading it all) when it is over `limit`, and
    giving up when it has not all arrived within `deadline_s` (a trickling client)."""
    content = request.content
    if content.is_eof():
        # All of it came with the headers (a provider's callback, as a rule): nothing to wait
        # for, so no deadline to arm.
        body = content.read_nowait()
        if len(body) > limit:
            raise BodyTooLarge
        return body
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        with Deadline(asyncio.get_running_loop(), deadline_s):
            while chunk := await content.readany():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTooSlow from None
    return b"".join(chunks)


NO_AUTH = Verification("NONE", True, None)


async def verify_off_loop(
    source: Source, method: str, url: str, headers: list[Header], body: bytes
) -> Verification:
    if source.auth_type is None:
        return NO_AUTH  # what verify says, without building what it would not read
    incoming = IncomingRequest(method, url, header_pairs(headers), body)
    if len(body) <= VERIFY_ON_LOOP_MAX_BYTES:
        return verify(source.auth_type, source.auth, incoming)
    return await asyncio.to_thread(verify, source.auth_type, source.auth, incoming)


async def handle_source_request(request: SourceRequest) -> web.StreamResponse:
    with request.app[IN_FLIGHT]:  # shutdown waits for it (runtime.serve)
        return await answer_source_request(request)


async def answer_source_request(request: SourceRequest) -> web.StreamResponse:
    app = request.app
    metrics = app[METRICS]
    received_at_ms = int(time.time() * 1000)
    request_id = new_id("req", received_at_ms)
    token = request.match_info["token"]
    source = app[SOURCES].by_token(token)
    if source is None:
        metrics.answered("", "404")
        return web.json_response(
            {"status": "NOT_FOUND", "message": "No source at this URL.", "request_id": request_id},
            status=404,
            headers={REQUEST_ID_HEADER: request_id},
        )

    settings = app[SETTINGS]
    if longest_header_line(request.raw_headers) > settings.max_header_bytes:
        # aiohttp bounds a header's name and value apart; the contract bounds the whole line.
        metrics.answered(source.id, "431")
        return web.json_response(
            {
                "status": "HEADER_TOO_LARGE",
                "request_id": request_id,
                "message": f"A header line is over {settings.max_header_bytes} bytes.",
            },
            status=431,
            headers={REQUEST_ID_HEADER: request_id},
        )
    raw_path = request.raw_path
    path, query = split_target(raw_path, token)
    headers = header_records(request.raw_headers)
    public_url = app[DERIVED].public_base_url + raw_path

    cause: str | None = None
    body = b""
    verification = NOT_VERIFIED
    if not source.enabled:
        cause = "SOURCE_DISABLED"
    elif request.method.upper() not in source.allowed_methods:
        cause = "METHOD_NOT_ALLOWED"
    if cause is not None:
        body_size = request.content_length or 0  # as announced: the body is not read
    else:
        try:
            body = await read_body(
                request, settings.max_body_bytes, settings.ingress_body_timeout_s
            )
            body_size = len(body)
        except BodyTooLarge:
            cause = "BODY_TOO_LARGE"
            body_size = request.content_length or 0
        except BodyTooSlow:
            return too_slow(source, request_id, settings.ingress_body_timeout_s, app)
        else:
            verification = await verify_off_loop(source, request.method, public_url, headers, body)
            if not verification.verified:
                cause = "VERIFICATION_FAILED"
    metrics.body_bytes.observe(body_size)
    if cause is not None:
        # Evidence of a refused request, not a way to park megabytes on the topic.
        body = body[:MAX_REJECTED_BODY_BYTES]

    # Verified (or not) against the credential; stored and forwarded without it.
    build = partial(
        request_record,
        request_id=request_id,
        source=source,
        received_at_ms=received_at_ms,
        method=request.method,
        path=path,
        query=query,
        public_url=public_url,
        headers=redact(headers, credential_header(source.auth_type, source.auth)),
        client_ip=request.remote,
        body=body,
        body_size=body_size,
        verification=verification,
        rejection_cause=cause,
    )
    # Reading a provider's JSON body (its event type and id) off the loop when it is big.
    record = build() if len(body) <= VERIFY_ON_LOOP_MAX_BYTES else await asyncio.to_thread(build)
    # Known unreachable: answer 503 at once rather than make the provider wait for a timeout.
    stored = app[KAFKA].broker.reachable and await store(app, request_id, record)
    if cause is not None:
        return rejected(source, cause, request_id, allowed=source.allowed_methods, app=app)
    if not stored:
        metrics.answered(source.id, "503")
        return web.json_response(
            {
                "status": "UNAVAILABLE",
                "message": "The request could not be stored; retry later.",
                "request_id": request_id,
            },
            status=503,
            headers={REQUEST_ID_HEADER: request_id, "Retry-After": str(settings.retry_after_s)},
        )
    content_type, payload = accepted_answer(source, request_id)
    metrics.answered(source.id, "200")
    return web.Response(
        body=payload,
        status=200,
        headers={REQUEST_ID_HEADER: request_id, "Content-Type": content_type},
    )


async def store(app: web.Application, request_id: str, record: RequestReceived) -> bool:
    """Hand the record to the broker and wait for its ack; False when it did not come in time."""
    metrics = app[METRICS]
    started = time.perf_counter()
    try:
        # Batched with other requests' records; this request still waits for its own ack,
        # until the produce deadline (settings.produce_timeout_s, kept by the batcher).
        await app[BATCHER].send_and_wait(encode("RequestReceived", record), key=request_id.encode())
    except (KafkaError, TimeoutError) as exc:
        metrics.produce_failures.labels(record["status"]).inc()
        log.warning(
            "request not stored",
            extra={"request_id": request_id, "status": record["status"], "error": repr(exc)},
        )
        return False
    metrics.produce_seconds.observe(time.perf_counter() - started)
    return True


def too_slow(
    source: Source, request_id: str, deadline_s: float, app: web.Application
) -> web.Response:
    """408 and close: a half-read request is neither stored nor acknowledged."""
    app[METRICS].answered(source.id, "408")
    response = web.json_response(
        {
            "status": "REQUEST_TIMEOUT",
            "message": f"The request body did not arrive within {deadline_s:g}s.",
            "request_id": request_id,
        },
        status=408,
        headers={REQUEST_ID_HEADER: request_id},
    )
    response.force_close()
    return response


def rejected(
    source: Source, cause: str, request_id: str, *, allowed: frozenset[str], app: web.Application
) -> web.Response:
    status, payload = rejection_answer(cause, request_id)
    app[METRICS].answered(source.id, str(status))
    headers = {REQUEST_ID_HEADER: request_id, "Content-Type": "application/json"}
    if cause == "METHOD_NOT_ALLOWED":
        headers["Allow"] = ", ".join(sorted(allowed))
    return web.Response(body=payload, status=status, headers=headers)
