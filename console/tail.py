"""The live tail's pure core: which rows of a polled window are new or changed, and where the
next window starts. The API has no push: the console polls `GET /v1/events` server-side with
`created_at[gte]` a little before the newest row it has seen (rows reach ClickHouse a batch
late and not strictly in `created_at` order), and forgets ids once they fall out of reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

LOOKBACK = timedelta(seconds=10)
FORGET = timedelta(seconds=60)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def api_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Tail:
    watermark: datetime
    # id → (created_at, status) of every row sent and still within reach.
    seen: dict[str, tuple[datetime, str]] = field(default_factory=dict)

    def window_start(self) -> str:
        return api_stamp(self.watermark - LOOKBACK)

    def take(self, rows: list[dict]) -> list[dict]:
        """The rows to send (new ids, or a known id whose status changed), oldest first so
        a client prepending each keeps the newest on top."""
        fresh = []
        for row in rows:
            created, status = parse_time(row["created_at"]), row["status"]
            if self.seen.get(row["id"], (None, None))[1] != status:
                fresh.append(row)
            self.seen[row["id"]] = (created, status)
            self.watermark = max(self.watermark, created)
        horizon = self.watermark - FORGET
        self.seen = {k: v for k, v in self.seen.items() if v[0] >= horizon}
        return sorted(fresh, key=lambda r: (r["created_at"], r["id"]))
