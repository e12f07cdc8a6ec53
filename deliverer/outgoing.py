"""The HTTP request a delivery sends: the provider's request as it arrived, plus ours.

Pure: from an EventCreated record and the destination entity to method, URL, headers, body.
Exactness matters more than tidiness here: a receiver may check the provider's own signature
(Twilio signs URL and form values, others sign the raw body), so the body bytes, header values
and header order pass through untouched; only hop-by-hop headers, `host`, `content-length`
and anything posing as ours (`x-fasthook-*`) are dropped.

Signing decision: `x-fasthook-signature` is sent only when the destination's `auth_type` is
`FASTHOOK_SIGNATURE`, the Standard Webhooks headers only with `STANDARD_WEBHOOKS`. With another
auth type the receiver already authenticates us by that credential, and with none the user
chose no authentication (as API.md says: "with FASTHOOK_SIGNATURE").
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

from deliverer.signatures import (
    SIGNATURE_HEADER,
    STANDARD_HEADERS,
    signature_header,
    standard_headers,
)
from schemas.auth import API_KEY_PLACES, DEFAULT_API_KEY_HEADER, DESTINATION_AUTH_TYPES
from schemas.limits import HOP_HEADER, hop_count

# RFC 9110 §7.6.1 plus the legacy `proxy-connection` (dropped by Go's and nginx's proxies too):
# they describe one TCP hop, ours to the provider, not the hop to the receiver.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The HTTP client sets these for the receiver's host and the exact body it sends.
CLIENT_SET = frozenset({"host", "content-length"})
OUR_PREFIX = "x-fasthook-"
AUTH_TYPES = (None, *DESTINATION_AUTH_TYPES)
# What a stored attempt shows instead of a credential the gateway added.
REDACTED = "REDACTED"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What to send. A header value is bytes when the provider's was not valid UTF-8.

    `credential_header` / `credential_param` name the header or query parameter that carries
    the destination's credential (ours: a provider's of the same name is dropped), so what is
    stored about the request can leave the secret out (`redacted`)."""

    method: str
    url: str
    headers: list[tuple[str, str | bytes]]
    body: bytes
    credential_header: str | None = None
    credential_param: str | None = None


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("latin-1")


def _connection_tokens(headers: list[dict[str, Any]]) -> set[str]:
    # `Connection: close, X-Foo` makes X-Foo hop-by-hop as well (RFC 9110 §7.6.1).
    tokens: set[str] = set()
    for header in headers:
        if header["name"].lower() == "connection":
            tokens.update(t.strip().lower() for t in _text(header["value"]).split(","))
    tokens.discard("")
    return tokens


def _forwarded_headers(
    headers: list[dict[str, Any]], replaced: set[str]
) -> list[tuple[str, str | bytes]]:
    dropped = HOP_BY_HOP | CLIENT_SET | _connection_tokens(headers) | replaced
    kept: list[tuple[str, str | bytes]] = []
    for header in headers:
        name = header["name"]
        lowered = name.lower()
        if lowered in dropped or lowered.startswith(OUR_PREFIX):
            continue
        raw = header.get("raw")
        kept.append((name, bytes(raw) if raw is not None else header["value"]))
    return kept


def _without_param(query: str, name: str) -> str:
    """`query` minus every `name=…` pair, the rest byte for byte: a provider must not smuggle
    a decoy API key in front of ours (receivers usually read the first value)."""
    return "&".join(
        pair for pair in query.split("&") if unquote_plus(pair.partition("=")[0]) != name
    )


def _join_query(url: str, extra: str) -> str:
    if not extra:
        return url
    base, hash_mark, fragment = url.partition("#")
    if "?" not in base:
        joined = f"{base}?{extra}"
    elif base.endswith(("?", "&")):
        joined = base + extra
    else:
        joined = f"{base}&{extra}"
    return joined + hash_mark + fragment


def _forwarded_url(base: str, path: str, query: str) -> str:
    """`base` with the request's path and raw query appended, one slash between them.

    `https://r.example/hooks/` + `/twilio/status` + `x=1` gives
    `https://r.example/hooks/twilio/status?x=1`; a query already in `base` comes first.
    A fragment in `base` is dropped: it is never sent, and the path must not land after it.
    """
    base = base.partition("#")[0]
    base, _, base_query = base.partition("?")
    if path:
        if base.endswith("/") and path.startswith("/"):
            path = path[1:]
        elif not base.endswith("/") and not path.startswith("/"):
            path = "/" + path
    url = base + path
    if base_query:
        url = f"{url}?{base_query}"
    return _join_query(url, query)


Pair = tuple[str, str]


def _auth(config: dict[str, Any]) -> tuple[Pair | None, Pair | None]:
    """(header to add, query parameter to add) for the destination's credential."""
    auth_type = config.get("auth_type")
    auth = config.get("auth") or {}
    if auth_type == "BASIC_AUTH":
        pair = f"{auth.get('username') or ''}:{auth.get('password') or ''}".encode()
        return ("Authorization", "Basic " + base64.b64encode(pair).decode("ascii")), None
    if auth_type == "BEARER_TOKEN":
        return ("Authorization", f"Bearer {auth['token']}"), None
    if auth_type == "API_KEY":
        key = auth.get("header_key") or DEFAULT_API_KEY_HEADER
        if (auth.get("to") or API_KEY_PLACES[0]) == "query":
            return None, (key, auth["api_key"])
        return (key, auth["api_key"]), None
    if auth_type not in AUTH_TYPES:
        raise ValueError(f"unknown destination auth_type {auth_type!r}")
    return None, None


def build_request(
    event: dict[str, Any],
    destination: dict[str, Any],
    signing_secrets: list[str],
    now_s: int,
) -> HttpRequest:
    """The request delivering `event` to `destination` at `now_s` (the signature timestamp).

    `destination["config"]["auth"]` holds opened (plain) secrets. `signing_secrets` are the
    team's valid secrets, current first; needed only to sign (ValueError when
    it has none, and on an unknown auth_type: a request we cannot authenticate must not go).
    """
    config = destination["config"]
    request = event["request"]
    auth_header, auth_query = _auth(config)

    query = request.get("query") or ""
    if auth_query is not None:
        query = _without_param(query, auth_query[0])
    if config.get("path_forwarding"):
        url = _forwarded_url(config["url"], request.get("path") or "", query)
    else:
        url = config["url"]
    if auth_query is not None:
        url = _join_query(url, urlencode([auth_query]))

    # The provider's credential for the same header would sit beside ours: drop it. So are a
    # provider's own Standard Webhooks headers: a receiver reading the first would fail ours.
    replaced = {auth_header[0].lower()} if auth_header else set()
    standard = config.get("auth_type") == "STANDARD_WEBHOOKS"
    if standard:
        replaced |= STANDARD_HEADERS
    headers = _forwarded_headers(request["headers"], replaced)
    body = bytes(request["body"])
    headers += [
        ("x-fasthook-request-id", event["request_id"]),
        ("x-fasthook-event-id", event["event_id"]),
        ("x-fasthook-attempt", str(event["attempt_number"])),
        ("x-fasthook-source-id", event["source_id"]),
        ("x-fasthook-connection-id", event["connection_id"]),
        ("x-fasthook-destination-id", event["destination_id"]),
        ("x-fasthook-source-url", event["source_url"]),
        (HOP_HEADER, str(hop_count(request["headers"]) + 1)),
    ]
    if config.get("auth_type") == "FASTHOOK_SIGNATURE":
        headers.append((SIGNATURE_HEADER, signature_header(signing_secrets, int(now_s), body)))
    if standard:
        headers += standard_headers(signing_secrets, event["event_id"], int(now_s), body)
    if auth_header is not None:
        headers.append(auth_header)
    method = config.get("http_method") or request["method"]
    return HttpRequest(
        method=method,
        url=url,
        headers=headers,
        body=body,
        credential_header=auth_header[0].lower() if auth_header else None,
        credential_param=auth_query[0] if auth_query else None,
    )


def _redacted_value(value: str | bytes) -> str:
    # `Basic …` / `Bearer …`: the scheme says which credential was sent, and is no secret.
    scheme, space, _ = _text(value).partition(" ")
    return f"{scheme} {REDACTED}" if space and scheme.lower() in ("basic", "bearer") else REDACTED


def _redacted_url(url: str, param: str) -> str:
    base, hash_mark, fragment = url.partition("#")
    path, question, query = base.partition("?")
    pairs = [
        f"{pair.partition('=')[0]}={REDACTED}"
        if unquote_plus(pair.partition("=")[0]) == param
        else pair
        for pair in query.split("&")
    ]
    return path + question + "&".join(pairs) + hash_mark + fragment


def redacted(request: HttpRequest) -> tuple[str, list[tuple[str, str | bytes]]]:
    """The URL and headers of `request` as they may be stored or shown: the destination's
    credential replaced by REDACTED (the provider's own headers and our signature stay)."""
    url = request.url
    if request.credential_param is not None:
        url = _redacted_url(url, request.credential_param)
    credential = request.credential_header
    if credential is None:  # nothing of ours to hide: the headers as sent (read, not changed)
        return url, request.headers
    headers = [
        (name, _redacted_value(value) if name.lower() == credential else value)
        for name, value in request.headers
    ]
    return url, headers


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    latency_ms: int = 0
    error_code: str | None = None
    error: str | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)
