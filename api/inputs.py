"""Reading and validating what clients send: JSON bodies and query strings, into models,
with every problem reported as a field path."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import BadRequest, Unprocessable
from api.fields import field_problems
from api.models import Name
from runtime.inputs import query_data, read_json_object
from schemas.paging import decode_cursor, page_body

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 1024 * 1024


def problems_of(exc: ValidationError) -> list[tuple[str, str]]:
    return [(path or "(body)", message) for path, message in field_problems(exc.errors())]


async def read_model(request: web.Request, model: type[M]) -> M:
    data = await read_json_object(request, MAX_BODY)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable("the body has invalid fields", problems_of(exc)) from None


def if_match(request: web.Request) -> int | None:
    """The version a write is conditional on (`If-Match: "3"`, as the ETag said), or None."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or int(tag) < 1:
        raise BadRequest(
            "If-Match takes the version an ETag gave", [("If-Match", f"not a version: {raw!r}")]
        )
    return int(tag)


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


# What `encode_cursor` makes (unpadded base64url); empty is the same as no cursor.
Cursor = Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9_-]*$")]


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=250)] = 100
    name: Name | None = None
    next: Cursor | None = None
    prev: Cursor | None = None


def read_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(query_data(request))
    except ValidationError as exc:
        raise Unprocessable("the query has invalid parameters", problems_of(exc)) from None


def _cursor_id(name: str, cursor: str) -> str:
    try:
        return decode_cursor(cursor)[1]
    except ValueError as exc:
        raise Unprocessable("bad cursor", [(name, str(exc))]) from None


def paginate(items: list[dict[str, Any]], query: ListQuery) -> dict[str, Any]:
    """`items` newest first (by id); opaque cursors to the next (older) and previous pages."""
    if query.next and query.prev:
        raise Unprocessable("choose one cursor", [("prev", "not together with next")])
    if query.next:
        after = _cursor_id("next", query.next)
        page_from = [e for e in items if e["id"] < after]
        page = page_from[: query.limit]
    elif query.prev:
        before = _cursor_id("prev", query.prev)
        newer = [e for e in items if e["id"] > before]
        page = newer[-query.limit :]
    else:
        page = items[: query.limit]
    more_older = bool(page) and any(e["id"] < page[-1]["id"] for e in items)
    more_newer = bool(page) and any(e["id"] > page[0]["id"] for e in items)
    return page_body(page, query.limit, older=more_older, newer=more_newer)
