"""The Avro single-object codec, the id scheme and the topic catalog, exercised for real."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import codec as codec_module
from schemas.codec import (
    HEADER_SIZE,
    MARKER,
    PAST_SCHEMA_FILES,
    RECORD_NAMES,
    SCHEMA_FILES,
    Codec,
    contract_registry,
    decode,
    encode,
    load_definitions,
)
from schemas.errors import (
    NotSingleObjectEncoded,
    RecordDecodeError,
    RecordEncodeError,
    SchemaError,
    UnknownRecordError,
    UnknownSchemaError,
)
from schemas.ids import CROCKFORD, PREFIXES, _ulid_digits, id_time_ms, new_id, ulid
from schemas.topics import CATALOG, RETRY_TIERS_MS, Topics, topic_name

# --- an independent CRC-64-AVRO (Rabin) and Parsing Canonical Form, from the Avro spec ----------

EMPTY = 0xC15D213AA4D7A795


def _rabin_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    return table


FP_TABLE = _rabin_table()


def rabin64(data: bytes) -> int:
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _named_definitions(schema: Any, namespace: str, out: dict[str, dict]) -> None:
    """fullname → definition (with its full name) of every named type in a raw .avsc."""
    if isinstance(schema, list):
        for branch in schema:
            _named_definitions(branch, namespace, out)
    elif isinstance(schema, dict):
        kind = schema["type"]
        if kind in ("record", "enum", "fixed"):
            full = _full_name(schema["name"], schema.get("namespace", namespace))
            out[full] = {**schema, "name": full}
            for f in schema.get("fields", []):
                _named_definitions(f["type"], full.rpartition(".")[0], out)
        elif kind == "array":
            _named_definitions(schema["items"], namespace, out)
        elif kind == "map":
            _named_definitions(schema["values"], namespace, out)


def canonical(schema: Any, defs: dict[str, dict], namespace: str, seen: set[str]) -> str:
    """Parsing Canonical Form: a named type is written in full at first use, by name after."""
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return json.dumps(schema)
        full = _full_name(schema, namespace)
        return json.dumps(full) if full in seen else canonical(defs[full], defs, namespace, seen)
    if isinstance(schema, list):
        return "[" + ",".join(canonical(s, defs, namespace, seen) for s in schema) + "]"
    kind = schema["type"]
    if kind in PRIMITIVES:
        return json.dumps(kind)
    if kind == "array":
        items = canonical(schema["items"], defs, namespace, seen)
        return f'{{"type":"array","items":{items}}}'
    if kind == "map":
        values = canonical(schema["values"], defs, namespace, seen)
        return f'{{"type":"map","values":{values}}}'
    full = _full_name(schema["name"], schema.get("namespace", namespace))
    if full in seen:
        return json.dumps(full)
    seen.add(full)
    name = json.dumps(full)
    if kind == "enum":
        symbols = json.dumps(schema["symbols"], separators=(",", ":"))
        return f'{{"name":{name},"type":"enum","symbols":{symbols}}}'
    if kind == "fixed":
        return f'{{"name":{name},"type":"fixed","size":{int(schema["size"])}}}'
    inner = full.rpartition(".")[0]
    fields = ",".join(
        f'{{"name":{json.dumps(f["name"])},"type":{canonical(f["type"], defs, inner, seen)}}}'
        for f in schema["fields"]
    )
    return f'{{"name":{name},"type":"record","fields":[{fields}]}}'


def test_rabin_implementation_matches_a_hand_checked_value() -> None:
    # Guards the test's own helper: the empty input is the seed, and one byte mixes the table.
    assert rabin64(b"") == EMPTY
    assert rabin64(b"\x00") == (EMPTY >> 8) ^ FP_TABLE[EMPTY & 0xFF]


# --- realistic records ----------------------------------------------------------------------

NOW = 1_717_171_717_171
TWILIO_BODY = b"MessageSid=SM0123&MessageStatus=delivered&To=%2B18005551212"


def headers_sample() -> list[dict[str, Any]]:
    return [
        {"name": "Host", "value": "hooks.example.com", "raw": None},
        {"name": "Content-Type", "value": "application/x-www-form-urlencoded", "raw": None},
        {"name": "X-Twilio-Signature", "value": "q3bTP0x1Bc+/w9=", "raw": None},
        # Not valid UTF-8: the latin-1 reading in `value`, the exact bytes in `raw`.
        {"name": "X-Legacy", "value": b"caf\xe9 \xff".decode("latin-1"), "raw": b"caf\xe9 \xff"},
        {"name": "x-dup", "value": "1", "raw": None},
        {"name": "X-Dup", "value": "2", "raw": None},
    ]


def request_received() -> dict[str, Any]:
    return {
        "request_id": new_id("req", NOW),
        "team_id": "tm_default",
        "source_id": new_id("src", NOW - 5000),
        "received_at": NOW,
        "method": "POST",
        "path": "/twilio/status",
        "query": "x=1&y=%20a+b&x=2",
        "public_url": "https://hooks.example.com/abcdef0123456789/twilio/status?x=1&y=%20a+b&x=2",
        "headers": headers_sample(),
        "body": b"\x00\xff\xfe" + bytes(range(256)) + TWILIO_BODY,
        "body_size": 3 + 256 + len(TWILIO_BODY),
        "client_ip": "203.0.113.7",
        "verification": {"method": "TWILIO", "verified": True, "detail": None},
        "status": "accepted",
        "rejection_cause": None,
        "replay_of": None,
        "connection_ids": None,
        "event_type": None,
        "idempotency_key": "a1b2c3-twilio-token",
    }


def outgoing_request() -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/twilio/status",
        "query": "x=1",
        "headers": headers_sample(),
        "body": TWILIO_BODY,
    }


def issue_sample() -> dict[str, Any]:
    return {
        "issue_id": new_id("iss", NOW),
        "team_id": "tm_default",
        "type": "delivery",
        "status": "OPENED",
        "issue_trigger_id": new_id("itr", NOW),
        "connection_id": new_id("con", NOW),
        "destination_id": new_id("des", NOW),
        "source_id": new_id("src", NOW),
        "response_status": 500,
        "error_code": None,
        "count": 3,
        "first_seen_at": NOW,
        "last_seen_at": NOW + 10,
        "opened_at": NOW,
        "resolved_at": None,
        "updated_at": NOW + 10,
        "sample_event_ids": [new_id("evt", NOW)],
        "sample_request_ids": [new_id("req", NOW)],
        "detail": None,
        "paused_at": None,
        "version": 2,
    }


SAMPLES: dict[str, dict[str, Any]] = {
    "ConfigChanged": {
        "entity_type": "source",
        "entity_id": new_id("src", NOW),
        "team_id": "tm_default",
        "version": 3,
        "changed_at": NOW,
        "entity": json.dumps({"name": "Twilio ✓", "config": {"auth_type": "TWILIO"}}),
    },
    "RequestReceived": request_received(),
    "EventCreated": {
        "event_id": new_id("evt", NOW),
        "request_id": new_id("req", NOW),
        "team_id": "tm_default",
        "source_id": new_id("src", NOW),
        "connection_id": new_id("con", NOW),
        "destination_id": new_id("des", NOW),
        "created_at": NOW,
        "due_at": NOW + 30_000,
        "attempt_number": 2,
        "trigger": "AUTOMATIC",
        "source_url": "https://hooks.example.com/abcdef0123456789/twilio/status?x=1",
        "request": outgoing_request(),
        "bulk_id": new_id("blk", NOW),
    },
    "EventIgnored": {
        "ignored_id": new_id("ign", NOW),
        "request_id": new_id("req", NOW),
        "team_id": "tm_default",
        "source_id": new_id("src", NOW),
        "connection_id": new_id("con", NOW),
        "cause": "FILTERED",
        "detail": "body.MessageStatus != 'failed'",
        "created_at": NOW,
    },
    "AttemptRecorded": {
        "attempt_id": new_id("atm", NOW),
        "event_id": new_id("evt", NOW),
        "request_id": new_id("req", NOW),
        "team_id": "tm_default",
        "source_id": new_id("src", NOW),
        "connection_id": new_id("con", NOW),
        "destination_id": new_id("des", NOW),
        "attempt_number": 1,
        "trigger": "INITIAL",
        "status": "FAILED",
        "requested_url": "https://receiver.example.com/hooks",
        "http_method": "POST",
        "request_headers": headers_sample(),
        "response_status": 502,
        "response_headers": [{"name": "Content-Type", "value": "text/html", "raw": None}],
        "response_body": b"<h1>Bad gateway</h1>\x00",
        "response_latency_ms": 1234,
        "error_code": None,
        "event_status": "SCHEDULED",
        "next_attempt_at": NOW + 5000,
        "created_at": NOW,
    },
    **{
        name: {"issue": issue_sample(), "change": change, "actor": "job", "changed_at": NOW}
        for name, change in (
            ("IssueOpened", "opened"),
            ("IssueUpdated", "count"),
            ("IssueResolved", "resolved"),
        )
    },
}

# Only the fields without a default: everything else must be filled in from the schema.
MINIMAL: dict[str, dict[str, Any]] = {
    "ConfigChanged": {k: v for k, v in SAMPLES["ConfigChanged"].items() if k != "team_id"},
    "EventIgnored": {
        k: v for k, v in SAMPLES["EventIgnored"].items() if k not in ("connection_id", "detail")
    },
    "AttemptRecorded": {
        k: v
        for k, v in SAMPLES["AttemptRecorded"].items()
        if k
        not in (
            "response_status",
            "response_headers",
            "response_body",
            "response_latency_ms",
            "error_code",
            "next_attempt_at",
        )
    },
}


def test_samples_cover_every_record_name() -> None:
    assert set(SAMPLES) == set(RECORD_NAMES)


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_round_trip_every_record(name: str) -> None:
    record = SAMPLES[name]
    data = encode(name, record)
    assert decode(data) == record
    assert decode(data, expected=name) == record
    assert codec_module.default_codec().decode_named(data) == (name, record)


def test_request_received_keeps_binary_body_and_raw_header_bytes() -> None:
    back = decode(encode("RequestReceived", SAMPLES["RequestReceived"]), "RequestReceived")
    assert back["body"].startswith(b"\x00\xff\xfe")
    assert isinstance(back["body"], bytes)
    legacy = next(h for h in back["headers"] if h["name"] == "X-Legacy")
    assert legacy["raw"] == b"caf\xe9 \xff"
    # Order and case of header names are kept, duplicates included.
    assert [h["name"] for h in back["headers"]] == [h["name"] for h in headers_sample()]


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_defaults_fill_left_out_fields(name: str) -> None:
    back = decode(encode(name, MINIMAL[name]), name)
    schema = codec_module.default_codec().registry.current(name).parsed
    for f in schema["fields"]:
        if f["name"] not in MINIMAL[name]:
            assert back[f["name"]] == f["default"]
    if name == "AttemptRecorded":
        assert back["response_body"] == b""  # a bytes default reads back as bytes
        assert back["response_headers"] == []


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_encoded_header_is_marker_and_fingerprint(name: str) -> None:
    data = encode(name, SAMPLES[name])
    schema = codec_module.default_codec().registry.current(name)
    assert data[:2] == MARKER == b"\xc3\x01"
    assert data[2:HEADER_SIZE] == schema.fingerprint
    assert len(schema.fingerprint) == 8


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_fingerprint_is_crc64_avro_of_parsing_canonical_form(name: str) -> None:
    defs: dict[str, dict] = {}
    for definition in load_definitions():
        _named_definitions(definition, "", defs)
    form = canonical(f"fasthook.{name}", defs, "", set())
    expected = rabin64(form.encode("utf-8")).to_bytes(8, "little")
    assert encode(name, SAMPLES[name])[2:HEADER_SIZE] == expected, form


def test_canonical_form_defines_a_repeated_named_type_once() -> None:
    defs: dict[str, dict] = {}
    for definition in load_definitions():
        _named_definitions(definition, "", defs)
    form = canonical("fasthook.AttemptRecorded", defs, "", set())
    assert form.count('{"name":"fasthook.Header"') == 1
    assert '"items":"fasthook.Header"' in form


# --- schema evolution --------------------------------------------------------------------------

ADDED_FIELDS = [
    {"name": "tenant", "type": ["null", "string"], "default": None},
    {"name": "priority", "type": "int", "default": 0},
]


def request_received_v2() -> dict[str, Any]:
    v1 = load_definitions()[SCHEMA_FILES.index("request_received.avsc")]
    v2 = copy.deepcopy(v1)
    v2["fields"].extend(copy.deepcopy(ADDED_FIELDS))
    return v2


def test_old_reader_reads_a_new_record() -> None:
    writer_registry = contract_registry()
    v2 = writer_registry.register(request_received_v2())
    reader_registry = contract_registry()
    reader_registry.register(request_received_v2(), current=False)
    writer, reader = Codec(writer_registry), Codec(reader_registry)

    record = {**SAMPLES["RequestReceived"], "tenant": "acme", "priority": 7}
    data = writer.encode("RequestReceived", record)
    assert data[2:HEADER_SIZE] == v2.fingerprint
    assert v2.fingerprint != reader_registry.current("RequestReceived").fingerprint

    assert reader.decode(data, "RequestReceived") == SAMPLES["RequestReceived"]
    assert writer.decode(data) == record


def test_new_reader_reads_an_old_record_with_defaults() -> None:
    old = Codec(contract_registry())
    new_registry = contract_registry()
    new_registry.register(request_received_v2())
    new = Codec(new_registry)

    data = old.encode("RequestReceived", SAMPLES["RequestReceived"])
    back = new.decode(data, "RequestReceived")
    assert back == {**SAMPLES["RequestReceived"], "tenant": None, "priority": 0}


PROVIDER_FIELDS = ("event_type", "idempotency_key")


def test_the_kept_past_version_is_the_current_one_without_the_provider_view() -> None:
    (past,) = load_definitions(PAST_SCHEMA_FILES)
    current = load_definitions()[SCHEMA_FILES.index("request_received.avsc")]
    assert past == {
        **current,
        "fields": [f for f in current["fields"] if f["name"] not in PROVIDER_FIELDS],
    }


def test_provider_view_fields_evolve_both_ways() -> None:
    # A component not yet upgraded: the past version is its current one, and it was told of
    # the new one (readers upgrade before writers; an unknown writer fails clearly, below).
    old_registry = contract_registry()
    old_registry.register(load_definitions(PAST_SCHEMA_FILES)[0])
    old_registry.register(
        load_definitions()[SCHEMA_FILES.index("request_received.avsc")], current=False
    )
    # The shipped registry itself reads what the previous version wrote: records stay on the
    # requests topic across an upgrade (retention, replays, a projection rebuild).
    old, new = Codec(old_registry), Codec(contract_registry())
    sample = {**SAMPLES["RequestReceived"], "event_type": "push", "idempotency_key": "d-1"}
    before = {k: v for k, v in sample.items() if k not in PROVIDER_FIELDS}

    # A record the ingress wrote before the upgrade reads with neither value known...
    assert new.decode(old.encode("RequestReceived", before), "RequestReceived") == {
        **before,
        "event_type": None,
        "idempotency_key": None,
    }
    # ...and a component not yet upgraded reads a new record without them.
    assert old.decode(new.encode("RequestReceived", sample), "RequestReceived") == before


def test_old_reader_without_the_new_schema_fails_clearly() -> None:
    writer_registry = contract_registry()
    v2 = writer_registry.register(request_received_v2())
    data = Codec(writer_registry).encode("RequestReceived", SAMPLES["RequestReceived"])
    with pytest.raises(UnknownSchemaError) as info:
        Codec(contract_registry()).decode(data)
    assert info.value.fingerprint == v2.fingerprint
    assert v2.fingerprint.hex() in str(info.value)


def test_registering_an_unused_version_leaves_the_current_one() -> None:
    registry = contract_registry()
    before = registry.current("RequestReceived")
    registry.register(request_received_v2(), current=False)
    assert registry.current("RequestReceived") == before


# --- errors ------------------------------------------------------------------------------------


def test_unknown_fingerprint() -> None:
    fp = bytes.fromhex("0123456789abcdef")
    with pytest.raises(UnknownSchemaError, match="0123456789abcdef") as info:
        decode(MARKER + fp + b"\x00")
    assert info.value.fingerprint == fp


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc3",
        b"\xc3\x01",
        b"\xc3\x01\x00\x00",
        b'{"request_id":"req_1"}',
        b"\x00\x01" + b"\x00" * 20,
        b"\xc3\x02" + b"\x00" * 20,
    ],
)
def test_not_single_object_encoded(data: bytes) -> None:
    with pytest.raises(NotSingleObjectEncoded):
        decode(data)


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_truncated_payload(name: str) -> None:
    data = encode(name, SAMPLES[name])
    for cut in range(HEADER_SIZE, len(data)):
        with pytest.raises(RecordDecodeError):
            decode(data[:cut])


def test_payload_read_as_memoryview_and_bytearray() -> None:
    data = encode("EventIgnored", SAMPLES["EventIgnored"])
    assert decode(bytearray(data)) == SAMPLES["EventIgnored"]
    assert decode(memoryview(data)) == SAMPLES["EventIgnored"]


def _changed(name: str, **changes: Any) -> dict[str, Any]:
    return {**SAMPLES[name], **changes}


def _without(name: str, field: str) -> dict[str, Any]:
    return {k: v for k, v in SAMPLES[name].items() if k != field}


@pytest.mark.parametrize(
    ("name", "record"),
    [
        ("RequestReceived", _without("RequestReceived", "request_id")),
        ("RequestReceived", _changed("RequestReceived", body="not bytes")),
        ("RequestReceived", _changed("RequestReceived", body=None)),
        ("RequestReceived", _changed("RequestReceived", received_at="yesterday")),
        ("RequestReceived", _changed("RequestReceived", received_at=2**63)),
        ("RequestReceived", _changed("RequestReceived", headers=[{"name": "X"}])),
        ("RequestReceived", _changed("RequestReceived", headers=[("X", "1")])),
        ("RequestReceived", _changed("RequestReceived", verification=None)),
        ("RequestReceived", _changed("RequestReceived", client_ip=42)),
        ("ConfigChanged", _changed("ConfigChanged", version=-(2**64))),
        ("ConfigChanged", _changed("ConfigChanged", entity={"not": "json text"})),
        ("EventCreated", _changed("EventCreated", request=None)),
        ("AttemptRecorded", _changed("AttemptRecorded", response_status="502")),
        ("EventIgnored", None),
        ("EventIgnored", []),
    ],
)
def test_invalid_record_on_encode(name: str, record: Any) -> None:
    with pytest.raises(RecordEncodeError, match=name):
        encode(name, record)


@pytest.mark.parametrize("name", ["Nope", "", "requestreceived", "fasthook.RequestReceived"])
def test_unknown_record_name(name: str) -> None:
    with pytest.raises(UnknownRecordError, match="no schema for record"):
        encode(name, {})


def test_wrong_expected_type() -> None:
    data = encode("RequestReceived", SAMPLES["RequestReceived"])
    with pytest.raises(RecordDecodeError, match="expected a EventCreated record"):
        decode(data, expected="EventCreated")


def test_every_error_is_a_schema_error() -> None:
    for error in (
        NotSingleObjectEncoded,
        UnknownSchemaError,
        UnknownRecordError,
        RecordEncodeError,
        RecordDecodeError,
    ):
        assert issubclass(error, SchemaError)


# --- properties ---------------------------------------------------------------------------------

LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(max_size=40)
OPT_TEXT = st.none() | TEXT


@st.composite
def header(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.text(min_size=1, max_size=20))
    raw = draw(st.none() | st.binary(max_size=30))
    if raw is None:
        return {"name": name, "value": draw(TEXT), "raw": None}
    return {"name": name, "value": raw.decode("latin-1"), "raw": raw}


VERIFICATION = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["NONE", "BASIC_AUTH", "API_KEY", "HMAC", "TWILIO"]),
        "verified": st.booleans(),
        "detail": OPT_TEXT,
    }
)

REQUESTS = st.fixed_dictionaries(
    {
        "request_id": TEXT,
        "team_id": TEXT,
        "source_id": TEXT,
        "received_at": LONGS,
        "method": TEXT,
        "path": TEXT,
        "query": TEXT,
        "public_url": TEXT,
        "headers": st.lists(header(), max_size=12),
        "body": st.binary(max_size=2000),
        "body_size": LONGS,
        "client_ip": OPT_TEXT,
        "verification": VERIFICATION,
        "status": st.sampled_from(["accepted", "rejected"]),
        "rejection_cause": OPT_TEXT,
        "replay_of": OPT_TEXT,
        "connection_ids": st.none() | st.lists(TEXT, max_size=3),
        "event_type": OPT_TEXT,
        "idempotency_key": OPT_TEXT,
    }
)


@settings(max_examples=300, deadline=None)
@given(REQUESTS)
def test_property_request_received_round_trips(record: dict[str, Any]) -> None:
    assert decode(encode("RequestReceived", record), "RequestReceived") == record


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_property_arbitrary_bytes_raise_only_schema_errors(data: bytes) -> None:
    try:
        decode(data)
    except SchemaError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(RECORD_NAMES), st.binary(max_size=300))
def test_property_known_fingerprint_with_garbage_body(name: str, body: bytes) -> None:
    fp = codec_module.default_codec().registry.current(name).fingerprint
    try:
        decode(MARKER + fp + body)
    except SchemaError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(RECORD_NAMES), st.data())
def test_property_corrupted_valid_record_raises_only_schema_errors(
    name: str, data: st.DataObject
) -> None:
    encoded = bytearray(encode(name, SAMPLES[name]))
    index = data.draw(st.integers(min_value=HEADER_SIZE, max_value=len(encoded) - 1))
    encoded[index] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        decode(bytes(encoded))
    except SchemaError:
        pass


# --- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_id_has_prefix_and_ulid_body(prefix: str) -> None:
    value = new_id(prefix)
    head, _, body = value.partition("_")
    assert head == prefix
    assert len(body) == 26
    assert set(body) <= set(CROCKFORD)


def test_id_uses_the_current_time() -> None:
    before = int(time.time() * 1000)
    value = new_id("req")
    after = int(time.time() * 1000)
    assert before <= id_time_ms(value) <= after


def test_ids_sort_by_time() -> None:
    times = [0, 1, 31, 32, 1_000, NOW - 1, NOW, NOW + 1, 2**48 - 1]
    ids = [new_id("evt", t) for t in times]
    assert sorted(ids) == ids
    assert [id_time_ms(i) for i in ids] == times


def test_ids_of_one_millisecond_differ() -> None:
    assert len({new_id("req", NOW) for _ in range(1000)}) == 1000


@given(st.integers(min_value=0, max_value=2**48 - 1), st.integers(min_value=0, max_value=2**48 - 1))
def test_property_id_time_round_trip_and_order(a: int, b: int) -> None:
    ida, idb = new_id("req", a), new_id("req", b)
    assert id_time_ms(ida) == a
    assert id_time_ms(idb) == b
    assert id_time_ms(ulid(a)) == a
    if a < b:
        assert ida < idb


@pytest.mark.parametrize("prefix", ["", "REQ", "request", "foo", "req_"])
def test_unknown_id_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id(prefix)


# --- topics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.suffix)
def test_catalog_topic_has_a_record_and_partitions(spec: Any) -> None:
    # `None`: a topic of one service's own JSON state (bulk jobs), not a contract record.
    assert spec.record in (*RECORD_NAMES, None)
    assert spec.partitions > 0
    assert spec.key
    for key, value in spec.config.items():
        assert isinstance(key, str) and isinstance(value, str)


def test_catalog_records_round_trip_through_the_codec() -> None:
    for spec in CATALOG:
        if spec.record is not None:
            assert decode(encode(spec.record, SAMPLES[spec.record]), spec.record)


def test_config_topic_is_compacted() -> None:
    config = [spec for spec in CATALOG if spec.suffix == "config"]
    assert len(config) == 1
    assert config[0].config["cleanup.policy"] == "compact"
    assert config[0].record == "ConfigChanged"


def test_topic_names_are_namespaced_and_unique() -> None:
    for namespace in ("fasthook", "t123x4xabcdef"):
        topics = Topics(namespace)
        names = [name for name, _ in topics.all()]
        assert len(names) == len(set(names)) == len(CATALOG)
        assert all(name.startswith(f"{namespace}.") for name in names)
        for prop in (
            topics.config,
            topics.requests,
            topics.events,
            topics.ignored,
            topics.attempts,
            *(topics.retry(t) for t in RETRY_TIERS_MS),
        ):
            assert prop in names
    assert Topics().config == "fasthook.config"
    assert Topics("x").retry(5_000) == "x.retry.5s"
    assert topic_name("ns", "requests") == "ns.requests"
    assert Topics("a").all() != Topics("b").all()


def test_retry_tiers_are_increasing_and_whole_seconds() -> None:
    assert list(RETRY_TIERS_MS) == sorted(set(RETRY_TIERS_MS))
    assert all(t % 1000 == 0 and t > 0 for t in RETRY_TIERS_MS)


def test_a_named_type_inside_arrays_and_maps_is_defined_once_too() -> None:
    header = {
        "type": "record",
        "name": "H",
        "fields": [{"name": "v", "type": "bytes", "default": "\u00ff"}],
    }
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "a", "type": {"type": "array", "items": copy.deepcopy(header)}},
            {"name": "m", "type": {"type": "map", "values": copy.deepcopy(header)}},
            {"name": "o", "type": ["null", copy.deepcopy(header)], "default": None},
            {"name": "n", "type": "int"},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
            {"name": "s", "type": {"type": "string", "logicalType": "uuid"}},
        ],
    }
    once = codec_module._defined_once(schema, set())
    assert once["fields"][0]["type"]["items"]["name"] == "H"  # defined at its first use
    assert once["fields"][1]["type"]["values"] == "H"
    assert once["fields"][2]["type"] == ["null", "H"]
    assert once["fields"][4:] == schema["fields"][4:]
    codec_module._bytes_defaults(schema)
    assert schema["fields"][0]["type"]["items"]["fields"][0]["default"] == b"\xff"
    assert schema["fields"][1]["type"]["values"]["fields"][0]["default"] == b"\xff"


def test_a_topic_of_several_records_decodes_with_the_records_name() -> None:
    for name in ("IssueOpened", "IssueUpdated"):
        assert codec_module.decode_named_record(encode(name, SAMPLES[name])) == (
            name,
            SAMPLES[name],
        )


@given(st.integers(min_value=-(2**90), max_value=2**90), st.binary(min_size=10, max_size=10))
def test_property_ulid_is_the_digit_by_digit_encoding(ms: int, randomness: bytes) -> None:
    """The pair table spells exactly what the digit loop (kept for negative values) spells."""
    value = (ms << 80) | int.from_bytes(randomness, "big")
    assert ulid(ms, randomness) == _ulid_digits(value)
    assert len(_ulid_digits(value)) == 26
