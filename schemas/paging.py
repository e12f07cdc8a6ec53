"""How every list route pages, for the API's own lists and projections' alike: opaque cursors
(base64url JSON of `{"lt": id}`, older than that id, or `{"gt": id}`, newer: lists are ordered
by time-sortable ids) and the body a page is answered with."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

Direction = str  # "lt" (the next, older page) or "gt" (the previous, newer one)


def encode_cursor(direction: Direction, item_id: str) -> str:
    raw = json.dumps({direction: item_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Direction, str]:
    """(direction, id) of a cursor `encode_cursor` made; ValueError for anything else."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        [(direction, item_id)] = data.items()
        if direction not in ("lt", "gt") or not isinstance(item_id, str) or not item_id:
            raise ValueError
    except (ValueError, binascii.Error, TypeError, AttributeError, UnicodeDecodeError):
        raise ValueError("not a cursor this API returned") from None
    return direction, item_id


def _by_id(item: dict[str, Any]) -> str:
    return str(item["id"])


def page_body(
    page: list[dict[str, Any]],
    limit: int,
    *,
    older: bool,
    newer: bool,
    key: Callable[[dict[str, Any]], str] = _by_id,
) -> dict[str, Any]:
    """A list's answer: `page` newest first, with cursors to the older and newer pages when
    there are such pages; `key` is what a cursor points at (the id, unless the list is
    sorted otherwise)."""
    return {
        "models": page,
        "pagination": {
            "limit": limit,
            "next": encode_cursor("lt", key(page[-1])) if older and page else None,
            "prev": encode_cursor("gt", key(page[0])) if newer and page else None,
        },
        "count": len(page),
    }
