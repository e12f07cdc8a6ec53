"""Pure parts of the lean HTTP/1.1 server (ingress/server.py): which route a target names, the
limits on a request's head, and the bytes of an answer's head."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

# The source routes' token (ingress/routes.py): lower-case alphanumerics, so a token never
# collides with /healthz or /readyz.
TOKEN_PATTERN = "[a-z0-9]{8,64}"
_SOURCE_PATH = re.compile(rf"/({TOKEN_PATTERN})(?:/.*)?", re.DOTALL)
# aiohttp matches routes on the path with these escapes kept (yarl's `path_safe`): an escaped
# slash is no segment boundary.
_KEPT_ESCAPES = re.compile("(%2[fF5])")

SOURCE = "source"
PROBE = "probe"
NOT_FOUND = "not_found"

_REASONS = {status.value: status.phrase.encode("latin-1") for status in HTTPStatus}


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # SOURCE, PROBE or NOT_FOUND
    name: str  # the source's token, or the probe's path


def route(target: str) -> Route:
    """The route a request target names, as aiohttp's router would match it: on the
    percent-decoded path, the query left out."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if "%" in path:
        parts = _KEPT_ESCAPES.split(path)
        path = "".join(
            part if i % 2 else unquote(part, errors="surrogateescape")  # odd: a kept escape
            for i, part in enumerate(parts)
        )
    match = _SOURCE_PATH.fullmatch(path)
    if match is not None:
        return Route(SOURCE, match.group(1))
    if path in ("/healthz", "/readyz"):
        return Route(PROBE, path)
    return Route(NOT_FOUND, path)


def origin_form(target: bytes) -> bytes | None:
    """The request target as a path and query: as sent, or out of an absolute URL (what a
    client sends through a proxy); None for any other form (`*`, an authority, garbage)."""
    if target.startswith(b"/"):
        return target
    if not target[:8].lower().startswith((b"http://", b"https://")):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    return (parts.path or b"/") + (b"?" + parts.query if parts.query else b"")


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """aiohttp's limits on a request's head (past them it answers 400): the number of header
    lines, the length of a header's name and of its value apart, and of the request line."""

    max_headers: int
    max_field_size: int
    max_line_size: int

    def head_budget(self) -> int:
        """Bytes a whole head may take: past it, the head is refused before it is parsed out
        (the parser keeps a header being read in memory)."""
        return self.max_line_size + 2 + self.max_headers * (2 * self.max_field_size + 4) + 2

    def field_ok(self, count: int, name: bytes, value: bytes) -> bool:
        """Whether the `count`-th header line, `name: value`, is within the limits."""
        return (
            count <= self.max_headers
            and len(name) <= self.max_field_size
            and len(value) <= self.max_field_size
        )


def reason(status: int) -> bytes:
    return _REASONS.get(status, b"Unknown")


def answer_head(
    version: str,
    status: int,
    headers: Iterable[tuple[str, str]],
    content_length: int,
    keep_alive: bool,
    date: bytes,
) -> bytes:
    """An answer's status line and headers: the answer's own headers but its framing, which
    is ours (Content-Length, and Connection where it differs from the version's default)."""
    lines = [b"HTTP/%s %d %s\r\n" % (version.encode("ascii"), status, reason(status))]
    for name, value in headers:
        lowered = name.lower()
        if lowered in ("content-length", "connection", "transfer-encoding", "date"):
            continue
        lines.append(b"%s: %s\r\n" % (name.encode("latin-1"), value.encode("latin-1")))
    lines.append(b"Content-Length: %d\r\nDate: %s\r\n" % (content_length, date))
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    elif version == "1.0":
        lines.append(b"Connection: keep-alive\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def plain_answer(status: int, version: str = "1.1", date: bytes = b"") -> bytes:
    """The whole answer the server makes itself (malformed request, too large a head): a
    short text, as aiohttp's own, and the connection closed after it."""
    body = b"%d: %s" % (status, reason(status))
    head = answer_head(
        version, status, [("Content-Type", "text/plain; charset=utf-8")], len(body), False, date
    )
    return head + body
