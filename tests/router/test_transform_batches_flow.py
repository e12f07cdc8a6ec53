"""The real router sends a backlog's transformations to V8 in batches, and each request still
gets its own outcome: the ones that throw and the endless one fail alone, the rest are events."""

from __future__ import annotations

import asyncio

import aiohttp

from schemas.codec import encode
from tests.router.test_router_crash import request_record
from tests.router.test_routing_flow import outcomes, setup_connection

TOTAL = 300
LOOPING = 151  # the one request whose transformation never ends
CODE = """
addHandler('transform', (request) => {
  if (request.body.MessageStatus === 'loop') { while (true) {} }
  if (request.body.MessageStatus === 'failed') { throw new Error('refused ' + request.path); }
  request.headers['x-status'] = request.body.MessageStatus;
  return request;
});
"""


def metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


async def test_a_backlog_is_transformed_in_batches_each_request_failing_alone(
    router, ingress, producer, settings, bootstrap
):
    source, _, _ = await setup_connection(
        producer, settings, ingress, [{"type": "transformation", "code": CODE}]
    )
    records = [request_record(source, i) for i in range(TOTAL)]
    records[LOOPING]["body"] = records[LOOPING]["body"].replace(b"=failed", b"=loop", 1)
    sends = [
        await producer.send(
            settings.topics.requests, encode("RequestReceived", r), key=r["request_id"].encode()
        )
        for r in records
    ]
    await asyncio.gather(*sends)
    found = await outcomes(bootstrap, settings, [r["request_id"] for r in records], 120)
    for i, record in enumerate(records):
        cause, outcome = found[record["request_id"]]
        if i == LOOPING:
            assert cause == "TRANSFORMATION_FAILED" and "longer than" in outcome["detail"]
        elif i % 2:  # request_record: odd ones are "failed", which the code refuses
            assert cause == "TRANSFORMATION_FAILED"
            assert outcome["detail"].endswith("Error: refused /twilio/status")
        else:
            assert cause == "EVENT"
            headers = {h["name"]: h["value"] for h in outcome["request"]["headers"]}
            assert headers["x-status"] == "delivered"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{settings.router_port}/metrics") as r:
            text = await r.text()
    batches = metric(text, "fasthook_router_transformation_batch_size_count")
    sent = metric(text, "fasthook_router_transformation_batch_size_sum")
    assert sent == TOTAL  # every request went to V8 once in some batch
    assert batches < TOTAL  # and some of them went together
