"""The api → projections hop: projections answers only a caller holding the credential derived
from FASTHOOK_SECRET_KEY, so the team header it scopes queries by cannot come from anyone else
(a destination pointed at it, another pod on its network)."""

from __future__ import annotations

from typing import Any

import pytest

from projections.app import create_app
from runtime.errors import SettingsError
from runtime.secrets import generate_key, is_hop_token, projections_token
from runtime.settings import Settings
from tests.projections.conftest import TEAM, Service
from tests.projections.records import publish, request_record
from tests.support.api import start_api, stop_api
from tests.support.deliverer import (
    attempts_for,
    declare_pipe,
    make_event,
    publish_events,
    start_deliverer,
)
from tests.support.poll import eventually

SOURCE = "src_hop"


async def _seeded(service: Service, producer: Any) -> str:
    record = request_record(TEAM, SOURCE)
    await publish(producer, service.settings, "requests", [record])
    await service.wait_for("/v1/requests", 1, source_id=SOURCE)
    return record["request_id"]


async def _raw(
    service: Service, method: str, path: str, headers: dict[str, str]
) -> tuple[int, str, bytes]:
    async with service.http.request(method, service.url + path, headers=headers) as answer:
        return answer.status, answer.content_type, await answer.read()


@pytest.mark.parametrize("hop", [None, "", "0" * 64, "not-a-token"])
async def test_the_team_header_alone_gets_nothing(
    service: Service, producer: Any, hop: str | None
) -> None:
    request_id = await _seeded(service, producer)
    headers = {"x-fasthook-team-id": TEAM}
    if hop is not None:
        headers["x-fasthook-projections-token"] = hop
    for method, path in (
        ("GET", "/v1/requests"),
        ("GET", f"/v1/requests/{request_id}"),
        ("GET", f"/v1/requests/{request_id}/raw_body"),
        ("POST", f"/v1/requests/{request_id}/retry"),
        ("GET", "/openapi-paths.json"),
    ):
        status, content_type, body = await _raw(service, method, path, headers)
        assert status == 401, (path, status, body)
        assert content_type == "application/problem+json"
        assert request_id.encode() not in body and b"MessageSid" not in body


async def test_probes_need_no_credential(service: Service) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        status, _, body = await _raw(service, "GET", path, {})
        assert status == 200, (path, body)


async def test_the_credential_without_a_team_is_still_refused(service: Service) -> None:
    status, body = await service.call("GET", "/v1/requests", team=None)
    assert status == 401 and "x-fasthook-team-id" in body["detail"]


async def test_the_api_forwards_with_the_credential(service: Service, producer: Any) -> None:
    api = await start_api(service.settings)
    try:
        record = request_record(api.team["id"], SOURCE)
        await publish(producer, service.settings, "requests", [record])

        async def listed() -> list[str]:
            status, body = await api.call("GET", "/v1/requests")
            assert status == 200, body
            return [m["id"] for m in body["models"]]

        assert await eventually(listed, 10, "the request through the API") == [record["request_id"]]
        # The document merges the forwarded routes: the API fetched them with the credential.
        status, document = await api.call("GET", "/v1/openapi.json")
        assert status == 200 and "/v1/bulk/events/retry" in document["paths"]
    finally:
        await stop_api(api)


async def test_an_api_with_another_secret_key_is_refused(service: Service) -> None:
    api = await start_api(service.settings.with_(secret_key=generate_key()))
    try:
        status, body = await api.call("GET", "/v1/requests")
        # Not the projections' 401: the caller's key was fine, the deployment is not.
        assert status == 503, body
        assert body["detail"] == "the query service refused this API; try again shortly"
        status, document = await api.call("GET", "/v1/openapi.json")
        assert status == 200 and "/v1/events" not in document["paths"]
    finally:
        await stop_api(api)


def test_the_credential_is_derived_from_the_secret_key() -> None:
    key, other = generate_key(), generate_key()
    token = projections_token(key)
    assert token == projections_token(key) != projections_token(other)
    assert key not in token and len(token) == 64
    assert is_hop_token((token,), token)
    assert not is_hop_token((token,), None)
    assert not is_hop_token((token,), token[:-1])
    assert not is_hop_token((token,), "é" * 64)
    with pytest.raises(TypeError):
        is_hop_token(token, token[0])


def test_projections_does_not_start_without_a_secret_key(psettings: Settings) -> None:
    with pytest.raises(SettingsError, match="FASTHOOK_SECRET_KEY is not set"):
        create_app(psettings.with_(secret_key=""))


async def test_a_destination_pointed_at_projections_reads_nothing(
    service: Service, producer: Any, bootstrap: str
) -> None:
    """The attack the credential stops: a destination on projections' own port whose API key
    header is the team header, naming a victim team; the answer would land in the attempt
    record, readable by the attacker."""
    request_id = await _seeded(service, producer)
    settings = service.settings.with_(allowed_destinations="127.0.0.1/32")
    deliverer = await start_deliverer(settings)
    try:
        pipe = await declare_pipe(
            producer,
            settings,
            service.url + "/v1/requests",
            http_method="GET",
            auth_type="API_KEY",
            auth={"header_key": "x-fasthook-team-id", "api_key": TEAM},
        )
        event = make_event(pipe, b"")
        await publish_events(producer, settings, [event])
        [attempt] = (await attempts_for(bootstrap, settings, [event["event_id"]], 1))[
            event["event_id"]
        ]
        assert attempt["status"] == "FAILED" and attempt["response_status"] != 200
        assert request_id.encode() not in attempt["response_body"]
    finally:
        await deliverer.runner.cleanup()
