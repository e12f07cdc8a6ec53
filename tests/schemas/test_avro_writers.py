"""Compiled Avro writers write exactly fastavro's bytes, and what they cannot write is still
refused (or written) as fastavro does, through the codec."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.avro_writers import compile_writer
from schemas.codec import MARKER, RECORD_NAMES, contract_registry, decode, encode
from schemas.errors import RecordEncodeError

REGISTRY = contract_registry()
LONGS = st.integers(-(1 << 63), (1 << 63) - 1)


def values(schema: Any) -> st.SearchStrategy[Any]:
    """Valid values of a parsed (expanded) schema, edge cases included."""
    kind = schema if isinstance(schema, str) else (
        "union" if isinstance(schema, list) else schema["type"])
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
    assert decode(MARKER + schema.fingerprint + written, name) == record


def test_left_out_fields_take_their_defaults_as_fastavro_does() -> None:
    schema = REGISTRY.current("RequestReceived")
    record = {"request_id": "req_1", "team_id": "tm_1", "source_id": "src_1",
              "received_at": 1, "method": "POST", "path": "/", "query": "",
              "public_url": "http://x/", "headers": [{"name": "A", "value": "b"}],
              "body": b"", "body_size": 0, "status": "accepted",
              "verification": {"method": "NONE", "verified": True}}
    assert schema.write(record) == fastavro_bytes(schema.parsed, record)  # type: ignore[misc]


@pytest.mark.parametrize("change", [
    {"received_at": "1"},                      # a string for a long
    {"received_at": 1 << 63},                  # past a long
    {"request_id": None},                      # null for a string
    {"body": "text"},                          # text for bytes
    {"headers": [{"name": "A"}]},              # a header without its value
    {"client_ip": 5},                          # no branch of the union
    {"verification": None},                    # null for a record
])
def test_what_cannot_be_written_is_refused_as_before(change: dict[str, Any]) -> None:
    record = {"request_id": "req_1", "team_id": "tm_1", "source_id": "src_1",
              "received_at": 1, "method": "POST", "path": "/", "query": "",
              "public_url": "http://x/", "headers": [], "body": b"", "body_size": 0,
              "status": "accepted",
              "verification": {"method": "NONE", "verified": True, "detail": None}}
    record.update(change)
    schema = REGISTRY.current("RequestReceived")
    with pytest.raises(Exception):  # noqa: B017 - each of its own kind; the codec's below
        schema.write(record)  # type: ignore[misc]
    with pytest.raises(RecordEncodeError):
        encode("RequestReceived", record)


def test_a_long_written_by_fastavro_where_the_compiled_writer_is_stricter() -> None:
    """A bool for a long: the compiled writer declines, fastavro writes it as before."""
    record = {"event_id": "evt_1", "request_id": "req_1", "team_id": "tm_1",
              "source_id": "src_1", "connection_id": "con_1", "destination_id": "des_1",
              "created_at": True, "due_at": 0, "attempt_number": 1, "trigger": "INITIAL",
              "source_url": "http://x/", "bulk_id": None,
              "request": {"method": "POST", "path": "/", "query": "", "headers": [],
                          "body": b""}}
    schema = REGISTRY.current("EventCreated")
    assert encode("EventCreated", record)[10:] == fastavro_bytes(schema.parsed, record)


def test_schemas_beyond_the_compiled_types_are_left_to_fastavro() -> None:
    assert compile_writer({"type": "record", "name": "F",
                           "fields": [{"name": "x", "type": "double"}]}) is None
    assert compile_writer({"type": "record", "name": "U",
                           "fields": [{"name": "x", "type": ["string", "long"]}]}) is None
