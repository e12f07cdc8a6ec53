"""GET /v1/bulk/{kind}/retry: the team's jobs of one kind, newest first, by status; another
team's and the other kind's never listed."""

from __future__ import annotations

from projections.openapi import openapi_paths
from tests.projections.conftest import Service


async def test_jobs_are_listed_per_team_and_kind_newest_first(service: Service) -> None:
    made = []
    for _ in range(3):
        status, job = await service.call(
            "POST", "/v1/bulk/events/retry", json={"query": {"status": "FAILED"}}
        )
        assert status == 202, job
        made.append(job["id"])
    status, other_kind = await service.call("POST", "/v1/bulk/requests/retry", json={"query": {}})
    assert status == 202
    status, theirs = await service.call(
        "POST", "/v1/bulk/events/retry", team="tm_other", json={"query": {}}
    )
    assert status == 202

    status, body = await service.call("GET", "/v1/bulk/events/retry")
    assert status == 200, body
    assert [j["id"] for j in body["models"]] == made[::-1] and body["count"] == 3
    status, body = await service.call("GET", "/v1/bulk/events/retry", params={"limit": "2"})
    assert [j["id"] for j in body["models"]] == made[:0:-1]
    status, body = await service.call("GET", "/v1/bulk/requests/retry")
    assert [j["id"] for j in body["models"]] == [other_kind["id"]]
    status, body = await service.call("GET", "/v1/bulk/events/retry", params={"status": "RUNNING"})
    assert status == 200 and all(j["status"] == "RUNNING" for j in body["models"])
    status, body = await service.call("GET", "/v1/bulk/events/retry", team="tm_other")
    assert [j["id"] for j in body["models"]] == [theirs["id"]]
    status, body = await service.call("GET", "/v1/bulk/events/retry", params={"limit": "0"})
    assert status == 422 and [e["path"] for e in body["errors"]] == ["limit"]


def test_the_list_is_documented() -> None:
    operation = openapi_paths()["paths"]["/v1/bulk/events/retry"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"limit", "status"}
