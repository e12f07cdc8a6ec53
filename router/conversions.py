"""Pure conversions between a stored request and what rules see and produce.

Filters and transformations see a request as {headers, body, path, query, parsed_query};
a transformation's result becomes the event's outgoing request. What a transformation did not
change stays byte for byte as received (Twilio signs the raw body and query).
"""

from __future__ import annotations

from typing import Any

from router import validation as valid
from router.validation import InvalidOutput
from schemas.bodies import FORM_MEDIA_TYPE, body_view, media_type
from schemas.bodies import parse_query as parse_query_string
from schemas.limits import HOP_HEADER

Header = dict[str, Any]
# Top-level fields of the filter view besides the request's parts (schemas.providers).
PROVIDER_FIELDS = ("event_type", "idempotency_key")


def header_map(headers: list[Header]) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined as HTTP allows (", ")."""
    out: dict[str, str] = {}
    for h in headers:
        name = h["name"].lower()
        out[name] = f"{out[name]}, {h['value']}" if name in out else h["value"]
    return out


def content_type_of(headers: list[Header]) -> str | None:
    return next((h["value"] for h in headers if h["name"].lower() == "content-type"), None)


def provider_fields(request: dict[str, Any]) -> dict[str, str]:
    """The request's provider view (schemas.providers), as computed at the edge: only the
    values the provider named, so a filter sees an unnamed one as absent ($exist: false)."""
    return {name: request[name] for name in PROVIDER_FIELDS if request.get(name) is not None}


def request_view(
    outgoing: dict[str, Any], provider: dict[str, str] | None = None
) -> dict[str, Any]:
    """The request as filters see it: `query` is the parsed query object; `provider` adds
    event_type / idempotency_key, which stay what the provider sent whatever a
    transformation does to the request."""
    return {
        "headers": header_map(outgoing["headers"]),
        "body": body_view(outgoing["body"], content_type_of(outgoing["headers"])),
        "path": outgoing["path"],
        "query": parse_query_string(outgoing["query"]),
        **(provider or {}),
    }


def view_after(
    view: dict[str, Any],
    before: dict[str, Any],
    after: dict[str, Any],
    provider: dict[str, str] | None = None,
) -> dict[str, Any]:
    """request_view(after, provider), where outgoing request `before` had view `view`: the
    parts a transformation left as they were (apply_transformation keeps them, the very same
    objects) are not parsed again — the body above all, which is read by its content type."""
    same_headers = after["headers"] is before["headers"]
    content_type = content_type_of(after["headers"])
    same_body = after["body"] is before["body"] and (
        same_headers or content_type == content_type_of(before["headers"])
    )
    return {
        **view,
        "headers": view["headers"] if same_headers else header_map(after["headers"]),
        "body": view["body"] if same_body else body_view(after["body"], content_type),
        "path": after["path"],
        "query": view["query"]
        if after["query"] is before["query"]
        else parse_query_string(after["query"]),
    }


def transformation_input(view: dict[str, Any], outgoing: dict[str, Any]) -> dict[str, Any]:
    """The `request` a transformation gets (Hookdeck's shape): `query` is the raw string."""
    return {
        **{k: v for k, v in view.items() if k not in PROVIDER_FIELDS},
        "query": outgoing["query"],
        "parsed_query": view["query"],
        "method": outgoing["method"],
    }


def outgoing_from_request(request: dict[str, Any]) -> dict[str, Any]:
    return {key: request[key] for key in ("method", "path", "query", "headers", "body")}


def apply_transformation(
    outgoing: dict[str, Any], before: dict[str, Any], after: object
) -> dict[str, Any]:
    """The outgoing request after a transformation turned view `before` into `after`.

    Raises `InvalidOutput` (naming the field and why) when `after` cannot be sent as built.
    """
    if not isinstance(after, dict):
        raise InvalidOutput("request", "the transform handler must return the request object")
    result = dict(outgoing)
    if after.get("headers") != before["headers"]:
        wanted = valid.headers(after.get("headers"), before["headers"])
        result["headers"] = _headers(outgoing["headers"], wanted)
        valid.header_count(len(result["headers"]))
    if after.get("path", before["path"]) != before["path"]:
        result["path"] = valid.path(after["path"])
    if after.get("method", before["method"]) != before["method"]:
        result["method"] = valid.method(after["method"])
    if after.get("query", before["query"]) != before["query"]:
        result["query"] = valid.query(after["query"])
    elif after.get("parsed_query", before["parsed_query"]) != before["parsed_query"]:
        result["query"] = valid.parsed_query(after["parsed_query"])
    if "body" in after and after["body"] != before["body"]:
        form = media_type(content_type_of(result["headers"])) == FORM_MEDIA_TYPE
        result["body"] = valid.body(after["body"], form)
    return result


def _headers(original: list[Header], wanted: dict[str, str | None]) -> list[Header]:
    """Keep the original order and bytes of unchanged headers; drop removed; append new.

    The hop count is the gateway's, not the code's: it stays as received, so a transformation
    cannot hide a loop (schemas.limits.HOP_HEADER).
    """
    wanted_lower = {
        name: value for name, value in wanted.items() if value is not None and name != HOP_HEADER
    }
    current = header_map(original)
    out: list[Header] = []
    for h in original:
        name = h["name"].lower()
        if name == HOP_HEADER:
            out.append(h)
            continue
        if name not in wanted_lower:
            continue
        if wanted_lower[name] == current[name]:
            out.append(h)
        elif not any(o["name"].lower() == name for o in out):
            out.append({"name": h["name"], "value": wanted_lower[name], "raw": None})
    for name, value in wanted_lower.items():
        if name not in current:
            out.append({"name": name, "value": value, "raw": None})
    return out
