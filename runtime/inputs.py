"""What every service's JSON routes read from a request before a model sees it: the query
string as a mapping (a repeated parameter is a list, so a model expecting one value refuses
it) and a body that must be one JSON object of bounded size."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from runtime.problems import BadRequest, Unprocessable


def query_data(request: web.Request) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        data[key] = values[0] if len(values) == 1 else values
    return data


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit // 1024} KiB"


async def read_json_object(
    request: web.Request, max_bytes: int, *, empty_is_object: bool = False
) -> dict[str, Any]:
    """The body as a JSON object; an empty body is `{}` when `empty_is_object` (a route whose
    fields are all optional), else refused like any other non-object."""
    raw = await request.read()
    if len(raw) > max_bytes:
        raise Unprocessable(f"the body is over {_size(max_bytes)}")
    if empty_is_object and not raw.strip():
        return {}
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # `[[[[…` a million deep: the decoder gives up, not a server fault
        raise BadRequest("the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise Unprocessable("the body must be a JSON object", [("(body)", "must be an object")])
    return data
