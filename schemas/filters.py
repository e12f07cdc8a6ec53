"""Hookdeck-compatible connection filters: does a request match a ``filter`` rule?

The one evaluator of the filter grammar (the API checks a filter with
``schemas.filter_grammar``, the router evaluates it here). Pure and total: no I/O, and no input
makes these functions raise (a type mismatch is simply "no match").

Semantics of ``matches(f, v)``, those of Hookdeck's reference library (simple-json-match) for
every documented form, plus FastHook's field-level ``$not``, ``$and`` and ``$exist(s)``:

- scalar ``f``: strict equality (``True != 1``, ``1 == 1.0``); against a list ``v`` it means
  "contains" (some element equals ``f``).
- list ``f``: ``v`` must be a list and every element of ``f`` must match some element of ``v``.
- object ``f``: every key must hold. ``$``-keys are operators (an unknown ``$``-key fails).
  Other keys are a partial object match: ``v`` must be an object holding the key, and its value
  must match; extra keys in ``v`` are fine. Against a list ``v`` the field keys (together) must
  match at least one object element — "contains" for objects, as for scalars. ``{}`` matches
  any object (or a list holding one), never a scalar.
- A key absent from the data is evaluated against a MISSING marker: only ``$exist(s): false``
  holds there, ``$not``/``$and``/``$or`` combine as usual (so ``$not`` of anything on a missing
  field is true), everything else fails. Field keys below a missing field are missing too, so
  ``{"a": {"b": {"$exist": false}}}`` holds when ``a`` is absent. ``null`` is a present value.
- ``$not`` negates its filter at the SAME field (field-level ``$not`` works), which gives
  ``matches({"$not": f}, v) == not matches(f, v)`` for every ``f`` and ``v``.
- ``$in`` (``$nin`` is its negation on a present field): argument list → ``v`` equals an item
  (list ``v``: some element does); argument string with string ``v`` → substring, i.e. ``v``
  contains the argument (Hookdeck's "contains"); any other argument with a list ``v`` → the
  list contains it.
- ``$gt $gte $lt $lte``: numbers with numbers, strings with strings (code-point order), never
  across types; ``$startsWith``/``$endsWith`` take a string or a list of strings (any). All
  of these accept a list ``v`` when some element satisfies them.
- References: ``{"$ref": "path"}`` goes anywhere a value goes — as a field's filter (the value
  found there is matched as a literal with the rules above, so against a list it means
  "contains"), and as the argument of ``$eq $neq $gt $gte $lt $lte $in $nin $startsWith
  $endsWith``. A path is dotted names with ``[n]`` (or ``.n``) list indices and ``[$index]``:
  the index of the list element being matched, the k-th ``[$index]`` standing for the k-th
  enclosing list (outermost first). In a request filter a path starting with a part of the
  request (``body.order.id``, ``headers.x-id``) is read from the whole request; any other path
  from the part being filtered (``created_at`` in a body filter is ``body.created_at``). A
  reference to nothing never matches.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

__all__ = [
    "FILTER_PARTS",
    "OPERATORS",
    "VALUE_OPERATORS",
    "matches",
    "parse_reference",
    "request_matches",
]

# The parts of a request a filter rule may name: the HTTP request, and the provider's view.
FILTER_PARTS: Final = ("headers", "body", "query", "path", "event_type", "idempotency_key")


class _Missing:
    """Marker for "this field is absent" (distinct from a present ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


class Index:
    """The ``[$index]`` segment of a reference path."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "[$index]"


INDEX: Final = Index()
Segment = str | int | Index
_SEGMENT = re.compile(r"\[(\d+|\$index)\]|([^.\[\]\s]+)")


@lru_cache(maxsize=1024)
def parse_reference(path: str) -> tuple[Segment, ...] | None:
    """``"a.b[0].c[$index]"`` → ``("a", "b", 0, "c", INDEX)``; None when not a path."""
    if not isinstance(path, str) or not path:
        return None
    segments: list[Segment] = []
    position = 0
    while position < len(path):
        if segments and path[position] == ".":
            position += 1  # a dot separates names; brackets follow directly
            if position == len(path) or path[position] in ".[":
                return None
        elif segments and path[position] != "[":
            return None
        found = _SEGMENT.match(path, position)
        if found is None:
            return None
        bracket, name = found.groups()
        if name is not None:
            segments.append(name)
        else:
            segments.append(INDEX if bracket == "$index" else int(bracket))
        position = found.end()
    return tuple(segments)


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a reference is read from while one filter is evaluated."""

    view: object  # the whole request (or the data itself outside a request)
    part: object  # the part being filtered
    parts: tuple[str, ...] = ()  # first segments read from ``view`` rather than ``part``
    part_name: str = ""
    indices: tuple[int, ...] = ()  # indices of the enclosing list elements being matched

    def at(self, index: int) -> _Scope:
        return _Scope(self.view, self.part, self.parts, self.part_name, (*self.indices, index))


def matches(filter_value: object, data: object, *, root: object | None = None) -> bool:
    """Whether ``data`` satisfies ``filter_value``; ``$ref`` paths resolve from ``root``
    (``data`` itself when not given)."""
    scope = _Scope(data, data) if root is None else _Scope(root, root, FILTER_PARTS)
    try:
        return _match(filter_value, data, scope)
    except Exception:  # RecursionError on absurd nesting, exotic __eq__: never crash routing
        return False


def request_matches(rule: dict[str, Any], request: dict[str, Any]) -> bool:
    """Whether a request view satisfies every part (headers/body/query/path, and the provider's
    event_type/idempotency_key) present in ``rule``.

    ``request`` is ``{"headers": {name: value}, "body": ..., "query": {...}, "path": str}``,
    with ``event_type``/``idempotency_key`` strings where the provider named them (absent
    otherwise).
    Other rule keys (``type``…) are ignored; a part set to ``null`` counts as absent (an API
    may serialise unset parts as null). Header names match case-insensitively.
    """
    try:
        if not isinstance(rule, dict) or not isinstance(request, dict):
            return False
        view = dict(request)
        headers = request.get("headers")
        if isinstance(headers, dict):
            view["headers"] = {_lower(name): value for name, value in headers.items()}
        for part in FILTER_PARTS:
            part_filter = rule.get(part)
            if part_filter is None:
                continue
            if part == "headers":
                part_filter = _lower_header_keys(part_filter)
            data = view.get(part, _MISSING)
            if not _match(part_filter, data, _Scope(view, data, FILTER_PARTS, part)):
                return False
        return True
    except Exception:  # same contract as matches()
        return False


# -- core --------------------------------------------------------------------------------------


def _match(f: object, v: object, s: _Scope) -> bool:
    if isinstance(f, dict):
        return _match_object(f, v, s)
    if v is _MISSING:
        return False
    if isinstance(f, list):
        if not isinstance(v, list):
            return False
        return all(any(_match(item, elem, s.at(i)) for i, elem in enumerate(v)) for item in f)
    if isinstance(v, list):
        return any(_eq(f, elem) for elem in v)
    return _eq(f, v)


def _match_object(f: dict[Any, Any], v: object, s: _Scope) -> bool:
    if not f:
        return isinstance(v, dict) or (
            isinstance(v, list) and any(isinstance(elem, dict) for elem in v)
        )
    fields: dict[Any, object] = {}
    for key, arg in f.items():
        if isinstance(key, str) and key.startswith("$"):
            op = OPERATORS.get(key)
            if op is None or not op(arg, v, s):
                return False
        else:
            fields[key] = arg
    return _match_fields(fields, v, s) if fields else True


def _match_fields(fields: dict[Any, object], v: object, s: _Scope) -> bool:
    if v is _MISSING:
        return all(_match(sub, _MISSING, s) for sub in fields.values())
    if isinstance(v, dict):
        return all(_match(sub, v.get(key, _MISSING), s) for key, sub in fields.items())
    if isinstance(v, list):
        # Objects inside arrays: the whole partial object must match one element.
        return any(
            isinstance(elem, dict) and _match_fields(fields, elem, s.at(i))
            for i, elem in enumerate(v)
        )
    return False


def _match_literal(target: object, v: object) -> bool:
    """A referenced value as a filter, taken literally: its ``$`` keys are data, not
    operators (the data is the sender's; it must not be able to write filters). `v` is
    always present: its callers read it from the data."""
    if isinstance(target, dict):
        if isinstance(v, dict):
            return all(key in v and _match_literal(sub, v[key]) for key, sub in target.items())
        return isinstance(v, list) and any(
            isinstance(elem, dict) and _match_literal(target, elem) for elem in v
        )
    if isinstance(target, list):
        return isinstance(v, list) and all(
            any(_match_literal(item, elem) for elem in v) for item in target
        )
    if isinstance(v, list):
        return any(_eq(target, elem) for elem in v)
    return _eq(target, v)


def _is_number(x: object) -> bool:
    # bool is an int subclass in Python but a distinct type in JSON.
    return isinstance(x, int | float) and not isinstance(x, bool)


def _eq(a: object, b: object) -> bool:
    """JSON deep equality: no bool/number confusion, ints equal to floats of same value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(_eq(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_eq(a[k], b[k]) for k in a)
        )
    if a is _MISSING or b is _MISSING:
        return False
    return bool(a == b)  # non-JSON values from Python callers


# -- references --------------------------------------------------------------------------------


def _is_reference(arg: object) -> bool:
    return isinstance(arg, dict) and len(arg) == 1 and "$ref" in arg


def _argument(arg: object, s: _Scope) -> object:
    """An operator's argument: a literal, or the value a ``{"$ref": path}`` points at."""
    return _resolve(arg["$ref"], s) if _is_reference(arg) else arg  # type: ignore[index]


def _resolve(path: object, s: _Scope) -> object:
    segments = parse_reference(path) if isinstance(path, str) else None
    if not segments:
        return _MISSING
    from_view = isinstance(segments[0], str) and segments[0] in s.parts
    current = s.view if from_view else s.part
    # Where a header name sits in the path: matched case-insensitively there.
    if from_view:
        header_depth = 1 if segments[0] == "headers" else -1
    else:
        header_depth = 0 if s.part_name == "headers" else -1
    indices = iter(s.indices)
    for depth, part in enumerate(segments):
        segment = next(indices, None) if isinstance(part, Index) else part
        if segment is None:  # `[$index]` outside any list element being matched
            return _MISSING
        current = _step(current, segment, header_name=depth == header_depth)
        if current is _MISSING:
            return _MISSING
    return current


def _step(current: object, segment: str | int, *, header_name: bool) -> object:
    if isinstance(current, dict):
        key = str(segment)
        if key in current:
            return current[key]
        if header_name and key.lower() in current:
            return current[key.lower()]  # the view's header names are lower-case
        return _MISSING
    if isinstance(current, list):
        if isinstance(segment, str):
            if not (segment.isascii() and segment.isdigit()):
                return _MISSING
            segment = int(segment)
        return current[segment] if segment < len(current) else _MISSING
    return _MISSING


# -- operators: (argument, value, scope) -> bool -------------------------------------------------


def _each(v: object, s: _Scope) -> Iterator[tuple[object, _Scope]]:
    """The value itself, or each element of a list value with its index in scope."""
    if isinstance(v, list):
        for i, elem in enumerate(v):
            yield elem, s.at(i)
    else:
        yield v, s


def _op_eq(arg: object, v: object, s: _Scope) -> bool:
    target = _argument(arg, s)
    return v is not _MISSING and target is not _MISSING and _eq(v, target)


def _op_neq(arg: object, v: object, s: _Scope) -> bool:
    target = _argument(arg, s)
    return v is not _MISSING and target is not _MISSING and not _eq(v, target)


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[object, object, _Scope], bool]:
    def check_one(arg: object, v: object) -> bool:
        if _is_number(arg) and _is_number(v):
            return test(v, arg)
        if isinstance(arg, str) and isinstance(v, str):
            return test(v, arg)
        return False

    def op(arg: object, v: object, s: _Scope) -> bool:
        return any(check_one(_argument(arg, scope), elem) for elem, scope in _each(v, s))

    return op


def _op_in(arg: object, v: object, s: _Scope) -> bool:
    arg = _argument(arg, s)
    if v is _MISSING or arg is _MISSING:
        return False
    if isinstance(arg, list):
        if any(_eq(v, item) for item in arg):
            return True
        return isinstance(v, list) and any(_eq(elem, item) for elem in v for item in arg)
    if isinstance(arg, str) and isinstance(v, str):
        return arg in v
    return isinstance(v, list) and any(_eq(elem, arg) for elem in v)


def _op_nin(arg: object, v: object, s: _Scope) -> bool:
    target = _argument(arg, s)
    return v is not _MISSING and target is not _MISSING and not _op_in(target, v, s)


def _affix(method: str) -> Callable[[object, object, _Scope], bool]:
    def check_one(arg: object, v: object) -> bool:
        if not isinstance(v, str):
            return False
        options = arg if isinstance(arg, list) else [arg]
        return any(isinstance(o, str) and getattr(v, method)(o) for o in options)

    def op(arg: object, v: object, s: _Scope) -> bool:
        return any(check_one(_argument(arg, scope), elem) for elem, scope in _each(v, s))

    return op


def _op_exist(arg: object, v: object, s: _Scope) -> bool:
    return isinstance(arg, bool) and (v is not _MISSING) == arg


def _op_or(arg: object, v: object, s: _Scope) -> bool:
    return isinstance(arg, list) and any(_match(sub, v, s) for sub in arg)


def _op_and(arg: object, v: object, s: _Scope) -> bool:
    return isinstance(arg, list) and all(_match(sub, v, s) for sub in arg)


def _op_not(arg: object, v: object, s: _Scope) -> bool:
    return not _match(arg, v, s)


def _op_ref(arg: object, v: object, s: _Scope) -> bool:
    """``{"field": {"$ref": path}}``: the value found there, matched as a literal filter; the
    reference is read per list element, so ``[$index]`` follows the element being matched."""
    if v is _MISSING:
        return False
    if isinstance(v, list):
        found = [_resolve(arg, scope) for _, scope in _each(v, s)]
        whole = _resolve(arg, s)
        if whole is not _MISSING and _match_literal(whole, v):
            return True
        return any(
            target is not _MISSING and _match_literal(target, elem)
            for target, elem in zip(found, v, strict=True)
        )
    target = _resolve(arg, s)
    return target is not _MISSING and _match_literal(target, v)


OPERATORS: Final[dict[str, Callable[[object, object, _Scope], bool]]] = {
    "$eq": _op_eq,
    "$neq": _op_neq,
    "$gt": _ordered(operator.gt),
    "$gte": _ordered(operator.ge),
    "$lt": _ordered(operator.lt),
    "$lte": _ordered(operator.le),
    "$in": _op_in,
    "$nin": _op_nin,
    "$startsWith": _affix("startswith"),
    "$endsWith": _affix("endswith"),
    "$exist": _op_exist,
    "$exists": _op_exist,
    "$or": _op_or,
    "$and": _op_and,
    "$not": _op_not,
    "$ref": _op_ref,
}
# The operators whose argument may be a reference ``{"$ref": path}`` instead of a literal.
VALUE_OPERATORS: Final = frozenset(
    {"$eq", "$neq", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$startsWith", "$endsWith"}
)


# -- headers -----------------------------------------------------------------------------------


def _lower(name: object) -> object:
    return name.lower() if isinstance(name, str) else name


def _lower_header_keys(f: object) -> object:
    """Lower-case the header names a headers filter mentions (through ``$and/$or/$not``).

    Two spellings of one header (``X-A`` and ``x-a``) both apply: they are merged with $and.
    """
    if not isinstance(f, dict):
        return f
    out: dict[Any, object] = {}
    for key, arg in f.items():
        if key in ("$and", "$or") and isinstance(arg, list):
            out[key] = [_lower_header_keys(sub) for sub in arg]
        elif key == "$not":
            out[key] = _lower_header_keys(arg)
        elif isinstance(key, str) and key.startswith("$"):
            out[key] = arg
        else:
            name = _lower(key)
            out[name] = {"$and": [out[name], arg]} if name in out else arg
    return out
