import aiohttp

from tests.support.ingress import declare_source
from tests.support.kafka import read_topic


async def test_smoke(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    async with aiohttp.ClientSession() as http:
        async with http.post(ingress.source_url(source) + "/x?y=1", data=b"a=b",
                             headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
            assert r.status == 200, await r.text()
            rid = r.headers["x-fasthook-request-id"]
    records = await read_topic(bootstrap, settings.topics.requests, expect=1)
    assert records[0]["request_id"] == rid
    assert records[0]["path"] == "/x" and records[0]["query"] == "y=1"
