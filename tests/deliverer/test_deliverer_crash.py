"""SIGKILL the deliverer during a run of 2,000 events: every event still ends SUCCESSFUL."""

from __future__ import annotations

import signal
from collections import Counter

from fasthook.embedded import free_port
from tests.support.deliverer import attempts_for, declare_pipe, make_event, publish_events
from tests.support.processes import ServiceProcess

TOTAL = 2000


async def test_sigkill_during_2000_events(receiver, producer, settings, bootstrap, tmp_path):
    settings = settings.with_(deliverer_port=free_port())
    process = ServiceProcess("deliverer", settings, tmp_path / "deliverer.log")
    ready = f"http://127.0.0.1:{settings.deliverer_port}/readyz"
    process.start()
    try:
        await process.wait_ready(ready, 60)
        retry = {"type": "retry", "strategy": "linear", "count": 10, "interval": 500}
        pipe = await declare_pipe(producer, settings, receiver.url, [retry])
        events = [make_event(pipe, f"MessageSid=SM{i:032d}".encode()) for i in range(TOTAL)]
        await publish_events(producer, settings, events)
        await receiver.wait_for(400, timeout_s=60)
        process.signal(signal.SIGKILL)
        await process.wait_exit(10)
        process.start()
        await process.wait_ready(ready, 60)

        found = await attempts_for(
            bootstrap, settings, [e["event_id"] for e in events], TOTAL, timeout_s=120
        )
        assert len(found) == TOTAL
        assert all(
            any(a["event_status"] == "SUCCESSFUL" for a in attempts) for attempts in found.values()
        )
        seen = Counter(receiver.event_ids())
        assert set(seen) == {e["event_id"] for e in events}  # every event at least once
        duplicates = sum(seen.values()) - TOTAL
        print(f"receiver calls={sum(seen.values())} events={TOTAL} duplicates={duplicates}")
    finally:
        process.kill()
