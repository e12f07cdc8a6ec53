"""Avro binary writers and readers compiled from a parsed schema: the same bytes and records
as fastavro, at a fraction of its cost per record.

fastavro's writer walks the schema for every record and picks each union branch by validating
the value against every candidate; the records here are mostly strings and ``["null", X]``
unions, and encoding one was a sixth of the ingress's CPU per request (docs/benchmarks.md).
A compiled writer is Python source generated once per schema, one statement per field.

Only the types the contract uses are compiled (records, arrays, ``["null", X]`` unions,
string, bytes, int, long, boolean); `compile_writer` returns None for any other schema, and
the caller keeps fastavro for it. A writer raises on a value it cannot write as fastavro
would; the caller then hands the record to fastavro, which writes what it accepts or says what
is wrong, so errors read as they always did.

A reader reads what the same schema wrote (no resolution into another version: the caller
keeps fastavro for that) and raises EOFError, IndexError or UnicodeDecodeError on bytes that
are not such a record, as fastavro does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

Writer = Callable[[Any], bytes]
Reader = Callable[[bytes], Any]

_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


def _long(out: bytearray, n: int) -> None:
    """Zig-zag varint, as Avro writes an int or a long."""
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise OverflowError(f"{n} does not fit an Avro long")
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class _Unsupported(Exception):
    pass


class _Source:
    """The generated function's lines, with fresh local names and the constants it needs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._names = itertools.count()

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self._names)}"

    def constant(self, value: Any) -> str:
        name = self.name("c")
        self.constants[name] = value
        return name

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def _optional(union: list[Any]) -> Any:
    """X of a ``["null", X]`` union: the only kind compiled."""
    if len(union) != 2 or union[0] != "null" or union[1] == "null":
        raise _Unsupported(f"union {union!r}")
    return union[1]


def _length(src: _Source, indent: int, n: str) -> None:
    # A length under 64 is one byte (its zig-zag doubled): most strings and arrays here.
    src.add(indent, f"if {n} < 64: out.append({n} << 1)")
    src.add(indent, f"else: _long(out, {n})")


def _write(src: _Source, schema: Any, value: str, indent: int) -> None:
    """Lines that write the Python value named `value` as `schema`."""
    kind = (
        schema
        if isinstance(schema, str)
        else ("union" if isinstance(schema, list) else schema.get("type"))
    )
    if kind == "string":
        b = src.name("b")
        n = src.name("n")
        src.add(indent, f"{b} = {value}.encode()")
        src.add(indent, f"{n} = len({b})")
        _length(src, indent, n)
        src.add(indent, f"out += {b}")
    elif kind == "bytes":
        n = src.name("n")
        # bytes(x) would turn an int into that many zero bytes: only bytes-like values pass.
        src.add(indent, f"{n} = len(memoryview({value}))")
        _length(src, indent, n)
        src.add(indent, f"out += {value}")
    elif kind in ("int", "long"):
        src.add(indent, f"if type({value}) is not int: raise TypeError('not an int')")
        src.add(indent, f"_long(out, {value})")
    elif kind == "boolean":
        src.add(indent, f"out.append(1 if {value} else 0)")
    elif kind == "null":
        src.add(indent, f"if {value} is not None: raise TypeError('not null')")
    elif kind == "union":
        src.add(indent, f"if {value} is None: out.append(0)")
        src.add(indent, "else:")
        src.add(indent + 1, "out.append(2)")
        _write(src, _optional(schema), value, indent + 1)
    elif kind == "array":
        n = src.name("n")
        item = src.name("i")
        src.add(indent, f"{n} = len({value})")
        src.add(indent, f"if {n}:")
        _length(src, indent + 1, n)
        src.add(indent + 1, f"for {item} in {value}:")
        _write(src, schema["items"], item, indent + 2)
        src.add(indent, "out.append(0)")
    elif kind in ("record", "error"):
        for field in schema["fields"]:
            v = src.name("v")
            key = repr(field["name"])
            nullable = field["type"] == "null" or (
                isinstance(field["type"], list) and "null" in field["type"]
            )
            if "default" in field:
                src.add(indent, f"{v} = {value}.get({key}, {src.constant(field['default'])})")
            elif nullable:
                src.add(indent, f"{v} = {value}.get({key})")
            else:
                # Missing with no default: fastavro's error, not a written null.
                src.add(indent, f"{v} = {value}[{key}]")
            _write(src, field["type"], v, indent)
    else:
        raise _Unsupported(f"type {kind!r}")


def _build(
    kind: str,
    schema: dict[str, Any],
    head: list[str],
    body: Callable[[_Source], None],
    tail: str,
    helpers: dict[str, Any],
) -> Callable[..., Any] | None:
    """The function `def kind(arg)` made of `head`, what `body` adds, and `tail`."""
    src = _Source()
    for line in head:
        src.add(1, line)
    try:
        body(src)
    except _Unsupported:
        return None
    src.add(1, tail)
    arg = "record" if kind == "write" else "buf"
    text = f"def {kind}({arg}):\n" + "\n".join(src.lines) + "\n"
    namespace: dict[str, Any] = {**helpers, **src.constants}
    exec(compile(text, f"<avro {kind}r {schema.get('name')}>", "exec"), namespace)
    return namespace[kind]  # type: ignore[no-any-return]


def compile_writer(schema: dict[str, Any]) -> Writer | None:
    """A writer of records of this parsed (expanded) schema, or None where one is not built."""
    return _build(
        "write",
        schema,
        ["out = bytearray()"],
        lambda src: _write(src, schema, "record", 1),
        "return bytes(out)",
        {"_long": _long},
    )


def _read_long(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the zig-zag varint at `pos`."""
    b = buf[pos]
    pos += 1
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    if n >> 64:  # not an Avro long (fastavro would wrap it): refused as the corrupt data it is
        raise ValueError("a varint longer than a long")
    return (n >> 1) ^ -(n & 1), pos


def _long_into(src: _Source, indent: int, target: str) -> None:
    # One byte (values -64..63) is the common case: no call.
    src.add(indent, "b = buf[pos]")
    src.add(indent, f"if b < 128: {target} = (b >> 1) ^ -(b & 1); pos += 1")
    src.add(indent, f"else: {target}, pos = _read_long(buf, pos)")


def _never_empty(schema: Any) -> bool:
    """Whether every value of `schema` takes at least one byte (bounds an array's count)."""
    kind = (
        schema
        if isinstance(schema, str)
        else ("union" if isinstance(schema, list) else schema.get("type"))
    )
    if kind in ("record", "error"):
        return any(_never_empty(f["type"]) for f in schema["fields"])
    return kind != "null"


def _read(src: _Source, schema: Any, target: str, indent: int) -> None:
    """Lines that read a value of `schema` at `pos` into the local named `target`."""
    kind = (
        schema
        if isinstance(schema, str)
        else ("union" if isinstance(schema, list) else schema.get("type"))
    )
    if kind in ("string", "bytes"):
        n = src.name("n")
        _long_into(src, indent, n)
        src.add(indent, f"end = pos + {n}")
        src.add(indent, f"if {n} < 0 or end > size: raise EOFError('{kind} past the end')")
        src.add(indent, f"{target} = buf[pos:end]{'.decode()' if kind == 'string' else ''}")
        src.add(indent, "pos = end")
    elif kind in ("int", "long"):
        _long_into(src, indent, target)
    elif kind == "boolean":
        src.add(indent, f"{target} = buf[pos] != 0")
        src.add(indent, "pos += 1")
    elif kind == "null":
        src.add(indent, f"{target} = None")
    elif kind == "union":
        branch = _optional(schema)
        index = src.name("u")
        _long_into(src, indent, index)
        src.add(indent, f"if {index} == 0: {target} = None")
        src.add(indent, f"elif {index} == 1:")
        _read(src, branch, target, indent + 1)
        src.add(indent, f"else: raise IndexError('union branch ' + str({index}))")
    elif kind == "array":
        if not _never_empty(schema["items"]):
            raise _Unsupported("an array of values that may take no bytes")
        n = src.name("n")
        item = src.name("i")
        src.add(indent, f"{target} = []")
        _long_into(src, indent, n)
        src.add(indent, f"while {n}:")
        # A negative count is followed by the block's size in bytes (Avro's blocked arrays).
        src.add(indent + 1, f"if {n} < 0:")
        src.add(indent + 2, f"{n} = -{n}")
        src.add(indent + 2, "_, pos = _read_long(buf, pos)")
        src.add(indent + 1, f"if {n} > size - pos: raise EOFError('array past the end')")
        src.add(indent + 1, f"for _ in range({n}):")
        _read(src, schema["items"], item, indent + 2)
        src.add(indent + 2, f"{target}.append({item})")
        _long_into(src, indent + 1, n)
    elif kind in ("record", "error"):
        values = []
        for field in schema["fields"]:
            v = src.name("v")
            _read(src, field["type"], v, indent)
            values.append(f"{field['name']!r}: {v}")
        src.add(indent, f"{target} = {{{', '.join(values)}}}")
    else:
        raise _Unsupported(f"type {kind!r}")


def compile_reader(schema: dict[str, Any]) -> Reader | None:
    """A reader of records this parsed (expanded) schema wrote, or None where one is not built."""
    return _build(
        "read",
        schema,
        ["pos = 0", "size = len(buf)"],
        lambda src: _read(src, schema, "record", 1),
        "return record",
        {"_read_long": _read_long},
    )
