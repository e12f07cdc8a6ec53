"""A raw HTTP/1.1 client: tests must know byte for byte what was sent on the wire."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def wire_request(
    method: str, target: str, host: str, headers: list[tuple[str, str | bytes]], body: bytes
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), f"Host: {host}".encode()]
    for name, value in headers:
        raw = value if isinstance(value, bytes) else value.encode()
        lines.append(name.encode() + b": " + raw)
    lines.append(f"Content-Length: {len(body)}".encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def send_raw(
    url: str,
    method: str = "POST",
    headers: list[tuple[str, str | bytes]] | None = None,
    body: bytes = b"",
    timeout_s: float = 30.0,
) -> RawResponse:
    """Send exactly these headers (plus Host, Content-Length, Connection) and read the answer."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(wire_request(method, target, parts.netloc, headers or [], body))
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout_s)
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = [tuple(line.split(": ", 1)) for line in header_lines if ": " in line]
    return RawResponse(int(status_line.split()[1]), parsed, payload)  # type: ignore[arg-type]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request as a server reads it off the wire (head and Content-Length body); raises
    IncompleteReadError when the client closes first."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return head + await reader.readexactly(length)
