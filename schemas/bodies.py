"""How a request body and a raw query string are read: by connection filters (the router) and by
people inspecting a request (`data.body` of the API) — one view, so what a person inspects is
what the filter saw.

Pure functions, no I/O. This is only a *view*: the delivered body always stays the exact raw
bytes (Twilio signs them), so nothing here may ever be written back.

- JSON media types (``application/json``, any ``*/*+json``, parameters ignored) → the parsed
  JSON value. Strict JSON: ``NaN``/``Infinity`` are refused. A body that does not parse (or is
  not UTF-8) → the body as a string (UTF-8, undecodable bytes replaced).
- ``application/x-www-form-urlencoded`` → ``dict[str, str | list[str]]``: repeated keys become a
  list in arrival order, blank values are kept (Twilio sends ``ErrorCode=`` and a filter must be
  able to see it), ``+`` is a space, percent escapes are decoded as STRICT UTF-8. Fallback: if
  any decoded name or value is not valid UTF-8 the whole body is returned as a plain string
  decoded with ``errors="replace"`` — a half-decoded object with U+FFFD inside would make
  equality filters silently miss, a string makes the situation visible.
- A form of more than ``schemas.limits.MAX_FORM_FIELDS`` fields → the body as a string (as if
  it did not parse): a hostile form cannot make the router build millions of fields on its loop.
  A query string keeps its first ``MAX_FORM_FIELDS`` fields (it must stay an object).
- Anything else (or no content type) → the body as a string (UTF-8, ``errors="replace"``).

Nothing here raises: the router must never fail a request because of its body.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import NoReturn
from urllib.parse import unquote_to_bytes

from schemas.limits import MAX_FORM_FIELDS

__all__ = [
    "FORM_MEDIA_TYPE",
    "FormValue",
    "body_view",
    "is_json_media_type",
    "media_type",
    "parse_query",
]

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"

FormValue = str | list[str]


def media_type(content_type: str | None) -> str:
    """The lower-cased ``type/subtype`` of a Content-Type header, without parameters."""
    if not isinstance(content_type, str):
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_media_type(mtype: str) -> bool:
    """``application/json`` or a structured-syntax ``+json`` type (e.g. cloudevents+json)."""
    if mtype == "application/json":
        return True
    kind, slash, subtype = mtype.partition("/")
    return bool(kind) and bool(slash) and subtype.endswith("+json")


def body_view(body: bytes, content_type: str | None) -> object:
    """The value a connection filter's ``body`` part is evaluated against."""
    try:
        raw = _as_bytes(body)
        mtype = media_type(content_type)
        if is_json_media_type(mtype):
            return _parse_json(raw)
        if mtype == FORM_MEDIA_TYPE:
            form = _parse_pairs(raw, strict=True, over_cap_fails=True)
            return form if form is not None else _lenient_text(raw)
        return _lenient_text(raw)
    except Exception:  # defensive: a filter view must never take the router down
        return ""


def parse_query(query: str) -> dict[str, FormValue]:
    """Parse a raw query string (no leading ``?``) with the same rules as a form body.

    The result must stay an object (the ``query`` filter part is an object), so unlike the
    body there is no string fallback: a value whose escapes are not valid UTF-8 is decoded
    with ``errors="replace"`` on its own.
    """
    try:
        if isinstance(query, str):
            raw = _str_to_bytes(query)
        else:
            raw = _as_bytes(query)
        return _parse_pairs(raw, strict=False, over_cap_fails=False) or {}
    except Exception:  # defensive: same contract as body_view
        return {}


# -- internals ---------------------------------------------------------------------------------


def _as_bytes(data: object) -> bytes:
    # Callers should pass bytes; tolerate the other buffer types and str rather than raise.
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return _str_to_bytes(data)
    return b""


def _str_to_bytes(text: str) -> bytes:
    # A query string decoded upstream may carry surrogate escapes for undecodable bytes;
    # restore them when possible instead of failing.
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace")


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _refuse_constant(name: str) -> NoReturn:
    # Python's json accepts NaN/Infinity; JSON does not, and NaN breaks equality filters.
    raise ValueError(f"not JSON: {name}")


def _parse_json(raw: bytes) -> object:
    try:
        # utf-8-sig: tolerate a BOM; strict so that non-UTF-8 bytes fall back to the string.
        text = raw.decode("utf-8-sig")
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON, bad UTF-8 and over-long integers; RecursionError covers
        # absurd nesting. Either way filters see the text, as for any non-JSON body.
        return _lenient_text(raw)


def _decode_component(part: bytes, *, strict: bool) -> str | None:
    # '+' means space only in the raw form; replacing before unquoting keeps '%2B' a plus.
    decoded = unquote_to_bytes(part.replace(b"+", b" "))
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        return None if strict else decoded.decode("utf-8", "replace")


_PAIR = re.compile(rb"[^&]+")


def _parse_pairs(raw: bytes, *, strict: bool, over_cap_fails: bool) -> dict[str, FormValue] | None:
    """``name=value&…`` → dict; ``None`` if ``strict`` and some component is not UTF-8, or if
    ``over_cap_fails`` and there are more than MAX_FORM_FIELDS fields (else the first ones).

    Unlike ``urllib.parse.parse_qsl`` defaults, blank values are kept (``a=`` and a bare
    ``a`` both give ``""``); only empty pairs (``&&``, a trailing ``&``) are skipped.
    """
    # Found lazily (runs of '&' are skipped by the regex engine), so a hostile body costs at
    # most MAX_FORM_FIELDS + 1 fields of work.
    pairs = [m.group() for m in itertools.islice(_PAIR.finditer(raw), MAX_FORM_FIELDS + 1)]
    if len(pairs) > MAX_FORM_FIELDS:
        if over_cap_fails:
            return None
        pairs = pairs[:MAX_FORM_FIELDS]
    result: dict[str, FormValue] = {}
    for pair in pairs:
        name_raw, _, value_raw = pair.partition(b"=")
        name = _decode_component(name_raw, strict=strict)
        value = _decode_component(value_raw, strict=strict)
        if name is None or value is None:
            return None
        previous = result.get(name)
        if previous is None:
            result[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            result[name] = [previous, value]
    return result
