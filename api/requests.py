"""Reading and validating what clients send: JSON bodies and query strings, into models,
with every problem reported as a field path."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import BadRequest, Unprocessable
from api.fields import field_problems
from api.models import Name

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 1024 * 1024


def problems_of(exc: ValidationError) -> list[tuple[str, str]]:
    return [(path or "(body)", message) for path, message in field_problems(exc.errors())]


async def read_model(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise Unprocessable("the body is over 1 MiB")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # `[[[[…` a million deep: the decoder gives up, not a server fault
        raise BadRequest("the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise Unprocessable("the body must be a JSON object", [("(body)", "must be an object")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable("the body has invalid fields", problems_of(exc)) from None


# What `encode_cursor` makes (unpadded base64url); empty is the same as no cursor.
Cursor = Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9_-]*$")]


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=250)] = 100
    name: Name | None = None
    next: Cursor | None = None
    prev: Cursor | None = None


def read_query(request: web.Request, model: type[M]) -> M:
    data: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        data[key] = values[0] if len(values) == 1 else values
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable("the query has invalid parameters", problems_of(exc)) from None


def encode_cursor(direction: str, entity_id: str) -> str:
    raw = json.dumps({direction: entity_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(name: str, cursor: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        [(direction, entity_id)] = data.items()
        if direction not in ("lt", "gt") or not isinstance(entity_id, str):
            raise ValueError
    except (ValueError, binascii.Error, TypeError, AttributeError):
        raise Unprocessable("bad cursor", [(name, "not a cursor this API returned")]) from None
    return direction, entity_id


def paginate(items: list[dict[str, Any]], query: ListQuery) -> dict[str, Any]:
    """`items` newest first (by id); opaque cursors to the next (older) and previous pages."""
    if query.next and query.prev:
        raise Unprocessable("choose one cursor", [("prev", "not together with next")])
    if query.next:
        _, after = decode_cursor("next", query.next)
        page_from = [e for e in items if e["id"] < after]
        page = page_from[: query.limit]
    elif query.prev:
        _, before = decode_cursor("prev", query.prev)
        newer = [e for e in items if e["id"] > before]
        page = newer[-query.limit:]
    else:
        page = items[: query.limit]
    more_older = bool(page) and any(e["id"] < page[-1]["id"] for e in items)
    more_newer = bool(page) and any(e["id"] > page[0]["id"] for e in items)
    return {
        "models": page,
        "pagination": {
            "limit": query.limit,
            "next": encode_cursor("lt", page[-1]["id"]) if more_older else None,
            "prev": encode_cursor("gt", page[0]["id"]) if more_newer else None,
        },
        "count": len(page),
    }
