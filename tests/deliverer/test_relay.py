"""CLI destinations in the deliverer: the attempt built as for any destination against its
stand-in URL, carried to the relay, and the relay's answer read back as the attempt's outcome."""

from __future__ import annotations

from deliverer.outgoing import Outcome, build_request
from deliverer.relay import addressed, local_path, relayed, transport
from deliverer.signatures import verify
from schemas.relay import (
    CLI_DISCONNECTED,
    RELAY_DETAIL_HEADER,
    RELAY_ERROR_HEADER,
    RELAY_PATH_HEADER,
    RELAY_TOKEN_HEADER,
)

SECRET = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
DESTINATION = {
    "id": "des_1",
    "type": "CLI",
    "config": {"path": "/hooks", "auth_type": "FASTHOOK_SIGNATURE"},
}


def event(path: str = "/twilio/status", query: str = "x=1") -> dict:
    return {
        "event_id": "evt_1",
        "request_id": "req_1",
        "attempt_number": 1,
        "source_id": "src_1",
        "connection_id": "con_1",
        "destination_id": "des_1",
        "source_url": "https://in.example/tok/twilio/status?x=1",
        "request": {
            "method": "POST",
            "path": path,
            "query": query,
            "headers": [{"name": "X-Twilio-Signature", "value": "abc", "raw": None}],
            "body": b"MessageStatus=failed",
        },
    }


def test_a_cli_attempt_is_built_and_signed_as_any_other():
    request = build_request(event(), addressed(DESTINATION), [SECRET], 1_700_000_000)
    assert request.url == "cli://des_1/hooks/twilio/status?x=1"
    headers = dict(request.headers)
    assert headers["X-Twilio-Signature"] == "abc"
    assert verify(headers["x-fasthook-signature"], SECRET, request.body, now=1_700_000_000)
    assert local_path(request, "des_1") == "/hooks/twilio/status?x=1"


def test_the_transport_carries_the_path_in_a_header_and_the_credential_beside():
    request = build_request(event(path="/../../metrics"), addressed(DESTINATION), [SECRET], 1)
    carried = transport(request, "des_1", "http://127.0.0.1:8081", "tok")
    assert carried.url == "http://127.0.0.1:8081/relay/des_1"
    headers = dict(carried.headers)
    assert headers[RELAY_PATH_HEADER] == "/hooks/../../metrics?x=1"
    assert headers[RELAY_TOKEN_HEADER] == "tok"
    assert RELAY_TOKEN_HEADER not in dict(request.headers)  # what the attempt records
    assert carried.body == request.body


def test_the_relays_answer_becomes_the_outcome():
    local = Outcome(500, [("Content-Type", "text/plain")], b"boom", 7)
    assert relayed(local) == local
    failed = relayed(
        Outcome(
            502,
            [(RELAY_ERROR_HEADER, "CONNECTION_REFUSED"), (RELAY_DETAIL_HEADER, "nothing listens")],
            b"",
            4,
        )
    )
    assert (failed.status, failed.error_code, failed.error) == (
        None,
        "CONNECTION_REFUSED",
        "nothing listens",
    )
    away = relayed(Outcome(None, error_code="CONNECTION_REFUSED", error="refused"))
    assert away.error_code == CLI_DISCONNECTED and away.status is None
    assert relayed(Outcome(None, error_code="TIMEOUT")).error_code == "TIMEOUT"
