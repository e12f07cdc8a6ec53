"""Each row of API.md's ingress table, with the request record (or its absence) on the topic."""

from __future__ import annotations

import base64
import json

import aiohttp

from api.config_log import publish_entity, publish_tombstone
from tests.support.http import send_raw
from tests.support.ingress import declare_source
from tests.support.kafka import read_topic

FORM = [("Content-Type", "application/x-www-form-urlencoded")]


async def only_record(bootstrap, settings, request_id):
    records = await read_topic(bootstrap, settings.topics.requests)
    matching = [r for r in records if r["request_id"] == request_id]
    assert len(matching) == 1, records
    return matching[0]


async def test_accepted_with_json_custom_response(ingress, producer, settings, bootstrap):
    source = await declare_source(
        producer,
        settings,
        config={
            "allowed_http_methods": ["POST", "GET"],
            "custom_response": {"content_type": "json", "body": '{"queued":true}'},
        },
    )
    await ingress.wait_for_source(source)
    response = await send_raw(ingress.source_url(source) + "/twilio/status", "POST", FORM, b"a=1")
    assert response.status == 200
    assert response.header("Content-Type") == "application/json"
    assert response.body == b'{"queued":true}'
    record = await only_record(bootstrap, settings, response.header("x-fasthook-request-id"))
    assert record["status"] == "accepted" and record["rejection_cause"] is None
    assert record["verification"] == {"method": "NONE", "verified": True, "detail": None}


async def test_accepted_with_static_twiml_and_text(ingress, producer, settings):
    twiml = "<Response><Message>Thanks, we received your message.</Message></Response>"
    xml = await declare_source(
        producer, settings, config={"custom_response": {"content_type": "xml", "body": twiml}}
    )
    text = await declare_source(
        producer, settings, config={"custom_response": {"content_type": "text", "body": "ok"}}
    )
    await ingress.wait_for_source(xml)
    await ingress.wait_for_source(text)
    response = await send_raw(ingress.source_url(xml), "POST", FORM, b"a=1")
    assert (response.status, response.header("Content-Type")) == (200, "text/xml")
    assert response.body == twiml.encode()
    response = await send_raw(ingress.source_url(text), "POST", FORM, b"a=1")
    assert (response.status, response.header("Content-Type"), response.body) == (
        200,
        "text/plain",
        b"ok",
    )


async def test_default_answer_names_the_request(ingress, producer, settings):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    response = await send_raw(ingress.source_url(source), "PUT", [], b"{}")
    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["request_id"] == response.header("x-fasthook-request-id")
    assert answer["request_id"].startswith("req_")


async def test_method_not_allowed_is_405_and_recorded(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)  # default: POST PUT PATCH DELETE
    await ingress.wait_for_source(source)
    response = await send_raw(ingress.source_url(source) + "/x?y=2", "GET", [], b"")
    assert response.status == 405
    assert response.header("Allow") == "DELETE, PATCH, POST, PUT"
    record = await only_record(bootstrap, settings, response.header("x-fasthook-request-id"))
    assert (record["status"], record["rejection_cause"]) == ("rejected", "METHOD_NOT_ALLOWED")
    assert (record["method"], record["path"], record["query"]) == ("GET", "/x", "y=2")


async def test_failed_auth_is_401_and_recorded(ingress, producer, settings, bootstrap):
    source = await declare_source(
        producer,
        settings,
        config={"auth_type": "BASIC_AUTH", "auth": {"username": "twilio", "password": "s3cret"}},
    )
    await ingress.wait_for_source(source)
    good = "Basic " + base64.b64encode(b"twilio:s3cret").decode()
    bad = "Basic " + base64.b64encode(b"twilio:wrong").decode()
    ok = await send_raw(ingress.source_url(source), "POST", [("Authorization", good)], b"x")
    denied = await send_raw(ingress.source_url(source), "POST", [("Authorization", bad)], b"y")
    assert (ok.status, denied.status) == (200, 401)
    record = await only_record(bootstrap, settings, denied.header("x-fasthook-request-id"))
    assert (record["status"], record["rejection_cause"]) == ("rejected", "VERIFICATION_FAILED")
    assert record["verification"]["method"] == "BASIC_AUTH"
    assert record["verification"]["verified"] is False
    assert record["body"] == b"y"


async def test_disabled_source_is_410_and_recorded(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    await publish_entity(
        producer, settings.topics.config, "source", {**source, "status": "disabled"}, version=2
    )
    await ingress.wait_for_source(source, enabled=False)
    response = await send_raw(ingress.source_url(source), "POST", FORM, b"a=1")
    assert response.status == 410
    record = await only_record(bootstrap, settings, response.header("x-fasthook-request-id"))
    assert (record["status"], record["rejection_cause"]) == ("rejected", "SOURCE_DISABLED")

    await publish_entity(producer, settings.topics.config, "source", source, version=3)
    await ingress.wait_for_source(source, enabled=True)
    assert (await send_raw(ingress.source_url(source), "POST", FORM, b"a=1")).status == 200


async def test_body_over_limit_is_413_with_headers_kept(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    body = b"x" * (settings.max_body_bytes + 1)
    response = await send_raw(
        ingress.source_url(source) + "/big", "POST", [("X-Trace", "t-1")], body
    )
    assert response.status == 413
    record = await only_record(bootstrap, settings, response.header("x-fasthook-request-id"))
    assert (record["status"], record["rejection_cause"]) == ("rejected", "BODY_TOO_LARGE")
    assert record["body"] == b"" and record["body_size"] == len(body)
    assert ("X-Trace", "t-1") in [(h["name"], h["value"]) for h in record["headers"]]


async def test_chunked_body_over_limit_is_413(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)

    async def chunks():
        for _ in range(6):
            yield b"y" * (1024 * 1024)

    async with aiohttp.ClientSession() as http:
        async with http.post(ingress.source_url(source), data=chunks()) as response:
            assert response.status == 413
            request_id = response.headers["x-fasthook-request-id"]
    record = await only_record(bootstrap, settings, request_id)
    assert record["rejection_cause"] == "BODY_TOO_LARGE"


async def test_unknown_source_is_404_and_not_recorded(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    await publish_tombstone(producer, settings.topics.config, source["id"])
    unknown = await send_raw(f"{ingress.base_url}/{'0' * 24}/x", "POST", FORM, b"a=1")
    assert unknown.status == 404
    assert unknown.header(
        "x-fasthook-request-id",
    ).startswith("req_")
    # A deleted source is unknown too, once the tombstone reached the view.
    for _ in range(500):
        deleted = await send_raw(ingress.source_url(source), "POST", FORM, b"a=1")
        if deleted.status == 404:
            break
    assert deleted.status == 404
    ids = {unknown.header("x-fasthook-request-id"), deleted.header("x-fasthook-request-id")}
    records = await read_topic(bootstrap, settings.topics.requests)
    assert not ids & {r["request_id"] for r in records}


async def test_probes_public_and_metrics_private(ingress, producer, settings):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    await send_raw(ingress.source_url(source), "POST", FORM, b"a=1")
    metrics_url = (
        f"http://{ingress.settings.ingress_metrics_host}:"
        f"{ingress.settings.ingress_metrics_port}/metrics"
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(ingress.base_url + "/healthz") as r:
            assert r.status == 200
        async with http.get(ingress.base_url + "/readyz") as r:
            assert r.status == 200
            assert (await r.json())["checks"] == {
                "config_view_loaded": True,
                "broker_reachable": True,
            }
        # Its labels name every source: not on the port providers (and anyone) can reach.
        async with http.get(ingress.base_url + "/metrics") as r:
            assert r.status == 404
            assert source["id"] not in await r.text()
        async with http.get(metrics_url) as r:
            assert r.status == 200
            text = await r.text()
    assert f'fasthook_ingress_requests_total{{source_id="{source["id"]}",status="200"}} 1.0' in text
    assert "fasthook_ingress_produce_seconds_count 1.0" in text
