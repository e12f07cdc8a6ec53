"""Avro single-object encoding of the contract's records.

Every payload is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema + the Avro binary body, so any consumer can find the writer schema without a registry
service. Records are plain dicts; a reader resolves the writer schema into its own current
schema of the same name, which is what makes additive evolution with defaults work both ways.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, cast

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from schemas.avro_compiled import compile_reader, compile_writer
from schemas.errors import (
    NotSingleObjectEncoded,
    RecordDecodeError,
    RecordEncodeError,
    UnknownRecordError,
    UnknownSchemaError,
)

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8

# Named types first: records refer to them by name.
SCHEMA_FILES = (
    "header.avsc",
    "outgoing_request.avsc",
    "config_changed.avsc",
    "request_received.avsc",
    "event_created.avsc",
    "event_ignored.avsc",
    "attempt_recorded.avsc",
    "issue_state.avsc",
    "issue_opened.avsc",
    "issue_updated.avsc",
    "issue_resolved.avsc",
)
# Earlier versions still on the topics (retention, replays, a projection rebuild): readable
# only. A change to a record's schema keeps its previous file here under a versioned name.
PAST_SCHEMA_FILES = (
    "request_received.v1.avsc",  # before event_type and idempotency_key
)
RECORD_NAMES = (
    "ConfigChanged",
    "RequestReceived",
    "EventCreated",
    "EventIgnored",
    "AttemptRecorded",
    "IssueOpened",
    "IssueUpdated",
    "IssueResolved",
)

Record = dict[str, Any]
# What a writer hands in: any record's fields, a plain dict or a `schemas.records` TypedDict.
Fields = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Schema:
    name: str
    parsed: dict[str, Any]
    fingerprint: bytes
    # The compiled writer (schemas.avro_compiled) of a current schema; None: fastavro writes.
    write: Callable[[Any], bytes] | None = field(default=None, compare=False)
    # Its compiled reader (any registered schema), for records it wrote itself; None: fastavro.
    read: Callable[[bytes], Any] | None = field(default=None, compare=False)


def _defined_once(schema: Any, seen: set[str]) -> Any:
    """The schema with each named type defined at its first use and referenced by name after.

    An expanded schema repeats a named type's definition at every use (AttemptRecorded's two
    Header arrays); the parsing canonical form, like any valid Avro schema, defines it once.
    """
    if isinstance(schema, list):
        return [_defined_once(branch, seen) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema["type"]
    if kind in ("record", "error", "enum", "fixed"):
        if schema["name"] in seen:
            return schema["name"]
        seen.add(schema["name"])
        if kind in ("record", "error"):
            fields = [{**f, "type": _defined_once(f["type"], seen)} for f in schema["fields"]]
            return {**schema, "fields": fields}
        return schema
    if kind == "array":
        return {**schema, "items": _defined_once(schema["items"], seen)}
    if kind == "map":
        return {**schema, "values": _defined_once(schema["values"], seen)}
    return schema


def _bytes_defaults(schema: Any) -> None:
    """Turn JSON defaults of bytes/fixed fields (strings of code points 0-255) into bytes.

    fastavro keeps them as `str`, so a record leaving such a field out could not be written,
    and a reader filling it in from the default would hand out `str` instead of `bytes`.
    """
    if isinstance(schema, list):
        for branch in schema:
            _bytes_defaults(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "error"):
            for f in schema["fields"]:
                first = f["type"][0] if isinstance(f["type"], list) else f["type"]
                kind = first.get("type") if isinstance(first, dict) else first
                if kind in ("bytes", "fixed") and isinstance(f.get("default"), str):
                    f["default"] = f["default"].encode("latin-1")
                _bytes_defaults(f["type"])
        elif schema.get("type") == "array":
            _bytes_defaults(schema["items"])
        elif schema.get("type") == "map":
            _bytes_defaults(schema["values"])


def schema_fingerprint(parsed: dict[str, Any]) -> bytes:
    canonical = to_parsing_canonical_form(_defined_once(parsed, set()))
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


class SchemaRegistry:
    """The writer schemas this process can read, and the current schema of each record."""

    def __init__(self) -> None:
        self._named: dict[str, Any] = {}
        self._by_fingerprint: dict[bytes, Schema] = {}
        self._current: dict[str, Schema] = {}

    def register(self, definition: dict[str, Any], *, current: bool = True) -> Schema:
        """Add a schema; `current=False` keeps an older or newer version readable only."""
        named = dict(self._named)
        # A record's definition parses to a dict (a union or a name would not be a record).
        parsed = cast(dict[str, Any], parse_schema(definition, named, expand=True))
        _bytes_defaults(parsed)
        name = parsed["name"].rsplit(".", 1)[-1]
        schema = Schema(
            name,
            parsed,
            schema_fingerprint(parsed),
            compile_writer(parsed) if current else None,
            compile_reader(parsed),
        )
        self._by_fingerprint[schema.fingerprint] = schema
        if current:
            self._named = named
            self._current[name] = schema
        return schema

    def current(self, name: str) -> Schema:
        try:
            return self._current[name]
        except KeyError:
            raise UnknownRecordError(f"no schema for record {name!r}") from None

    def by_fingerprint(self, fp: bytes) -> Schema:
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise UnknownSchemaError(fp) from None


class Codec:
    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def encode(self, name: str, record: Fields) -> bytes:
        schema = self.registry.current(name)
        if schema.write is not None:
            try:
                return MARKER + schema.fingerprint + schema.write(record)
            except Exception:  # fastavro below writes it, or says what is wrong
                pass
        out = io.BytesIO()
        out.write(MARKER)
        out.write(schema.fingerprint)
        try:
            fastavro.schemaless_writer(out, schema.parsed, record)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise RecordEncodeError(f"{name}: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes, expected: str | None = None) -> Record:
        return self.decode_named(data, expected)[1]

    def decode_named(self, data: bytes, expected: str | None = None) -> tuple[str, Record]:
        """Read a record into this process's current schema of the writer's record name."""
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            raise NotSingleObjectEncoded("payload is not an Avro single-object encoded record")
        writer = self.registry.by_fingerprint(bytes(data[2:HEADER_SIZE]))
        if expected is not None and writer.name != expected:
            raise RecordDecodeError(f"expected a {expected} record, got {writer.name}")
        reader = self.registry.current(writer.name)
        # Written with the current schema: nothing to resolve, and skipping resolution halves
        # the cost of a decode (what bounds the issues job's and the projector's throughput).
        resolve_into = None if reader.fingerprint == writer.fingerprint else reader.parsed
        try:
            if resolve_into is None and writer.read is not None:
                return writer.name, writer.read(bytes(data[HEADER_SIZE:]))
            record = fastavro.schemaless_reader(
                io.BytesIO(data[HEADER_SIZE:]), writer.parsed, resolve_into
            )
        except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise RecordDecodeError(f"{writer.name}: {exc}") from exc
        return writer.name, record  # type: ignore[return-value]


def load_definitions(files: tuple[str, ...] = SCHEMA_FILES) -> list[dict[str, Any]]:
    folder = resources.files("schemas") / "avro"
    return [json.loads((folder / name).read_text("utf-8")) for name in files]


def contract_registry() -> SchemaRegistry:
    """A fresh registry holding the contract's schemas (tests extend their own copy)."""
    registry = SchemaRegistry()
    for definition in load_definitions():
        registry.register(definition)
    for definition in load_definitions(PAST_SCHEMA_FILES):
        registry.register(definition, current=False)
    return registry


@cache
def default_codec() -> Codec:
    return Codec(contract_registry())


def encode(name: str, record: Fields) -> bytes:
    return default_codec().encode(name, record)


def decode(data: bytes, expected: str | None = None) -> Record:
    return default_codec().decode(data, expected)


def decode_named_record(data: bytes) -> tuple[str, Record]:
    """(record name, record): for topics carrying several records (issues)."""
    return default_codec().decode_named(data)
