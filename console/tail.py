"""The live tail's pure core: which rows of a polled window are new or changed.

The API has no push. The console polls the events list's first page server-side (newest
first by id: ids are time-sortable ULIDs, and the unfiltered first page is the list's cheap
path) and reads on through the cursors until it reaches the newest id it has already sent.
A row is sent when it is newer than what the page showed and was not sent yet (rows reach
ClickHouse a batch late and not strictly in id order, so a late one is still sent), or when a
row it sent has changed status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REMEMBER = 2000  # ids whose status changes are still followed


@dataclass
class Tail:
    floor: str = ""  # ids up to this one were on the page, or are forgotten: never sent
    seen: dict[str, str] = field(default_factory=dict)  # id → status last sent

    @property
    def after(self) -> str:
        """The newest id sent (or shown)."""
        return max(self.seen, default=self.floor)

    def reached(self, page: list[dict[str, Any]]) -> bool:
        """Whether a page goes back as far as what was already sent: read no further."""
        newest = self.after
        return any(row["id"] <= newest for row in page)

    def take(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows to send, oldest first so a client prepending each keeps the newest on
        top; remembers them."""
        fresh = {
            row["id"]: row
            for row in rows
            if row["id"] > self.floor and self.seen.get(row["id"]) != row["status"]
        }
        self.seen.update((i, row["status"]) for i, row in fresh.items())
        if len(self.seen) > REMEMBER:
            kept = sorted(self.seen)[-REMEMBER:]
            self.floor = max(self.floor, min(kept))
            self.seen = {i: self.seen[i] for i in kept}
        return sorted(fresh.values(), key=lambda r: r["id"])
