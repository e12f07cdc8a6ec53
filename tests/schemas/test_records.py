"""schemas.records mirrors the Avro schemas: the same fields, the same nullability, the same
kinds of value, for every record and every named type inside one."""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin, get_type_hints

import pytest

from schemas import records
from schemas.codec import RECORD_NAMES, load_definitions

# Each Avro schema's TypedDict (the three issue records share one shape).
TYPED = {
    "Header": records.Header,
    "Verification": records.Verification,
    "OutgoingRequest": records.OutgoingRequest,
    "ConfigChanged": records.ConfigChanged,
    "RequestReceived": records.RequestReceived,
    "EventCreated": records.EventCreated,
    "EventIgnored": records.EventIgnored,
    "AttemptRecorded": records.AttemptRecorded,
    "IssueState": records.IssueState,
    "IssueOpened": records.IssueChanged,
    "IssueUpdated": records.IssueChanged,
    "IssueResolved": records.IssueChanged,
}
PRIMITIVE = {"string": str, "int": int, "long": int, "boolean": bool, "bytes": bytes}


def _schemas() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(schema: Any) -> None:
        if isinstance(schema, list):
            for branch in schema:
                walk(branch)
        elif isinstance(schema, dict):
            if schema.get("type") == "record":
                found[schema["name"]] = schema
                for field in schema["fields"]:
                    walk(field["type"])
            elif schema.get("type") == "array":
                walk(schema["items"])

    for definition in load_definitions():
        walk(definition)
    return found


SCHEMAS = _schemas()


def _same(avro: Any, hint: Any) -> bool:
    """Whether a Python annotation describes what the codec reads for this Avro type."""
    if isinstance(avro, list):  # a union: ["null", T]
        if get_origin(hint) not in (typing.Union, types.UnionType):
            return False
        branches = [a for a in avro if a != "null"]
        rest = [h for h in get_args(hint) if h is not type(None)]
        return (
            ("null" in avro) == (type(None) in get_args(hint))
            and len(branches) == len(rest) == 1
            and _same(branches[0], rest[0])
        )
    if isinstance(avro, dict) and avro.get("type") == "array":
        return get_origin(hint) is list and _same(avro["items"], get_args(hint)[0])
    if isinstance(avro, dict) and avro.get("type") == "record":
        return _same(avro["name"], hint)
    if isinstance(avro, dict):
        return _same(avro["type"], hint)
    if avro in PRIMITIVE:
        return hint is PRIMITIVE[avro]
    name = avro.rpartition(".")[2]  # a named type: fasthook.Header
    return TYPED.get(name) is hint


def test_every_record_and_named_type_has_its_typed_dict():
    assert set(SCHEMAS) == set(TYPED)
    assert set(RECORD_NAMES) <= set(TYPED)


@pytest.mark.parametrize("name", sorted(TYPED))
def test_fields_and_their_types_are_the_schema_s(name: str):
    typed = TYPED[name]
    hints = get_type_hints(typed)
    fields = {f["name"]: f["type"] for f in SCHEMAS[name]["fields"]}
    assert set(hints) == set(fields)
    assert typed.__required_keys__ == frozenset(fields)  # decoded: every field present
    wrong = [f for f, avro in fields.items() if not _same(avro, hints[f])]
    assert wrong == []
