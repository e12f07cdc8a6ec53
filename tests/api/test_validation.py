"""Strict, helpful validation: 422 problem+json naming each bad field path."""

from __future__ import annotations

import pytest

from tests.api.test_guide import RECEIVER, TWILIO_SOURCE, guide_connection


def paths(problem: dict) -> list[str]:
    return [e["path"] for e in problem["errors"]]


@pytest.fixture
async def pair(api):
    _, source = await api.call("POST", "/v1/sources", TWILIO_SOURCE)
    _, destination = await api.call("POST", "/v1/destinations", RECEIVER)
    return source["id"], destination["id"]


async def test_bad_retry_status_code_names_its_path(api, pair):
    body = guide_connection(*pair)
    body["rules"][1]["response_status_codes"] = ["429", "600-700"]
    status, problem = await api.call("POST", "/v1/connections", body)
    assert status == 422
    assert problem["status"] == 422 and problem["title"] == "Unprocessable Entity"
    assert "rules[1].response_status_codes[1]" in paths(problem)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda b: b.update(colour="red"), "colour"),
        (
            lambda b: b["rules"][0].update(body={"MessageStatus": {"$inn": ["failed"]}}),
            "rules[0].body.MessageStatus.$inn",
        ),
        (lambda b: b["rules"][1].update(count=51), "rules[1].count"),
        (lambda b: b["rules"][1].update(strategy="fibonacci"), "rules[1].strategy"),
        (
            lambda b: b["rules"].append(
                {"type": "transformation", "code": "addHandler('transform', ("}
            ),
            "rules[2].code",
        ),
        (
            lambda b: b["rules"].append(
                {"type": "retry", "strategy": "linear", "count": 1, "interval": 1000}
            ),
            "rules[2].type",
        ),
        (lambda b: b.update(source_id="src_doesnotexist"), "source_id"),
        (lambda b: b.update(name=""), "name"),
    ],
)
async def test_connection_errors_point_at_the_field(api, pair, change, path):
    body = guide_connection(*pair)
    change(body)
    status, problem = await api.call("POST", "/v1/connections", body)
    assert status == 422, problem
    assert path in paths(problem), problem


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            {"name": "x", "config": {"auth_type": "BASIC_AUTH", "auth": {"username": "u"}}},
            "config.auth.password",
        ),
        (
            {
                "name": "x",
                "config": {
                    "auth_type": "HMAC",
                    "auth": {"webhook_secret_key": "k", "algorithm": "md5"},
                },
            },
            "config.auth.algorithm",
        ),
        (
            {"name": "x", "config": {"allowed_http_methods": ["POST", "FETCH"]}},
            "config.allowed_http_methods[1]",
        ),
        (
            {"name": "x", "config": {"custom_response": {"content_type": "html", "body": "x"}}},
            "config.custom_response.content_type",
        ),
        (
            {
                "name": "x",
                "config": {"custom_response": {"content_type": "text", "body": "x" * 1001}},
            },
            "config.custom_response.body",
        ),
        ({"name": "x", "type": "SMTP"}, "type"),
        ({}, "name"),
    ],
)
async def test_source_errors_point_at_the_field(api, body, path):
    status, problem = await api.call("POST", "/v1/sources", body)
    assert status == 422, problem
    assert path in paths(problem), problem


async def test_destination_errors_point_at_the_field(api):
    body = {"name": "r", "config": {"url": "not a url", "rate_limit": 10}}
    status, problem = await api.call("POST", "/v1/destinations", body)
    assert status == 422
    assert "config.url" in paths(problem)


async def test_not_json_and_not_an_object(api):
    async with api.http.post(
        api.url + "/v1/sources", data=b"{nope", headers=api.headers()
    ) as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"
    status, _ = await api.call("POST", "/v1/sources", [1, 2])
    assert status == 422


async def test_names_are_unique_per_team(api):
    assert (await api.call("POST", "/v1/sources", TWILIO_SOURCE))[0] == 201
    status, problem = await api.call("POST", "/v1/sources", TWILIO_SOURCE)
    assert status == 409 and "already has the name" in problem["detail"]


async def test_list_pagination_and_name_filter(api):
    created = []
    for i in range(7):
        _, source = await api.call("POST", "/v1/sources", {"name": f"s{i}"})
        created.append(source["id"])
    newest_first = list(reversed(created))
    status, page = await api.call("GET", "/v1/sources?limit=3")
    assert status == 200 and [s["id"] for s in page["models"]] == newest_first[:3]
    assert page["pagination"]["prev"] is None and page["count"] == 3
    _, page2 = await api.call("GET", f"/v1/sources?limit=3&next={page['pagination']['next']}")
    assert [s["id"] for s in page2["models"]] == newest_first[3:6]
    _, page3 = await api.call("GET", f"/v1/sources?limit=3&next={page2['pagination']['next']}")
    assert [s["id"] for s in page3["models"]] == newest_first[6:]
    assert page3["pagination"]["next"] is None
    _, back = await api.call("GET", f"/v1/sources?limit=3&prev={page2['pagination']['prev']}")
    assert back["models"] == page["models"]
    _, named = await api.call("GET", "/v1/sources?name=s4")
    assert [s["id"] for s in named["models"]] == [created[4]]
    status, problem = await api.call("GET", "/v1/sources?limit=251")
    assert status == 422 and "limit" in paths(problem)
    status, problem = await api.call("GET", "/v1/sources?next=garbage")
    assert status == 422 and "next" in paths(problem)
    status, problem = await api.call("GET", "/v1/sources?colour=red")
    assert status == 422 and "colour" in paths(problem)


async def test_delete_cascades_to_connections(api, pair):
    _, connection = await api.call("POST", "/v1/connections", guide_connection(*pair))
    assert (await api.call("DELETE", f"/v1/sources/{pair[0]}"))[0] == 200
    assert (await api.call("GET", f"/v1/connections/{connection['id']}"))[0] == 404
    assert (await api.call("GET", f"/v1/sources/{pair[0]}"))[0] == 404
