"""What the schemathesis run over the forwarded routes found, pinned: each answer is the one
the OpenAPI document describes."""

from __future__ import annotations

from typing import Any

import pytest

from projections.openapi import openapi_paths
from tests.projections.conftest import TEAM, Service, api_headers
from tests.projections.records import publish, request_record


@pytest.mark.parametrize("value", ["0", "1700000000", "2025-01-01", "yesterday"])
async def test_a_time_filter_is_an_rfc_3339_time(service: Service, value: str) -> None:
    for path in ("/v1/requests", "/v1/events", "/v1/attempts", "/v1/ignored-events"):
        status, body = await service.call("GET", path, params={"created_at[gte]": value})
        assert status == 422, (path, body)
        assert [e["path"] for e in body["errors"]] == ["created_at[gte]"]
    status, body = await service.call(
        "POST", "/v1/bulk/events/retry/plan", json={"query": {"created_at[lte]": value}}
    )
    assert status == 422 and [e["path"] for e in body["errors"]] == ["query.created_at[lte]"]


@pytest.mark.parametrize(
    "value",
    [
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00.5+02:00",
        "2025-01-01 00:00:00",
        "2025-01-01T00:00",
    ],
)
async def test_rfc_3339_times_are_taken(service: Service, value: str) -> None:
    status, body = await service.call("GET", "/v1/events", params={"created_at[gte]": value})
    assert status == 200, body


async def test_a_filter_given_as_null_is_not_given(service: Service) -> None:
    for kind in ("events", "requests"):
        status, body = await service.call(
            "POST", f"/v1/bulk/{kind}/retry/plan", json={"query": {"status": None, "q": None}}
        )
        assert (status, body) == (200, {"estimated_count": 0})


async def test_plan_is_not_a_job_id(service: Service) -> None:
    async with service.http.get(
        f"{service.url}/v1/bulk/events/retry/plan", headers=api_headers(service.settings)
    ) as answer:
        assert answer.status == 405 and answer.headers["Allow"] == "POST"


async def test_a_request_retry_takes_an_empty_body(service: Service, producer: Any) -> None:
    record = request_record(TEAM, "src_contract")
    await publish(producer, service.settings, "requests", [record])
    await service.wait_for("/v1/requests", 1, source_id="src_contract")
    async with service.http.post(
        f"{service.url}/v1/requests/{record['request_id']}/retry",
        headers=api_headers(service.settings),
    ) as answer:
        assert answer.status == 202
    retry = openapi_paths()["paths"]["/v1/requests/{id}/retry"]["post"]
    assert retry["requestBody"]["required"] is False


def test_the_document_names_raw_bytes_and_bulk_filters() -> None:
    paths = openapi_paths()["paths"]
    assert list(paths["/v1/requests/{id}/raw_body"]["get"]["responses"]["200"]["content"]) == [
        "*/*"
    ]
    body = paths["/v1/bulk/events/retry"]["post"]["requestBody"]["content"]["application/json"]
    filters = body["schema"]["properties"]["query"]
    assert filters["additionalProperties"] is False
    assert {"status", "created_at[gte]", "q"} <= set(filters["properties"])
    assert not {"limit", "next", "prev", "include_data"} & set(filters["properties"])
