"""An HTTP/1.1 response, read incrementally from the bytes a receiver sends (RFC 9112).

Pure: bytes in, a status, headers, a body of at most `capture` bytes and whether the connection
may carry another request out. Bodies are framed by Content-Length, chunked transfer coding, or
the connection's close; 1xx interim answers are skipped. A body longer than `capture` is not
read to its end: the parse stops there (the attempt keeps only that much) and the connection
is not reused.
"""

from __future__ import annotations

from deliverer.errors import BadResponse

# Status line and headers together (aiohttp's client allows 8 KiB a line, 32 KiB of fields).
MAX_HEAD = 64 * 1024
MAX_CHUNK_LINE = 4096
_NO_BODY = frozenset({204, 304})

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


def _token_list(values: list[str]) -> list[str]:
    return [t.strip().lower() for value in values for t in value.split(",") if t.strip()]


class ResponseParser:
    """Feed it what arrives (`feed`), then the end of the stream (`feed_eof`) if it comes
    first; each returns True once the response is read (`complete`) or its capture is full."""

    __slots__ = (
        "_buffer",
        "_capture",
        "_head_request",
        "_remaining",
        "_state",
        "body",
        "complete",
        "headers",
        "reusable",
        "status",
    )

    def __init__(self, head_request: bool, capture: int) -> None:
        self._buffer = bytearray()
        self._capture = capture
        self._head_request = head_request
        self._remaining = 0
        self._state = _HEAD
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.complete = False
        self.reusable = False

    def feed(self, data: bytes) -> bool:
        self._buffer += data
        while True:
            state = self._state
            buffer = self._buffer
            if state == _DONE:
                return True
            if state == _HEAD:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEAD:
                        raise BadResponse("a status line and headers over 64 KiB")
                    return False
                head = bytes(buffer[:end])
                del buffer[: end + 4]
                self._read_head(head)
            elif state in (_LENGTH, _CHUNK_DATA):
                taken = min(self._remaining, len(buffer))
                self._keep(buffer, taken)
                self._remaining -= taken
                if self._remaining:
                    return self._full()
                if state == _LENGTH:
                    return self._done(reusable=self.reusable)
                self._state = _CHUNK_END
            elif state == _CHUNK_END:
                if len(buffer) < 2:
                    return self._full()
                if buffer[:2] != b"\r\n":
                    raise BadResponse("a chunk not followed by CRLF")
                del buffer[:2]
                self._state = _CHUNK_SIZE
            elif state in (_CHUNK_SIZE, _TRAILERS):
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > MAX_CHUNK_LINE:
                        raise BadResponse("a chunk size or trailer line over 4 KiB")
                    return self._full()
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                if state == _TRAILERS:
                    if not line:
                        return self._done(reusable=self.reusable)
                    continue
                size = line.partition(b";")[0].strip()
                try:
                    self._remaining = int(size, 16)
                except ValueError:
                    raise BadResponse(f"a chunk size {size[:20]!r}") from None
                if self._remaining < 0 or not size.isalnum():
                    raise BadResponse(f"a chunk size {size[:20]!r}")
                self._state = _CHUNK_DATA if self._remaining else _TRAILERS
            else:  # _UNTIL_CLOSE
                self._keep(buffer, len(buffer))
                return self._full()

    def feed_eof(self) -> bool:
        """The stream ended: True when that completes the response (a close-delimited body)."""
        if self._state == _UNTIL_CLOSE:
            return self._done(reusable=False)
        return self._state == _DONE

    def _keep(self, buffer: bytearray, taken: int) -> None:
        room = self._capture - len(self.body)
        if room > 0:
            self.body += buffer[: min(room, taken)]
        del buffer[:taken]

    def _full(self) -> bool:
        """Enough of the body is kept: the rest is not read (nor the connection reused)."""
        if len(self.body) >= self._capture:
            self.reusable = False
            return True
        return False

    def _done(self, reusable: bool) -> bool:
        self._state = _DONE
        self.complete = True
        # Bytes past the answer were never asked for: the connection is out of step.
        self.reusable = reusable and not self._buffer
        return True

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or not code.isdigit() or rest[3:4] not in b" ":
            raise BadResponse(f"a status line {lines[0][:40]!r}")
        status = int(code)
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding
                folded, earlier = headers[-1]
                more = line.strip().decode("utf-8", "surrogateescape")
                headers[-1] = (folded, f"{earlier} {more}")
                continue
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise BadResponse(f"a header line {line[:40]!r}")
            headers.append(
                (
                    name.decode("utf-8", "surrogateescape"),
                    value.strip(b" \t").decode("utf-8", "surrogateescape"),
                )
            )
        if 100 <= status < 200 and status != 101:
            return  # an interim answer (100 Continue, 103 Early Hints): the final one follows
        self.status, self.headers = status, headers
        self._frame(version, status, headers)

    def _frame(self, version: bytes, status: int, headers: list[tuple[str, str]]) -> None:
        lowered: dict[str, list[str]] = {}
        for name, value in headers:
            lowered.setdefault(name.lower(), []).append(value)
        connection = _token_list(lowered.get("connection", []))
        if version == b"HTTP/1.1":
            self.reusable = "close" not in connection
        else:
            self.reusable = "keep-alive" in connection
        if status == 101:
            self._done(reusable=False)
        elif self._head_request or status in _NO_BODY:
            self._done(reusable=self.reusable)
        elif "transfer-encoding" in lowered:
            codings = _token_list(lowered["transfer-encoding"])
            if codings and codings[-1] == "chunked":
                self._state = _CHUNK_SIZE
            else:  # RFC 9112 §6.3: a final coding other than chunked runs to the close
                self.reusable = False
                self._state = _UNTIL_CLOSE
        elif "content-length" in lowered:
            lengths = {v.strip() for value in lowered["content-length"] for v in value.split(",")}
            if len(lengths) != 1 or not (length := lengths.pop()).isdigit():
                raise BadResponse(f"a Content-Length {lowered['content-length']!r}")
            self._remaining = int(length)
            if self._remaining:
                self._state = _LENGTH
            else:
                self._done(reusable=self.reusable)
        else:
            self.reusable = False
            self._state = _UNTIL_CLOSE
