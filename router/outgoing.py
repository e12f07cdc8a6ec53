"""Pure conversions between a stored request and what rules see and produce.

Filters and transformations see a request as {headers, body, path, query, parsed_query};
a transformation's result becomes the event's outgoing request. What a transformation did not
change stays byte for byte as received (Twilio signs the raw body and query).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from router.bodies import FORM_MEDIA_TYPE, body_for_filters, is_json_media_type, media_type
from router.bodies import parse_query as parse_query_string

Header = dict[str, Any]


def header_map(headers: list[Header]) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined as HTTP allows (", ")."""
    out: dict[str, str] = {}
    for h in headers:
        name = h["name"].lower()
        out[name] = f"{out[name]}, {h['value']}" if name in out else h["value"]
    return out


def content_type_of(headers: list[Header]) -> str | None:
    return next((h["value"] for h in headers if h["name"].lower() == "content-type"), None)


def request_view(outgoing: dict[str, Any]) -> dict[str, Any]:
    """The request as filters see it: `query` is the parsed query object."""
    return {
        "headers": header_map(outgoing["headers"]),
        "body": body_for_filters(outgoing["body"], content_type_of(outgoing["headers"])),
        "path": outgoing["path"],
        "query": parse_query_string(outgoing["query"]),
    }


def transformation_input(view: dict[str, Any], outgoing: dict[str, Any]) -> dict[str, Any]:
    """The `request` a transformation gets (Hookdeck's shape): `query` is the raw string."""
    return {**view, "query": outgoing["query"], "parsed_query": view["query"],
            "method": outgoing["method"]}


def outgoing_from_request(request: dict[str, Any]) -> dict[str, Any]:
    return {key: request[key] for key in ("method", "path", "query", "headers", "body")}


def apply_transformation(outgoing: dict[str, Any], before: dict[str, Any],
                         after: dict[str, Any]) -> dict[str, Any]:
    """The outgoing request after a transformation turned view `before` into `after`."""
    result = dict(outgoing)
    if after.get("headers") != before["headers"]:
        result["headers"] = _headers(outgoing["headers"], after.get("headers") or {})
    if after.get("path", before["path"]) != before["path"]:
        result["path"] = str(after["path"])
    if after.get("method", before["method"]) != before["method"]:
        result["method"] = str(after["method"]).upper()
    if after.get("query", before["query"]) != before["query"]:
        result["query"] = str(after["query"] or "")
    elif after.get("parsed_query", before["parsed_query"]) != before["parsed_query"]:
        result["query"] = urlencode(after["parsed_query"] or {}, doseq=True)
    if "body" in after and after["body"] != before["body"]:
        result["body"] = _encode_body(after["body"], content_type_of(result["headers"]))
    return result


def _headers(original: list[Header], wanted: dict[str, Any]) -> list[Header]:
    """Keep the original order and bytes of unchanged headers; drop removed; append new."""
    wanted_lower = {str(k).lower(): str(v) for k, v in wanted.items() if v is not None}
    current = header_map(original)
    out: list[Header] = []
    for h in original:
        name = h["name"].lower()
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


def _encode_body(body: Any, content_type: str | None) -> bytes:
    mtype = media_type(content_type)
    if isinstance(body, str):
        return body.encode()
    if mtype == FORM_MEDIA_TYPE and isinstance(body, dict):
        return urlencode(body, doseq=True).encode()
    if is_json_media_type(mtype) or not isinstance(body, str):
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return str(body).encode()
