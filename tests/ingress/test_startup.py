"""An ingress that has just started does not yet know every source: until its view of the config
topic is complete it must not call a known source unknown (a 404 tells a provider the URL is
wrong for good). A guard: the view is read in large batches, each applied in one go, so on the
embedded broker the window between two batches is too short to hit; the ingress now does not
listen before its view is complete at all."""

from __future__ import annotations

import asyncio

import aiohttp

from fasthook.embedded import free_port
from schemas.codec import encode
from schemas.entities import config_record
from tests.support.ingress import declare_source
from tests.support.processes import ServiceProcess

FILLER = 20_000


async def test_a_known_source_is_never_answered_404_while_the_view_loads(
    producer, settings, tmp_path
):
    # Many config records before the source, so the view takes a while to reach it.
    filler = {"id": "", "team_id": "tm_other", "name": "other", "signing_secret": {}}
    for n in range(FILLER):
        entity = {**filler, "id": f"tm_filler{n:06d}"}
        record = encode("ConfigChanged", config_record("team", entity, version=1))
        await producer.send(settings.topics.config, record, key=entity["id"].encode())
    await producer.flush()
    source = await declare_source(producer, settings)
    process = ServiceProcess(
        "ingress",
        settings.with_(ingress_port=free_port(), ingress_metrics_port=free_port()),
        tmp_path / "ingress.log",
    )
    url = f"{process.settings.public_base_url}/{source['token']}/twilio/status"
    answers: list[int] = []
    process.start()
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(3000):  # bounded: ~60 s at most
                try:
                    async with http.post(url, data=b"MessageStatus=sent") as response:
                        answers.append(response.status)
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)  # not listening yet: a provider retries that
                    continue
                if response.status == 200:
                    break
    finally:
        process.kill()
    assert answers and answers[-1] == 200, answers[-10:]
    assert 404 not in answers, f"a known source answered 404 {answers.count(404)} times"
