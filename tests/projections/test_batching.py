"""The projector's batches: records that come fast (a backlog, a replay) are taken as they
come until the batch is full; the batch window is slept out only for a trickle."""

from __future__ import annotations

from typing import Any

from projections.keys import METRICS, PROJECTOR
from runtime.settings import Settings
from tests.projections.conftest import TEAM, start_service, stop_service
from tests.projections.records import publish, request_record
from tests.support.poll import eventually


async def test_records_that_come_fast_fill_a_batch_without_waiting_out_the_window(
    psettings: Settings, db: str, producer: Any
) -> None:
    size = 1000
    # A window far longer than the test may take: a batch that slept it out would fail here.
    settings = psettings.with_(projector_batch_records=size, projector_batch_ms=600_000)
    requests = [request_record(TEAM, "src_backlog") for _ in range(size)]
    # A first take of more than a tenth of a batch: the projector keeps taking as records
    # come, and the batch is written once it is full.
    await publish(producer, settings, "requests", requests[:150])
    service = await start_service(settings)
    try:
        projector = service.app[PROJECTOR]

        async def first_taken() -> bool:
            return projector.busy

        await eventually(first_taken, 60, "the first records taken")
        await publish(producer, settings, "requests", requests[150:])
        registry = service.app[METRICS].registry

        async def rows_written() -> bool:
            written = registry.get_sample_value(
                "fasthook_projector_rows_total", {"table": "requests"}
            )
            return written == len(requests)

        await eventually(rows_written, 90, "every request written")
        assert registry.get_sample_value("fasthook_projector_batch_seconds_count") == 1
        newest = await service.get("/v1/requests", source_id="src_backlog", limit=1)
        assert newest["models"][0]["id"] == max(r["request_id"] for r in requests)
    finally:
        await stop_service(service)
