"""Hookdeck-compatible connection filters: does a request match a ``filter`` rule?

Pure and total: no I/O, and no input makes these functions raise (a type mismatch is simply
"no match"). Validation of filter syntax happens at the API; a malformed filter here just
fails to match.

Semantics of ``matches(f, v)``:

- scalar ``f``: strict equality (``True != 1``, ``1 == 1.0``); against a list ``v`` it means
  "contains" (some element equals ``f``).
- list ``f``: ``v`` must be a list and every element of ``f`` must match some element of ``v``.
- object ``f``: every key must hold. ``$``-keys are operators (an unknown ``$``-key fails).
  Other keys are a partial object match: ``v`` must hold the key and its value must match;
  extra keys in ``v`` are fine. Against a list ``v`` the field keys (together) must match at
  least one object element — "contains" for objects, as for scalars.
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
- ``$ref: "body.expected"``: ``v`` deep-equals the value at that dotted path from ``root``
  (numeric segments index lists; the request view for ``request_matches``, else ``data``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

__all__ = ["OPERATORS", "matches", "request_matches"]

FILTER_PARTS: Final = ("headers", "body", "query", "path", "event_type", "idempotency_key")


class _Missing:
    """Marker for "this field is absent" (distinct from a present ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


def matches(filter_value: object, data: object, *, root: object | None = None) -> bool:
    """Whether ``data`` satisfies ``filter_value``; ``$ref`` paths resolve from ``root``."""
    try:
        return _match(filter_value, data, data if root is None else root)
    except Exception:  # RecursionError on absurd nesting, exotic __eq__: never crash routing
        return False


def request_matches(rule: dict, request: dict) -> bool:
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
            if not _match(part_filter, view.get(part, _MISSING), view):
                return False
        return True
    except Exception:  # same contract as matches()
        return False


# -- core --------------------------------------------------------------------------------------


def _match(f: object, v: object, root: object) -> bool:
    if isinstance(f, dict):
        return _match_object(f, v, root)
    if v is _MISSING:
        return False
    if isinstance(f, list):
        if not isinstance(v, list):
            return False
        return all(any(_match(item, elem, root) for elem in v) for item in f)
    if isinstance(v, list):
        return any(_eq(f, elem) for elem in v)
    return _eq(f, v)


def _match_object(f: dict, v: object, root: object) -> bool:
    if not f:
        # "{}" asserts nothing but presence: a filter naming a field expects it to be there.
        return v is not _MISSING
    fields: dict[Any, object] = {}
    for key, arg in f.items():
        if isinstance(key, str) and key.startswith("$"):
            op = OPERATORS.get(key)
            if op is None or not op(arg, v, root):
                return False
        else:
            fields[key] = arg
    return _match_fields(fields, v, root) if fields else True


def _match_fields(fields: dict, v: object, root: object) -> bool:
    if v is _MISSING:
        return all(_match(sub, _MISSING, root) for sub in fields.values())
    if isinstance(v, dict):
        return all(_match(sub, v.get(key, _MISSING), root) for key, sub in fields.items())
    if isinstance(v, list):
        # Objects inside arrays: the whole partial object must match one element.
        return any(isinstance(elem, dict) and _match_fields(fields, elem, root) for elem in v)
    return False


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


# -- operators: (argument, value, root) -> bool ------------------------------------------------


def _op_eq(arg: object, v: object, root: object) -> bool:
    return v is not _MISSING and _eq(v, arg)


def _op_neq(arg: object, v: object, root: object) -> bool:
    return v is not _MISSING and not _eq(v, arg)


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[object, object, object], bool]:
    def check_one(arg: object, v: object) -> bool:
        if _is_number(arg) and _is_number(v):
            return test(v, arg)
        if isinstance(arg, str) and isinstance(v, str):
            return test(v, arg)
        return False

    def op(arg: object, v: object, root: object) -> bool:
        if isinstance(v, list):
            return any(check_one(arg, elem) for elem in v)
        return check_one(arg, v)

    return op


def _op_in(arg: object, v: object, root: object) -> bool:
    if v is _MISSING:
        return False
    if isinstance(arg, list):
        if any(_eq(v, item) for item in arg):
            return True
        return isinstance(v, list) and any(_eq(elem, item) for elem in v for item in arg)
    if isinstance(arg, str) and isinstance(v, str):
        return arg in v
    return isinstance(v, list) and any(_eq(elem, arg) for elem in v)


def _op_nin(arg: object, v: object, root: object) -> bool:
    return v is not _MISSING and not _op_in(arg, v, root)


def _affix(method: str) -> Callable[[object, object, object], bool]:
    def check_one(arg: object, v: object) -> bool:
        if not isinstance(v, str):
            return False
        options = arg if isinstance(arg, list) else [arg]
        return any(isinstance(o, str) and getattr(v, method)(o) for o in options)

    def op(arg: object, v: object, root: object) -> bool:
        if isinstance(v, list):
            return any(check_one(arg, elem) for elem in v)
        return check_one(arg, v)

    return op


def _op_exist(arg: object, v: object, root: object) -> bool:
    return isinstance(arg, bool) and (v is not _MISSING) == arg


def _op_or(arg: object, v: object, root: object) -> bool:
    return isinstance(arg, list) and any(_match(sub, v, root) for sub in arg)


def _op_and(arg: object, v: object, root: object) -> bool:
    return isinstance(arg, list) and all(_match(sub, v, root) for sub in arg)


def _op_not(arg: object, v: object, root: object) -> bool:
    return not _match(arg, v, root)


def _op_ref(arg: object, v: object, root: object) -> bool:
    if not isinstance(arg, str) or v is _MISSING:
        return False
    target = _resolve(root, arg)
    return target is not _MISSING and _eq(v, target)


def _resolve(root: object, path: str) -> object:
    segments = path.split(".")
    current = root
    for index, segment in enumerate(segments):
        if isinstance(current, dict):
            if segment in current:
                current = current[segment]
            elif index == 1 and segments[0] == "headers" and segment.lower() in current:
                current = current[segment.lower()]  # the view's header names are lower-case
            else:
                return _MISSING
        elif isinstance(current, list) and segment.isascii() and segment.isdigit():
            position = int(segment)
            if position >= len(current):
                return _MISSING
            current = current[position]
        else:
            return _MISSING
    return current


OPERATORS: Final[dict[str, Callable[[object, object, object], bool]]] = {
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
