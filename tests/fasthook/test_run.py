"""`fasthook run` (what `make run` starts): embedded broker, topics, ingress, API, banner,
Ctrl-C — and a second run on the same data rebuilds every view from the topics."""

from __future__ import annotations

import aiohttp

from tests.api.test_guide import RECEIVER, guide_connection
from tests.api.test_guide import TWILIO_SOURCE as GUIDE_SOURCE
from tests.support.kafka import read_topic
from tests.support.poll import eventually
from tests.support.supervised import SupervisedStack


async def test_fasthook_run_serves_and_survives_a_full_restart(tmp_path):
    stack = SupervisedStack(tmp_path)
    try:
        first = await stack.start()
        auth = {"Authorization": f"Bearer {first['key']}"}
        async with aiohttp.ClientSession() as http:
            callback = {"MessageStatus": "sent"}
            async with http.post(first["source_url"] + "/twilio/status", data=callback) as r:
                assert r.status == 200 and await r.json() == {"queued": True}
                request_id = r.headers["x-fasthook-request-id"]
            # The guide's own first call works verbatim beside the demo source.
            async with http.post(
                first["api"] + "/v1/sources", json=GUIDE_SOURCE, headers=auth
            ) as r:
                assert r.status == 201, await r.text()
            async with http.post(
                first["api"] + "/v1/destinations", json=RECEIVER, headers=auth
            ) as r:
                assert r.status == 201
                destination = await r.json()
            connection = guide_connection(first["source_id"], destination["id"])
            async with http.post(
                first["api"] + "/v1/connections", json=connection, headers=auth
            ) as r:
                assert r.status == 201
            # The ingress's metrics (they name every source) only on its private port.
            async with http.get(first["metrics"]) as r:
                assert r.status == 200 and first["source_id"] in await r.text()
            # The console is served beside the API; the printed key signs in.
            async with http.post(
                first["console"] + "/signin", data={"key": first["key"]}, allow_redirects=False
            ) as r:
                assert r.status == 303 and r.headers["Location"] == "/events", await r.text()
                assert "HttpOnly" in r.headers["Set-Cookie"], r.headers["Set-Cookie"]
            public_root = first["source_url"].rsplit("/", 1)[0]
            async with http.get(public_root + "/metrics") as r:
                assert r.status == 404
        records = await read_topic(
            f"127.0.0.1:{stack.ports['kafka']}", "fasthook.requests", expect=1
        )
        assert records[0]["request_id"] == request_id

        # The router is part of the stack: a callback through the guide's connection is routed.
        async def routed() -> bool:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    first["source_url"] + "/twilio/status",
                    data=callback,
                    headers={"X-Twilio-Signature": "sig"},
                ) as r,
            ):
                routed_id = r.headers["x-fasthook-request-id"]
            events = await read_topic(f"127.0.0.1:{stack.ports['kafka']}", "fasthook.events")
            return any(e["request_id"] == routed_id for e in events)

        await eventually(routed, 30, "a callback routed to an event", 0.5)

        # And the request is searchable through the API (projections run in the stack).
        async def searchable() -> bool:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{first['api']}/v1/requests?q={request_id}", headers=auth) as r,
            ):
                return r.status == 200 and (await r.json())["count"] == 1

        await eventually(searchable, 30, "the request searchable through the API", 0.2)
        await stack.stop()

        second = await stack.start()
        assert second == first  # same key, same demo source id and URL
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{second['api']}/v1/destinations/{destination['id']}", headers=auth
            ) as r:
                assert r.status == 200 and await r.json() == destination
            async with http.post(second["source_url"] + "/twilio/status", data=callback) as r:
                assert r.status == 200
        await stack.stop()
    finally:
        stack.kill()
