"""`GET /v1/metrics`: time series over the projections for dashboards (the console's metrics
page): requests accepted/rejected, events by status, attempts by response class with latency
p50/p99, and per destination the error rate and the backlog. Each series is labelled by what
it counts — requests, events or attempts — and never mixes them.

Pure SQL builders and row shaping; the handler runs them. Duplicate rows of an unmerged
replay count once (uniqExact over ids; attempts deduplicated by id before counting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from projections.clickhouse import ident
from projections.params import Time, to_ms
from projections.queries import Sql
from projections.rows import Row
from projections.views import EVENT_AGGREGATES
from schemas.times import iso_or_none as iso

MAX_BUCKETS = 1440
MAX_SPAN = timedelta(days=31)
DEFAULT_SPAN = timedelta(hours=1)
# Bucket widths a span is rounded up to, in seconds: about 60 points per chart.
NICE_BUCKETS = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
STATUSES = ("QUEUED", "SCHEDULED", "HOLD", "SUCCESSFUL", "FAILED", "CANCELLED")
PENDING = ("QUEUED", "SCHEDULED", "HOLD")


class MetricsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: Time | None = Field(None, alias="from", description="default: an hour before `to`")
    end: Time | None = Field(None, alias="to", description="default: now")
    bucket_s: Annotated[int, Field(ge=10, le=86400)] | None = Field(
        None, description="bucket width in seconds; default: about 60 buckets over the span"
    )

    @model_validator(mode="after")
    def _span(self) -> MetricsQuery:
        start_ms, end_ms = self.range_ms()
        if end_ms <= start_ms:
            raise ValueError("`from` must be before `to`")
        if end_ms - start_ms > MAX_SPAN.total_seconds() * 1000:
            raise ValueError("the span is at most 31 days")
        if self.bucket_s and (end_ms - start_ms) / (self.bucket_s * 1000) > MAX_BUCKETS:
            raise ValueError(f"at most {MAX_BUCKETS} buckets: take a wider bucket_s")
        return self

    def range_ms(self, now: datetime | None = None) -> tuple[int, int]:
        end = to_ms(self.end) if self.end else to_ms(now or datetime.now(UTC))
        start = to_ms(self.start) if self.start else end - int(DEFAULT_SPAN.total_seconds() * 1000)
        return start, end

    def bucket(self, start_ms: int, end_ms: int) -> int:
        return self.bucket_s or pick_bucket((end_ms - start_ms) / 1000)


def pick_bucket(span_s: float) -> int:
    """The narrowest nice width giving at most ~60 buckets."""
    return next((b for b in NICE_BUCKETS if span_s / b <= 60), NICE_BUCKETS[-1])


def _range(column: str) -> str:
    return (
        f"{column} >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC') AND "
        f"{column} < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')"
    )


def _slot(column: str) -> str:
    return f"intDiv(toUnixTimestamp64Milli({column}), {{bucket:Int64}}) * {{bucket:Int64}}"


def params(team_id: str, start_ms: int, end_ms: int, bucket_s: int) -> dict[str, Any]:
    return {"team": team_id, "start": start_ms, "end": end_ms, "bucket": bucket_s * 1000}


def requests_sql(db: str, params: dict[str, Any]) -> Sql:
    return Sql(
        f"SELECT {_slot('received_at')} AS t, "
        "uniqExactIf(request_id, status = 'accepted') AS accepted, "
        "uniqExactIf(request_id, status = 'rejected') AS rejected "
        f"FROM {ident(db)}.requests WHERE team_id = {{team:String}} AND {_range('received_at')} "
        "GROUP BY t ORDER BY t",
        params,
    )


def events_sql(db: str, params: dict[str, Any]) -> Sql:
    """Events created in each bucket, by their status now."""
    return Sql(
        f"SELECT {_slot('e_created_at')} AS t, e_status AS status, count() AS n FROM ("
        f"SELECT event_id, {EVENT_AGGREGATES} FROM {ident(db)}.event_log "
        f"WHERE team_id = {{team:String}} AND {_range('event_time')} GROUP BY event_id) "
        "GROUP BY t, status ORDER BY t",
        params,
    )


_ATTEMPTS = (
    "SELECT attempt_id, any(destination_id) AS destination, any(status) AS outcome, "
    "any(response_status) AS rs, any(response_latency_ms) AS latency, "
    "any(created_at) AS at FROM {db}.attempts "
    "WHERE team_id = {{team:String}} AND {range} GROUP BY attempt_id"
)


def _attempts(db: str) -> str:
    return _ATTEMPTS.format(db=ident(db), range=_range("created_at"))


def attempts_sql(db: str, params: dict[str, Any]) -> Sql:
    return Sql(
        f"SELECT {_slot('at')} AS t, countIf(rs >= 200 AND rs < 300) AS c2xx, "
        "countIf(rs >= 300 AND rs < 400) AS c3xx, countIf(rs >= 400 AND rs < 500) AS c4xx, "
        "countIf(rs >= 500) AS c5xx, countIf(rs IS NULL) AS no_response, "
        "countIf(latency IS NOT NULL) AS timed, "
        "quantilesExactIf(0.5, 0.99)(assumeNotNull(latency), latency IS NOT NULL) AS q "
        f"FROM ({_attempts(db)}) GROUP BY t ORDER BY t",
        params,
    )


def destination_attempts_sql(db: str, params: dict[str, Any]) -> Sql:
    return Sql(
        "SELECT destination AS destination_id, count() AS attempts, "
        f"countIf(outcome = 'FAILED') AS failed FROM ({_attempts(db)}) "
        "GROUP BY destination_id",
        params,
    )


def backlog_sql(db: str, params: dict[str, Any]) -> Sql:
    """Pending events now (whatever their age), per destination, and the oldest one's age."""
    pending = ", ".join(f"'{s}'" for s in PENDING)
    return Sql(
        "SELECT e_destination_id AS destination_id, count() AS pending, "
        "min(toUnixTimestamp64Milli(e_created_at)) AS oldest_ms FROM ("
        f"SELECT event_id, {EVENT_AGGREGATES} FROM {ident(db)}.event_log "
        "WHERE team_id = {team:String} GROUP BY event_id) "
        f"WHERE e_status IN ({pending}) GROUP BY destination_id",
        params,
    )


def slots(start_ms: int, end_ms: int, bucket_ms: int) -> list[int]:
    first = start_ms // bucket_ms * bucket_ms
    return list(range(first, end_ms, bucket_ms))


def shape(
    start_ms: int,
    end_ms: int,
    bucket_s: int,
    now_ms: int,
    requests: list[Row],
    events: list[Row],
    attempts: list[Row],
    destinations: list[Row],
    backlog: list[Row],
) -> dict[str, Any]:
    """Rows → the answer: every bucket present (zeros where nothing happened)."""
    times = slots(start_ms, end_ms, bucket_s * 1000)
    by_t = {r["t"]: r for r in requests}
    statuses: dict[int, dict[str, int]] = {}
    for row in events:
        statuses.setdefault(row["t"], {})[row["status"]] = int(row["n"])
    tried = {r["t"]: r for r in attempts}

    def latency(row: Row | None, index: int) -> float | None:
        if not row or not row["timed"]:
            return None
        return float(row["q"][index])

    per_destination: dict[str, dict[str, Any]] = {}
    for row in destinations:
        attempts_n, failed = int(row["attempts"]), int(row["failed"])
        per_destination[row["destination_id"]] = {
            "destination_id": row["destination_id"],
            "attempts": attempts_n,
            "failed": failed,
            "error_rate": failed / attempts_n if attempts_n else None,
            "pending": 0,
            "oldest_pending_at": None,
            "oldest_pending_age_s": None,
        }
    for row in backlog:
        entry = per_destination.setdefault(
            row["destination_id"],
            {
                "destination_id": row["destination_id"],
                "attempts": 0,
                "failed": 0,
                "error_rate": None,
            },
        )
        entry.update(
            pending=int(row["pending"]),
            oldest_pending_at=iso(row["oldest_ms"]),
            oldest_pending_age_s=max(0, (now_ms - row["oldest_ms"]) // 1000),
        )
    return {
        "from": iso(start_ms),
        "to": iso(end_ms),
        "bucket_s": bucket_s,
        "times": [iso(t) for t in times],
        "requests": {
            "accepted": [int(by_t[t]["accepted"]) if t in by_t else 0 for t in times],
            "rejected": [int(by_t[t]["rejected"]) if t in by_t else 0 for t in times],
        },
        "events": {s: [statuses.get(t, {}).get(s, 0) for t in times] for s in STATUSES},
        "attempts": {
            **{
                k: [int(tried[t][f"c{k}"]) if t in tried else 0 for t in times]
                for k in ("2xx", "3xx", "4xx", "5xx")
            },
            "no_response": [int(tried[t]["no_response"]) if t in tried else 0 for t in times],
            "latency_p50_ms": [latency(tried.get(t), 0) for t in times],
            "latency_p99_ms": [latency(tried.get(t), 1) for t in times],
        },
        "destinations": sorted(per_destination.values(), key=lambda d: d["destination_id"]),
    }
