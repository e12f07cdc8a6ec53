"""One team's endless transformations do not hold back another team's routing (the real router).

Team A sends a burst of requests whose transformation loops until the time limit; team B's
requests — one filter-only connection, one with a fast transformation — are sent right after.
The documented bound (router/app.py): a team runs at most TEAM_TRANSFORMATION_SLOTS of the
worker's transformations at once, so B is routed beside A's burst, not behind it; its routing
latency (the router's created_at minus the ingress's received_at) stays under the
transformation time limit, where before it waited for A's burst to drain.
"""

from __future__ import annotations

from router.transform import TIMEOUT_S
from tests.api.test_guide import GUIDE_BODY
from tests.router.test_routing_flow import FORM, outcomes, router_applied
from tests.support.config import declare
from tests.support.http import send_raw
from tests.support.kafka import read_topic

FOREVER = "addHandler('transform', (request) => { while (true) {} });"
FAST = """
addHandler('transform', (request) => { request.headers['x-team'] = 'b'; return request; });
"""
BURST = 16


async def connection_of(producer, settings, team_id: str, rules) -> dict:
    source = await declare(producer, settings, "source", {"name": f"s-{team_id}"}, team_id)
    destination = await declare(
        producer,
        settings,
        "destination",
        {"name": "receiver", "config": {"url": "http://127.0.0.1:9/receiver"}},
        team_id,
    )
    await declare(
        producer,
        settings,
        "connection",
        {
            "name": "c",
            "source_id": source["id"],
            "destination_id": destination["id"],
            "rules": rules,
        },
        team_id,
    )
    return source


async def test_a_teams_endless_transformations_do_not_delay_another_teams_routing(
    router, ingress, producer, settings, bootstrap
):
    looping = await connection_of(
        producer, settings, "tm_a", [{"type": "transformation", "code": FOREVER}]
    )
    filtered = await connection_of(
        producer, settings, "tm_b", [{"type": "filter", "path": "/twilio/status"}]
    )
    fast = await connection_of(
        producer, settings, "tm_b2", [{"type": "transformation", "code": FAST}]
    )
    for source in (looping, filtered, fast):
        await ingress.wait_for_source(source)
    await router_applied(settings, len(await read_topic(bootstrap, settings.topics.config)))

    async def post(source) -> str:
        answer = await send_raw(
            ingress.source_url(source) + "/twilio/status", "POST", [FORM], GUIDE_BODY
        )
        assert answer.status == 200
        return answer.header("x-fasthook-request-id")

    burst = [await post(looping) for _ in range(BURST)]
    others = [await post(filtered), await post(fast), await post(filtered), await post(fast)]
    found = await outcomes(bootstrap, settings, others, timeout_s=30)
    received = {
        r["request_id"]: r["received_at"]
        for r in await read_topic(bootstrap, settings.topics.requests)
    }
    latencies_ms = {i: found[i][1]["created_at"] - received[i] for i in others}
    assert all(found[i][0] == "EVENT" for i in others)
    assert max(latencies_ms.values()) < TIMEOUT_S * 1000, latencies_ms
    # And A's burst was not lost: each one is cut off at the time limit and ignored.
    found = await outcomes(bootstrap, settings, burst, timeout_s=60)
    assert {found[i][0] for i in burst} == {"TRANSFORMATION_FAILED"}
