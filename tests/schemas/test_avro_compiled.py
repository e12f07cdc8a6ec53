"""Compiled Avro writers write exactly fastavro's bytes, and what they cannot write is still
refused (or written) as fastavro does, through the codec; compiled readers read exactly
fastavro's records, and refuse what is not one."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.avro_compiled import compile_reader, compile_writer
from schemas.codec import (
    MARKER,
    RECORD_NAMES,
    Codec,
    SchemaRegistry,
    contract_registry,
    decode,
    encode,
)
from schemas.errors import RecordEncodeError

REGISTRY = contract_registry()
LONGS = st.integers(-(1 << 63), (1 << 63) - 1)


def values(schema: Any) -> st.SearchStrategy[Any]:
    """Valid values of a parsed (expanded) schema, edge cases included."""
    kind = (
        schema
        if isinstance(schema, str)
        else ("union" if isinstance(schema, list) else schema["type"])
    )
    if kind == "string":
        return st.text()
    if kind == "bytes":
        return st.binary()
    if kind == "int":
        return st.integers(-(1 << 31), (1 << 31) - 1)
    if kind == "long":
        return LONGS
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "union":
        return st.one_of([values(branch) for branch in schema])
    if kind == "array":
        return st.lists(values(schema["items"]), max_size=70)
    assert kind == "record", kind
    return st.fixed_dictionaries({f["name"]: values(f["type"]) for f in schema["fields"]})


def fastavro_bytes(schema: dict[str, Any], record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def fastavro_record(schema: dict[str, Any], data: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(data), schema, None)


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_every_record_of_the_contract_has_a_compiled_writer(name: str) -> None:
    assert REGISTRY.current(name).write is not None


@pytest.mark.parametrize("name", RECORD_NAMES)
@given(data=st.data())
def test_property_compiled_bytes_are_fastavros(name: str, data: st.DataObject) -> None:
    schema = REGISTRY.current(name)
    record = data.draw(values(schema.parsed))
    written = schema.write(record)  # type: ignore[misc]
    assert written == fastavro_bytes(schema.parsed, record)
    assert schema.read(written) == fastavro_record(schema.parsed, written) == record  # type: ignore[misc]
    assert decode(MARKER + schema.fingerprint + written, name) == record


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_every_registered_schema_has_a_compiled_reader(name: str) -> None:
    assert REGISTRY.current(name).read is not None


@pytest.mark.parametrize("name", ["RequestReceived", "AttemptRecorded"])
@given(data=st.data())
def test_property_cut_or_changed_bytes_are_refused_or_read_as_fastavro_reads_them(
    name: str, data: st.DataObject
) -> None:
    schema = REGISTRY.current(name)
    written = schema.write(data.draw(values(schema.parsed)))  # type: ignore[misc]
    cut = data.draw(st.integers(0, max(0, len(written) - 1)))
    changed = bytearray(written)
    if written:
        changed[data.draw(st.integers(0, len(written) - 1))] = data.draw(st.integers(0, 255))
    for garbage in (written[:cut], bytes(changed)):
        try:
            expected = fastavro_record(schema.parsed, garbage)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, MemoryError, OverflowError):
            expected = None
        try:
            got = schema.read(garbage)  # type: ignore[misc]
        except (EOFError, ValueError, IndexError, UnicodeDecodeError):
            got = None
        if got is not None:  # what the compiled reader reads, fastavro reads the same
            assert got == expected


def test_blocked_arrays_are_read_as_fastavro_reads_them() -> None:
    """Another writer may split an array into blocks, with a byte size after a negative count."""
    schema = {
        "type": "record",
        "name": "A",
        "fields": [{"name": "xs", "type": {"type": "array", "items": "string"}}],
    }
    # Blocks: -2 (2 items, 4 bytes: "a", "b"), then 1 ("c"), then the end.
    data = bytes([3, 8, 2, ord("a"), 2, ord("b"), 2, 2, ord("c"), 0])
    reader = compile_reader(schema)
    assert reader is not None
    assert reader(data) == fastavro_record(schema, data) == {"xs": ["a", "b", "c"]}


def test_left_out_fields_take_their_defaults_as_fastavro_does() -> None:
    schema = REGISTRY.current("RequestReceived")
    record = {
        "request_id": "req_1",
        "team_id": "tm_1",
        "source_id": "src_1",
        "received_at": 1,
        "method": "POST",
        "path": "/",
        "query": "",
        "public_url": "http://x/",
        "headers": [{"name": "A", "value": "b"}],
        "body": b"",
        "body_size": 0,
        "status": "accepted",
        "verification": {"method": "NONE", "verified": True},
    }
    assert schema.write(record) == fastavro_bytes(schema.parsed, record)  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        {"received_at": "1"},  # a string for a long
        {"received_at": 1 << 63},  # past a long
        {"request_id": None},  # null for a string
        {"body": "text"},  # text for bytes
        {"headers": [{"name": "A"}]},  # a header without its value
        {"client_ip": 5},  # no branch of the union
        {"verification": None},  # null for a record
    ],
)
def test_what_cannot_be_written_is_refused_as_before(change: dict[str, Any]) -> None:
    record = {
        "request_id": "req_1",
        "team_id": "tm_1",
        "source_id": "src_1",
        "received_at": 1,
        "method": "POST",
        "path": "/",
        "query": "",
        "public_url": "http://x/",
        "headers": [],
        "body": b"",
        "body_size": 0,
        "status": "accepted",
        "verification": {"method": "NONE", "verified": True, "detail": None},
    }
    record.update(change)
    schema = REGISTRY.current("RequestReceived")
    with pytest.raises(Exception):  # noqa: B017 - each of its own kind; the codec's below
        schema.write(record)  # type: ignore[misc]
    with pytest.raises(RecordEncodeError):
        encode("RequestReceived", record)


def test_a_long_written_by_fastavro_where_the_compiled_writer_is_stricter() -> None:
    """A bool for a long: the compiled writer declines, fastavro writes it as before."""
    record = {
        "event_id": "evt_1",
        "request_id": "req_1",
        "team_id": "tm_1",
        "source_id": "src_1",
        "connection_id": "con_1",
        "destination_id": "des_1",
        "created_at": True,
        "due_at": 0,
        "attempt_number": 1,
        "trigger": "INITIAL",
        "source_url": "http://x/",
        "bulk_id": None,
        "request": {"method": "POST", "path": "/", "query": "", "headers": [], "body": b""},
    }
    schema = REGISTRY.current("EventCreated")
    assert encode("EventCreated", record)[10:] == fastavro_bytes(schema.parsed, record)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "F", "fields": [{"name": "x", "type": "double"}]},
        {"type": "record", "name": "U", "fields": [{"name": "x", "type": ["string", "long"]}]},
    ],
)
def test_schemas_beyond_the_compiled_types_are_left_to_fastavro(schema: dict[str, Any]) -> None:
    assert compile_writer(schema) is None
    assert compile_reader(schema) is None


def test_a_varint_past_64_bits_is_refused() -> None:
    schema = {"type": "record", "name": "L", "fields": [{"name": "n", "type": "long"}]}
    reader = compile_reader(schema)
    assert reader is not None
    with pytest.raises(ValueError, match="longer than a long"):
        reader(bytes([0x80] * 9 + [0x02]))  # 2**64 before the zig-zag
    assert reader(bytes([0xFE] + [0xFF] * 8 + [0x01])) == {"n": (1 << 63) - 1}


NULLS = {
    "type": "record",
    "name": "N",
    "namespace": "t",
    "fields": [{"name": "z", "type": "null"}, {"name": "o", "type": ["null", "string"]}],
}


def test_null_fields_and_a_left_out_optional_are_written_and_read_as_fastavro_does() -> None:
    write, read = compile_writer(NULLS), compile_reader(NULLS)
    assert write is not None and read is not None
    data = write({"z": None})  # "o" left out: nullable, so null
    assert data == fastavro_bytes(fastavro.parse_schema(NULLS), {"z": None, "o": None})
    assert read(data) == {"z": None, "o": None}
    with pytest.raises(TypeError):
        write({"z": 1, "o": None})


def test_an_array_of_values_that_take_no_bytes_is_left_to_fastavro() -> None:
    schema = {
        "type": "record",
        "name": "A",
        "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}],
    }
    assert compile_reader(schema) is None


def test_a_schema_with_no_compiled_writer_is_written_by_fastavro() -> None:
    registry = SchemaRegistry()
    registry.register(
        {
            "type": "record",
            "name": "D",
            "namespace": "fasthook",
            "fields": [{"name": "x", "type": "double"}],
        }
    )
    codec = Codec(registry)
    assert codec.decode(codec.encode("D", {"x": 1.5})) == {"x": 1.5}
