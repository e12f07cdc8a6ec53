"""Fewer and shorter garbage-collection pauses in a long-running process.

CPython's cyclic collector stops the whole process while it runs, and a full collection walks
every tracked object. A started service holds a few hundred thousand of them (aiohttp,
aiokafka, the config view, the modules themselves), none of which ever becomes garbage: in the
listen benchmark the deliverer's full collections took 65-180 ms each, the young ones up to
40 ms, and every event in flight waits that long (at 100 events/s one 100 ms pause delays ten
events: the whole p99).

`settle()`, once the process has started: collect what start-up left behind, then freeze the
rest into the permanent generation, which no collection walks again; and collect the young
generation every `YOUNG_THRESHOLD` allocations instead of CPython's 700, so an event's
short-lived objects are mostly freed by reference counting before a collection sees them, not
promoted to the old generations whose collections cost the most.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def settle(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Freeze what the process holds now; collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
