"""Each watched destination's pending events: made (an EventCreated on the events topic) and not
yet at an end (an attempt that left the event SUCCESSFUL, FAILED or CANCELLED). An event waiting
for a retry, parked for room, or held by a pause stays pending. Pure; the engine keeps it in its
state (one entry per pending event, so a batch writes only what changed).

The job reads the events and attempts topics side by side, so after a restart (catching up on
many partitions at once) an event's last attempt may be read before the event itself: such an
end is remembered for a while (`done`), and the late event is not counted."""

from __future__ import annotations

from dataclasses import dataclass, field

END_STATUSES = frozenset({"SUCCESSFUL", "FAILED", "CANCELLED"})
DONE_TTL_MS = 15 * 60_000  # how long an end read before its event is remembered


@dataclass(slots=True)
class Pending:
    by_destination: dict[str, dict[str, int]] = field(default_factory=dict)  # → {event: at}
    done: dict[str, int] = field(default_factory=dict)  # event id → when it ended
    dirty: set[str] = field(default_factory=set)  # state keys changed

    def count(self, destination_id: str) -> int:
        return len(self.by_destination.get(destination_id, ()))

    def add(self, destination_id: str, event_id: str, at: int) -> bool:
        """An event made (or sent again) at `at`: True when it is pending now and was not."""
        ended = self.done.get(event_id)
        if ended is not None and ended >= at:
            # Its end was read first: this event is over already.
            del self.done[event_id]
            self.dirty.add(f"done:{event_id}")
            return False
        events = self.by_destination.setdefault(destination_id, {})
        if event_id in events:
            return False
        events[event_id] = at
        self.dirty.add(f"pending:{destination_id}|{event_id}")
        return True

    def end(self, destination_id: str, event_id: str, at: int, remember: bool = True) -> bool:
        """An event's attempt that ended it: True when it was pending. One that was not is
        remembered (`done`) unless told otherwise."""
        events = self.by_destination.get(destination_id)
        if events is not None and events.pop(event_id, None) is not None:
            if not events:
                del self.by_destination[destination_id]
            self.dirty.add(f"pending:{destination_id}|{event_id}")
            return True
        if not remember:
            return False
        self.done[event_id] = at
        self.dirty.add(f"done:{event_id}")
        return False

    def expire(self, now: int) -> None:
        for event_id in [e for e, at in self.done.items() if now - at > DONE_TTL_MS]:
            del self.done[event_id]
            self.dirty.add(f"done:{event_id}")

    # --- state --------------------------------------------------------------------------
    def load(self, kind: str, rest: str, value: int | None) -> None:
        if kind == "done":
            if value is None:
                self.done.pop(rest, None)
            else:
                self.done[rest] = int(value)
            return
        destination_id, _, event_id = rest.partition("|")
        if value is None:
            events = self.by_destination.get(destination_id, {})
            events.pop(event_id, None)
            if not events:
                self.by_destination.pop(destination_id, None)
        else:
            self.by_destination.setdefault(destination_id, {})[event_id] = int(value)

    def value(self, kind: str, rest: str) -> int | None:
        if kind == "done":
            return self.done.get(rest)
        destination_id, _, event_id = rest.partition("|")
        return self.by_destination.get(destination_id, {}).get(event_id)

    def clear(self) -> None:
        self.by_destination.clear()
        self.done.clear()
        self.dirty.clear()
