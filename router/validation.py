"""Whether a transformation's output can be sent as an HTTP request, field by field.

Pure functions. A transformation is user code: whatever it returns (any JSON value) either
passes these checks — and then aiohttp can put it on the wire and Avro can store it — or is
refused with `InvalidOutput(field, reason)`; nothing else is ever raised. The limits are the
contract's (schemas.limits); the request line (path + query) is held to one header line's size.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import urlencode

from schemas import limits

# RFC 9110 §5.6.2: a method and a header name are tokens.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters (C0, DEL, C1) other than HTAB, which a field value may hold.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# A path or a query is part of the request line: no whitespace, and no `#` (a fragment is never
# sent, so everything after it would silently vanish).
_NOT_IN_URL = re.compile(r"[\s#]")
FIELD_SHOWN = 100


class InvalidOutput(ValueError):
    """The transformation returned something that cannot be sent; `field` says where."""

    def __init__(self, field: str, reason: str) -> None:
        # A field is named after user data (a header name may be megabytes): the detail of
        # the ignored event stays short.
        field = field if len(field) <= FIELD_SHOWN else field[:FIELD_SHOWN] + "…"
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"the transformation's output is invalid: {self.field}: {self.reason}"


def _text(value: object, field: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidOutput(field, f"{what} must be a string, not {_json_type(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidOutput(field, "holds a lone surrogate, which is not Unicode text") from None
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def method(value: object) -> str:
    text = _text(value, "method", "a method")
    if not _TOKEN.fullmatch(text) or len(text) > 64:
        raise InvalidOutput("method", "a method must be an HTTP token (letters, e.g. POST)")
    return text.upper()


def header_value(name: str, value: object) -> str:
    """A header value as sent: numbers are written as JavaScript writes them."""
    field = f"headers.{name}"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidOutput(
            field, f"a header value must be a string or a number, not {_json_type(value)}"
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidOutput(field, "a header value must be a finite number")
        value = str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    text = _text(str(value), field, "a header value")
    if _CONTROL.search(text):
        raise InvalidOutput(field, "a header value cannot hold control characters (CR, LF, NUL, …)")
    if _size(name) + _size(text) > limits.MAX_HEADER_BYTES:
        raise InvalidOutput(
            field, f"a header (name and value) may be at most {limits.MAX_HEADER_BYTES} bytes"
        )
    return text


def headers(value: object, received: dict[str, str]) -> dict[str, str | None]:
    """The headers a transformation wants: lower-cased name → value, None = remove.

    A header left as received (`received`: lower-cased name → value) is not checked again: it
    came over HTTP, and is forwarded with its original bytes."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidOutput("headers", f"headers must be an object, not {_json_type(value)}")
    wanted: dict[str, str | None] = {}
    for name, raw in value.items():
        _text(name, f"headers.{name}", "a header name")
        if not _TOKEN.fullmatch(name):
            raise InvalidOutput(
                f"headers.{name}", "a header name must be an HTTP token (letters, digits, -, _, …)"
            )
        if isinstance(raw, str) and received.get(name.lower()) == raw:
            wanted[name.lower()] = raw
        else:
            wanted[name.lower()] = None if raw is None else header_value(name, raw)
    return wanted


def header_count(count: int) -> None:
    if count > limits.MAX_HEADER_COUNT:
        raise InvalidOutput(
            "headers", f"a request may have at most {limits.MAX_HEADER_COUNT} headers, not {count}"
        )


def _request_line_part(text: str, field: str) -> str:
    if _CONTROL.search(text):
        raise InvalidOutput(field, f"a {field} cannot hold control characters (CR, LF, NUL, …)")
    found = _NOT_IN_URL.search(text)
    if found:
        what = "#" if found.group() == "#" else "a space"
        raise InvalidOutput(field, f"a {field} cannot hold {what}")
    if _size(text) > limits.MAX_HEADER_BYTES:
        raise InvalidOutput(field, f"a {field} may be at most {limits.MAX_HEADER_BYTES} bytes")
    return text


def path(value: object) -> str:
    text = _text(value, "path", "a path")
    if not text.startswith("/"):
        raise InvalidOutput("path", "a path must start with '/'")
    return _request_line_part(text, "path")


def query(value: object) -> str:
    """The raw query string (no leading '?'); null means none."""
    if value is None:
        return ""
    return _request_line_part(_text(value, "query", "a query"), "query")


def _form_values(value: object, field: str) -> list[str]:
    """A form or query field's values: a string, a number, or a list of them."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if (
            isinstance(item, bool)
            or not isinstance(item, str | int | float)
            or (isinstance(item, float) and not math.isfinite(item))
        ):
            raise InvalidOutput(
                field,
                "a form field must be a string, a number or a list of "
                f"them, not {_json_type(item)}",
            )
        out.append(_text(str(item), field, "a form field"))
    return out


def _form(value: dict[str, Any], field: str) -> str:
    pairs = [
        (_text(name, f"{field}.{name}", "a field name"), item)
        for name, raw in value.items()
        for item in _form_values(raw, f"{field}.{name}")
    ]
    return urlencode(pairs)


def parsed_query(value: object) -> str:
    """A parsed query object written back as a query string."""
    if value is None:
        return ""
    if not isinstance(value, dict):
        raise InvalidOutput(
            "parsed_query", f"parsed_query must be an object, not {_json_type(value)}"
        )
    return _request_line_part(_form(value, "parsed_query"), "query")


def body(value: object, form: bool) -> bytes:
    """The body's bytes: a string as UTF-8, null as no body, an object or array as compact JSON
    (or, for a form content type, an object as form fields)."""
    if value is None:
        encoded = b""
    elif isinstance(value, str):
        encoded = _text(value, "body", "a body").encode("utf-8")
    elif form and isinstance(value, dict):
        encoded = _form(value, "body").encode("utf-8")
    elif isinstance(value, dict | list):
        try:
            encoded = json.dumps(
                value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidOutput(
                "body", "holds a lone surrogate, which is not Unicode text"
            ) from None
        except (ValueError, RecursionError):
            raise InvalidOutput("body", "the body cannot be written as JSON") from None
    else:
        raise InvalidOutput(
            "body", f"a body must be a string, an object, an array or null, not {_json_type(value)}"
        )
    if len(encoded) > limits.MAX_BODY_BYTES:
        raise InvalidOutput(
            "body", f"a body may be at most {limits.MAX_BODY_BYTES} bytes, not {len(encoded)}"
        )
    return encoded
