"""Fuzzing the ingress over real HTTP: a real `python -m ingress` process on a real broker,
sources of every auth type, and requests with any method, path, query, headers and body
(invalid UTF-8, broken percent-encoding, right and wrong credentials).

Whatever arrives: never a 5xx, and every 200 has its request on the topic (nothing is
acknowledged and lost)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from fasthook.embedded import free_port
from runtime.settings import Settings
from tests.support.http import wire_request
from tests.support.ingress import declare_source
from tests.support.kafka import read_topic
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess

EXAMPLES = 200  # about ten seconds of requests: the run stays well under a minute
SECRET = "fuzz-secret-0123456789"
AUTH_CONFIGS: dict[str, dict[str, Any] | None] = {
    "NONE": None,
    "BASIC_AUTH": {"username": "fuzz", "password": SECRET},
    "API_KEY": {"header_key": "X-Api-Key", "api_key": SECRET},
    "HMAC": {
        "webhook_secret_key": SECRET,
        "algorithm": "sha256",
        "encoding": "base64",
        "header_key": "x-webhook-signature",
    },
    "TWILIO": {"auth_token": SECRET},
}
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    public_url: str
    tokens: dict[str, str]  # auth type -> source token


@pytest.fixture
async def target(settings: Settings, producer, tmp_path) -> AsyncIterator[Target]:
    settings = settings.with_(ingress_port=free_port(), ingress_metrics_port=free_port())
    process = ServiceProcess("ingress", settings, tmp_path / "ingress.log")
    process.start()
    try:
        base = settings.public_base_url
        await process.wait_ready(base + "/readyz")
        tokens = {}
        for kind, auth in AUTH_CONFIGS.items():
            source = await declare_source(
                producer,
                settings,
                name=f"fuzz {kind}",
                config={
                    "auth_type": None if kind == "NONE" else kind,
                    "auth": auth,
                    "allowed_http_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
                },
            )
            tokens[kind] = source["token"]
        for token in tokens.values():
            await eventually(lambda t=token: served(settings, t), 15, f"source {token} served")
        yield Target(settings.ingress_host, settings.ingress_port, base, tokens)
    finally:
        process.kill()


async def served(settings: Settings, token: str) -> bool:
    status, _ = await asyncio.to_thread(
        exchange,
        settings.ingress_host,
        settings.ingress_port,
        wire_request("OPTIONS", f"/{token}", "x", [], b""),
    )
    return status != 404


def exchange(host: str, port: int, raw: bytes) -> tuple[int, bytes]:
    """Send raw bytes, read the whole answer (the request says Connection: close)."""
    with socket.create_connection((host, port), timeout=15) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    return int(answer.split(b" ", 2)[1]), answer


# Mostly what real targets hold, sometimes any printable ASCII (aiohttp refuses some with a
# 400) and percent-encoding broken or not UTF-8.
TARGET_CHARS = st.one_of(
    st.sampled_from([*"abcXYZ019-._~/=&+;:@!$'()*,", "%20", "%2B", "%C3%A9"]),
    st.sampled_from([chr(c) for c in range(33, 127)] + ["%", "%zz", "%e9", "%C3", "%%"]),
)
segments = st.lists(TARGET_CHARS, max_size=30).map("".join)
header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True)
# Visible ASCII and obs-text (bytes 0x80-0xFF: not UTF-8, kept as raw bytes), sometimes
# control characters (the parser refuses those: 400).
VALUE_BYTES = [bytes([b]) for b in [*range(0x20, 0x7F), *range(0x80, 0x100)]]
header_values = st.one_of(
    st.lists(st.sampled_from(VALUE_BYTES), max_size=60).map(b"".join),
    st.lists(st.sampled_from(VALUE_BYTES), max_size=60).map(b"".join),
    st.binary(max_size=20),
).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").strip())
bodies = st.one_of(
    st.binary(max_size=2048),  # anything, invalid UTF-8 included
    st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=8).map(
        lambda d: urlencode(d).encode()
    ),
    segments.map(str.encode),  # a "form" with broken percent-encoding
)


@st.composite
def cases(draw: st.DrawFn, target: Target) -> tuple[str, str, list, bytes]:
    kind = draw(st.sampled_from([*AUTH_CONFIGS, "UNKNOWN"]))
    token = target.tokens.get(kind, "nosuchsource0000")
    # Mostly the usual methods; WebDAV's and made-up ones too (the parser refuses some: 400).
    method = draw(st.sampled_from(ALL_METHODS * 4 + ["PROPFIND", "PURGE", "REPORT", "BREW"]))
    # The token ends at '/' (or the path): "/tokenXYZ" would name another (unknown) source.
    path = f"/{token}" + draw(st.one_of(st.just(""), segments.map(lambda p: "/" + p)))
    query = draw(st.one_of(st.just(""), segments.map(lambda q: "?" + q)))
    body = draw(bodies)
    headers: list[tuple[str, str | bytes]] = draw(
        st.lists(st.tuples(header_names, header_values), max_size=8)
    )
    if draw(st.booleans()):
        headers.append(
            (
                "Content-Type",
                draw(
                    st.sampled_from(
                        [
                            "application/x-www-form-urlencoded",
                            "application/json",
                            "text/plain",
                            "application/x-www-form-urlencoded; charset=utf-8",
                        ]
                    )
                ),
            )
        )
    if draw(st.booleans()):  # the right credential, so accepted requests happen too
        headers += credentials(kind, target.public_url + path + query, headers, body)
    return method, path + query, headers, body


def credentials(kind: str, url: str, headers: list, body: bytes) -> list[tuple[str, str]]:
    if kind == "BASIC_AUTH":
        return [("Authorization", "Basic " + base64.b64encode(f"fuzz:{SECRET}".encode()).decode())]
    if kind == "API_KEY":
        return [("X-Api-Key", SECRET)]
    if kind == "HMAC":
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
        return [("x-webhook-signature", base64.b64encode(digest).decode())]
    if kind == "TWILIO":
        try:
            params = dict(pair.split("=", 1) for pair in body.decode().split("&") if "=" in pair)
        except UnicodeDecodeError:
            params = {}
        return [("X-Twilio-Signature", RequestValidator(SECRET).compute_signature(url, params))]
    return []


def test_any_request_gets_an_answer_and_every_200_is_stored(target, settings, bootstrap):
    accepted: list[str] = []
    answered: dict[int, int] = {}

    @settings_for_fuzz
    @given(case=cases(target))
    def one_request(case: tuple[str, str, list, bytes]) -> None:
        method, request_target, headers, body = case
        raw = wire_request(method, request_target, f"{target.host}:{target.port}", headers, body)
        status, answer = exchange(target.host, target.port, raw)
        assert status < 500, answer[:500]
        answered[status] = answered.get(status, 0) + 1
        if status == 200:
            head = answer.partition(b"\r\n\r\n")[0].decode("latin-1")
            [request_id] = [
                line.split(": ", 1)[1]
                for line in head.split("\r\n")
                if line.lower().startswith("x-fasthook-request-id: ")
            ]
            accepted.append(request_id)

    one_request()
    stored = asyncio.run(read_topic(bootstrap, settings.topics.requests))
    stored_ids = {record["request_id"] for record in stored}
    assert accepted and set(accepted) <= stored_ids, (answered, len(accepted), len(stored))
    assert {record["status"] for record in stored if record["request_id"] in accepted} == {
        "accepted"
    }


settings_for_fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # One ingress process serves every example: that is the point.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
