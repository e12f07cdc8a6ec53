"""Headers as the records carry them: in order, exactly.

A header is ``{"name", "value", "raw"}``: ``value`` is the text (UTF-8 where the bytes are
UTF-8, else Latin-1, which maps every byte), and ``raw`` keeps the exact bytes only when they
are not UTF-8 — so a header that is not text is still sent on byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from schemas.records import Header

HeaderRecord = Header


def header_record(name: str | bytes, value: str | bytes) -> HeaderRecord:
    text_name = name.decode("latin-1") if isinstance(name, bytes) else name
    if not isinstance(value, bytes):
        return {"name": text_name, "value": value, "raw": None}
    try:
        return {"name": text_name, "value": value.decode("utf-8"), "raw": None}
    except UnicodeDecodeError:
        return {"name": text_name, "value": value.decode("latin-1"), "raw": value}


def header_records(headers: Iterable[tuple[str | bytes, str | bytes]]) -> list[HeaderRecord]:
    """``[(name, value), …]`` (text or bytes) → header records, in the same order."""
    # Any: bytes on the fast path; text (no .decode) falls to the general one.
    pairs: Sequence[tuple[Any, Any]] = (
        headers if isinstance(headers, list | tuple) else list(headers)
    )
    if pairs and isinstance(pairs[0][0], str):
        # Text, as the deliverer's requests and parsed answers carry them (two per attempt):
        # taken as it is, a pair of bytes among them the general way.
        return [
            {"name": name, "value": value, "raw": None}
            if type(name) is str and type(value) is str
            else header_record(name, value)
            for name, value in pairs
        ]
    try:
        # Bytes that are UTF-8, as a server's raw headers nearly always are: a call per
        # header less (the ingress builds these for every request).
        return [
            {"name": name.decode("latin-1"), "value": value.decode("utf-8"), "raw": None}
            for name, value in pairs
        ]
    except (AttributeError, UnicodeDecodeError):  # text, or a value that is not UTF-8
        return [header_record(name, value) for name, value in pairs]
