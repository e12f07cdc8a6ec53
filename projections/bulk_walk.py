"""The SQL a bulk job walks: its list query's filters over ascending ids after a cursor,
bounded by the greatest id that existed when the job was made."""

from __future__ import annotations

from pydantic import BaseModel

from projections import queries
from projections.bulk_jobs import Job, Kind
from projections.clickhouse import ident
from projections.params import EventQuery, RequestQuery
from schemas.ids import ulid

PAGE_SIZE = 500
COUNT_ALL = 4_000_000_000  # a LIMIT that never binds (the list SQL binds it as UInt32)
PREFIX = {"events": "evt", "requests": "req"}
HIGHEST = b"\xff" * 10  # the greatest random part of an id: the last id of a millisecond


class _Walk(BaseModel):
    """A list query's filters walking ascending ids after `after`, `limit` at a time: the
    list SQL reads the cursor `("gt", after)` as "the next page, oldest first"."""

    limit: int = PAGE_SIZE
    after: str = ""

    @property
    def cursor(self) -> tuple[str, str] | None:
        return ("gt", self.after)


class EventWalk(_Walk, EventQuery):
    pass


class RequestWalk(_Walk, RequestQuery):
    pass


def upper_bound(kind: Kind, at_ms: int) -> str:
    return f"{PREFIX[kind]}_{ulid(at_ms - 1, HIGHEST)}"


def walk_sql(db: str, job: Job, after: str, limit: int, *, count: bool = False) -> queries.Sql:
    """The job's matching ids after `after`, ascending (up to `limit` + 1: is there more?),
    or their count: the list route's SQL, bounded by the job's upper id."""
    data = {**job.query, "after": after, "limit": limit}
    if job.kind == "events":
        inner = queries.list_events(db, job.team_id, EventWalk.model_validate(data))
        columns = "id, attempts"
    else:
        inner = queries.list_requests(db, job.team_id, RequestWalk.model_validate(data))
        columns = "id"
    bounded = f"FROM ({inner.text}) WHERE id <= {{bulk_upper:String}}"
    text = f"SELECT count() AS n {bounded}" if count else f"SELECT {columns} {bounded} ORDER BY id"
    return queries.Sql(text, {**inner.params, "bulk_upper": job.upper})


def request_records(db: str, team_id: str, request_ids: list[str]) -> queries.Sql:
    """What a replay needs of a page of requests (the batch form of `request_record`)."""
    text = (
        f"SELECT {queries.REQUEST_RECORD_COLUMNS} FROM {ident(db)}.requests FINAL "
        "WHERE team_id = {team:String} AND request_id IN {ids:Array(String)}"
    )
    return queries.Sql(text, {"team": team_id, "ids": request_ids}, ("body", "header_raw"))
