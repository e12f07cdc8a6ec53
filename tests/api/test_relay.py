"""The relay's two doors against the real API: the CLI's WebSocket (API key, the team's CLI
destination, one session per destination) and the deliverer's hop (the relay credential only)."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest

from api.relay import error_of, response_of
from runtime.secrets import generate_key, projections_token, relay_token
from schemas.relay import (
    BINARY_PROTOCOL,
    CLI_DISCONNECTED,
    RELAY_ERROR_HEADER,
    RELAY_PATH_HEADER,
    RELAY_TOKEN_HEADER,
    REPLACED_CLOSE_CODE,
    pack_frame,
    unpack_frame,
)
from tests.support.poll import eventually


async def cli_destination(api, name: str = "laptop") -> dict:
    status, destination = await api.call(
        "POST",
        "/v1/destinations",
        {
            "name": name,
            "type": "CLI",
            "config": {"path": "/hooks", "auth_type": "FASTHOOK_SIGNATURE"},
        },
    )
    assert status == 201, destination
    return destination


def ws_url(api, destination_id: str) -> str:
    return api.url.replace("http://", "ws://") + f"/v1/destinations/{destination_id}/listen"


async def relay_call(
    api, destination_id: str, token: str | None, **headers: str
) -> aiohttp.ClientResponse:
    sent = {**headers, **({RELAY_TOKEN_HEADER: token} if token is not None else {})}
    async with api.http.post(
        f"{api.url}/relay/{destination_id}", data=b"x=1", headers=sent
    ) as answer:
        await answer.read()
        return answer


async def test_cli_destinations_are_validated_by_type(api):
    destination = await cli_destination(api)
    assert destination["type"] == "CLI" and "url" not in destination["config"]
    assert destination["config"]["path"] == "/hooks"
    for body, path in [
        ({"name": "a", "type": "CLI", "config": {"url": "http://x.example"}}, "config.url"),
        (
            {
                "name": "b",
                "type": "CLI",
                "config": {"auth_type": "BEARER_TOKEN", "auth": {"token": "t"}},
            },
            "config.auth_type",
        ),
        ({"name": "c", "type": "CLI", "config": {"path": "no-slash"}}, "config.path"),
        ({"name": "d", "config": {"path": "/p", "url": "http://x.example"}}, "config.path"),
        ({"name": "e"}, "config.url"),
    ]:
        status, problem = await api.call("POST", "/v1/destinations", body)
        assert status == 422, problem
        assert path in {e["path"] for e in problem["errors"]}, problem


async def test_the_relay_answers_the_deliverer_only(api):
    destination = await cli_destination(api)
    secret = api.settings.secret_key
    for token in (None, "", relay_token(generate_key()), projections_token(secret)):
        answer = await relay_call(api, destination["id"], token)
        assert answer.status == 401, token
    answer = await relay_call(api, destination["id"], relay_token(secret))
    assert answer.status == 503
    assert answer.headers[RELAY_ERROR_HEADER] == CLI_DISCONNECTED


async def test_the_socket_needs_a_key_and_a_cli_destination_of_the_team(api):
    destination = await cli_destination(api)
    _, http_destination = await api.call(
        "POST", "/v1/destinations", {"name": "web", "config": {"url": "https://example.com/hook"}}
    )
    for target, headers, status in [
        (destination["id"], {}, 401),
        (destination["id"], {"Authorization": "Bearer fhp_wrong"}, 401),
        (http_destination["id"], api.headers(), 409),
        ("des_01NOSUCHDESTINATION0000000", api.headers(), 404),
    ]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with api.http.ws_connect(ws_url(api, target), headers=headers):
                pass
        assert refused.value.status == status


async def test_a_session_answers_relayed_requests_and_a_newer_one_replaces_it(api):
    destination = await cli_destination(api)
    token = relay_token(api.settings.secret_key)
    async with api.http.ws_connect(
        ws_url(api, destination["id"]), headers=api.headers(), max_msg_size=0
    ) as first:  # as the CLI: any body
        ready = json.loads((await first.receive()).data)
        assert ready["type"] == "ready" and ready["destination"]["id"] == destination["id"]

        async def answer_one() -> dict:
            frame = json.loads((await first.receive()).data)
            await first.send_str(
                json.dumps(
                    {
                        "type": "response",
                        "id": frame["id"],
                        "status": 201,
                        "headers": [["X-Local", "yes"]],
                        "body": "b2s=",
                        "latency_ms": 3,
                    }
                )
            )
            return frame

        answering = asyncio.ensure_future(answer_one())
        answer = await relay_call(
            api,
            destination["id"],
            token,
            **{RELAY_PATH_HEADER: "/hooks/../../v1/team?x=1", "X-Twilio-Signature": "sig"},
        )
        frame = await answering
        assert answer.status == 201 and answer.headers["X-Local"] == "yes"
        # The path travels as data, never as the relay request's own path.
        assert frame["path"] == "/hooks/../../v1/team?x=1"
        names = {k.lower() for k, _ in frame["headers"]}
        assert "x-twilio-signature" in names
        assert not names & {RELAY_TOKEN_HEADER, RELAY_PATH_HEADER, "host", "content-length"}

        # A provider's body up to the contract's limit passes (more than JSON requests may be).
        big = b"B" * (3 * 1024 * 1024)

        async def echo_size() -> None:
            frame = json.loads((await first.receive()).data)
            size = str(len(base64.b64decode(frame["body"])))
            await first.send_str(
                json.dumps(
                    {
                        "type": "response",
                        "id": frame["id"],
                        "status": 200,
                        "headers": [["X-Size", size]],
                        "body": "",
                        "latency_ms": 1,
                    }
                )
            )

        answering = asyncio.ensure_future(echo_size())
        async with api.http.post(
            f"{api.url}/relay/{destination['id']}", data=big, headers={RELAY_TOKEN_HEADER: token}
        ) as answer:
            assert answer.status == 200 and answer.headers["X-Size"] == str(len(big))
        await answering

        async with api.http.ws_connect(
            ws_url(api, destination["id"]), headers=api.headers()
        ) as second:
            assert json.loads((await second.receive()).data)["type"] == "ready"
            closed = await first.receive()
            assert closed.type == aiohttp.WSMsgType.CLOSE
            assert first.close_code == REPLACED_CLOSE_CODE

        async def gone() -> bool:  # the second closed too: nobody holds the destination
            answer = await relay_call(api, destination["id"], token)
            return answer.headers.get(RELAY_ERROR_HEADER) == CLI_DISCONNECTED

        await eventually(gone, 10, "the relay to see no session")


async def test_a_session_that_offers_binary_frames_gets_raw_bodies_both_ways(api):
    destination = await cli_destination(api, "binary")
    token = relay_token(api.settings.secret_key)
    body = bytes(range(256))  # no UTF-8, no base64: the bytes themselves
    async with api.http.ws_connect(
        ws_url(api, destination["id"]),
        headers=api.headers(),
        protocols=(BINARY_PROTOCOL,),
        max_msg_size=0,
    ) as session:
        assert session.protocol == BINARY_PROTOCOL
        assert json.loads((await session.receive()).data)["type"] == "ready"

        async def answer_one() -> dict:
            message = await session.receive()
            assert message.type == aiohttp.WSMsgType.BINARY
            frame = unpack_frame(message.data)
            await session.send_bytes(
                pack_frame(
                    {
                        "type": "response",
                        "id": frame["id"],
                        "status": 202,
                        "headers": [["X-Local", "binary"]],
                        "latency_ms": 2,
                    },
                    frame["body"][::-1],
                )
            )
            return frame

        answering = asyncio.ensure_future(answer_one())
        async with api.http.post(
            f"{api.url}/relay/{destination['id']}",
            data=body,
            headers={
                RELAY_TOKEN_HEADER: token,
                RELAY_PATH_HEADER: "/hooks/s?x=1",
                "X-Twilio-Signature": "sig",
            },
        ) as answer:
            answered = await answer.read()
            assert answer.status == 202 and answer.headers["X-Local"] == "binary"
        frame = await answering
        assert frame["body"] == body and frame["path"] == "/hooks/s?x=1"
        assert ["X-Twilio-Signature", "sig"] in frame["headers"]
        assert answered == body[::-1]

        # An error answer (no local server) passes as the attempt's error, as in JSON.
        async def refuse() -> None:
            frame = unpack_frame((await session.receive()).data)
            await session.send_bytes(
                pack_frame(
                    {
                        "type": "response",
                        "id": frame["id"],
                        "error_code": "CONNECTION_REFUSED",
                        "error": "nothing listens",
                    },
                    b"",
                )
            )

        refusing = asyncio.ensure_future(refuse())
        answer = await relay_call(api, destination["id"], token)
        await refusing
        assert answer.status == 502
        assert answer.headers[RELAY_ERROR_HEADER] == "CONNECTION_REFUSED"


def test_what_a_session_answers_is_checked_before_it_is_passed_on():
    assert error_of({"error_code": "CONNECTION_REFUSED"}) == "CONNECTION_REFUSED"
    # A session cannot cancel its events nor pose as the gateway's own failure.
    for code in ("CONNECTION_DELETED", "INTERNAL_ERROR", "x\r\ny", None, 5):
        assert error_of({"error_code": code}) == "NETWORK_ERROR"
    assert response_of(
        {"status": 200, "headers": [["A", "b"], ["X", "1\r\nSet-Cookie: a"]], "body": "b2s="}
    ) == (200, [("A", "b")], b"ok")
    for bad in (
        {"status": 99},
        {"status": 600},
        {"status": "200"},
        {"status": 200, "body": "not base64!"},
        {"status": 200, "error_code": "TIMEOUT"},
    ):
        assert response_of(bad) is None
