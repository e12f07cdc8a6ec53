"""A request for a connection created a moment ago is routed on it: the router's view of the
config lags the API's write a little, and a request of a source with no connection in that view
waits for the view to catch up rather than being routed to nothing."""

from __future__ import annotations

import time

from schemas.codec import encode
from tests.api.test_guide import guide_connection
from tests.router.test_router_crash import request_record
from tests.router.test_routing_flow import outcomes
from tests.support.config import declare


async def test_requests_right_after_the_connection_is_created_are_routed_on_it(
    router, producer, settings, bootstrap
):
    for _ in range(3):  # each time a new source and connection, the request hard on its heels
        source = await declare(producer, settings, "source", {"name": "twilio"})
        destination = await declare(
            producer, settings, "destination", {"name": "d", "config": {"url": "http://x.test/"}}
        )
        connection = await declare(
            producer,
            settings,
            "connection",
            {**guide_connection(source["id"], destination["id"]), "rules": []},
        )
        # Received now, as the ingress stamps it: after the router's last look at the config.
        record = {**request_record(source, 0), "received_at": int(time.time() * 1000)}
        await producer.send_and_wait(
            settings.topics.requests,
            encode("RequestReceived", record),
            key=record["request_id"].encode(),
        )
        found = await outcomes(bootstrap, settings, [record["request_id"]])
        kind, event = found[record["request_id"]]
        assert kind == "EVENT" and event["connection_id"] == connection["id"]
