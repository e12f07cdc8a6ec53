"""The filter grammar: which filters the API accepts, with the exact path of every problem.

The one check of a filter's syntax (the API refuses what fails it, with a 422 naming the path);
``schemas.filters`` evaluates what passes. Anything accepted here the evaluator evaluates: an
operator it knows with an argument of a type it compares, ``$ref`` paths it can resolve
(dotted names, ``[n]`` indices, ``[$index]``), nesting it can walk.
"""

from __future__ import annotations

import json
import math
import re
from typing import Final

from schemas.filters import OPERATORS, VALUE_OPERATORS, parse_reference

Errors = list[tuple[str, str]]

MAX_FILTER_DEPTH: Final = 32
FILTER_OPERATORS: Final = frozenset(OPERATORS)
# The provider's view of a request (schemas.providers): a string each, or absent.
_STRING_PARTS: Final = ("path", "event_type", "idempotency_key")

_PLAIN_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*", re.ASCII)


def join_path(path: str, name: str) -> str:
    """An error path one name deeper: ``body.a`` or, for names that are not plain,
    ``body["a b"]``."""
    if _PLAIN_NAME.fullmatch(name):
        return f"{path}.{name}" if path else name
    return f"{path}[{json.dumps(name, ensure_ascii=False)}]"


def _scalar_problem(value: object) -> str | None:
    """None when `value` is a JSON scalar a filter can compare against."""
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int | float):
        # NaN/inf have no JSON form and never compare equal: surely a bug upstream.
        return None if math.isfinite(value) else "must be a finite number"
    return "must be a JSON value"


def _too_deep(depth: int, path: str, errors: Errors) -> bool:
    # Bounded so a hostile filter can neither blow Python's stack nor the router's matcher.
    if depth >= MAX_FILTER_DEPTH:
        errors.append((path, f"is nested deeper than {MAX_FILTER_DEPTH} levels"))
        return True
    return False


def _check_json(value: object, path: str, depth: int, errors: Errors) -> None:
    """Any JSON value, taken literally ($eq/$neq): no operators inside."""
    if isinstance(value, dict | list):
        if _too_deep(depth, path, errors):
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, int):
                _check_json(item, f"{path}[{key}]", depth + 1, errors)
            elif isinstance(key, str):
                _check_json(item, join_path(path, key), depth + 1, errors)
            else:
                errors.append((path, "object keys must be strings"))
    elif (problem := _scalar_problem(value)) is not None:
        errors.append((path, problem))


def _check_filter(value: object, path: str, depth: int, errors: Errors) -> None:
    if isinstance(value, list):  # a plain array means "contains each of these"
        if not _too_deep(depth, path, errors):
            for i, item in enumerate(value):
                _check_filter(item, f"{path}[{i}]", depth + 1, errors)
        return
    if not isinstance(value, dict):
        if (problem := _scalar_problem(value)) is not None:
            errors.append((path, problem))
        return
    if _too_deep(depth, path, errors):
        return
    for key, arg in value.items():
        if not isinstance(key, str):
            errors.append((path, "object keys must be strings"))
        elif not key.startswith("$"):  # a field name: nested, partial match
            _check_filter(arg, join_path(path, key), depth + 1, errors)
        elif key in FILTER_OPERATORS:
            _check_operator(key, arg, join_path(path, key), depth + 1, errors)
        else:
            ops = ", ".join(sorted(FILTER_OPERATORS))
            errors.append((join_path(path, key), f"unknown operator {key}; expected one of {ops}"))


_REFERENCE_HELP = (
    'must be a field path such as "body.user.id", "body.items[0].id" or "body.items[$index].id"'
)


def _check_reference(path_value: object, path: str, errors: Errors) -> None:
    if not isinstance(path_value, str) or parse_reference(path_value) is None:
        errors.append((path, _REFERENCE_HELP))


def _check_operator(op: str, arg: object, path: str, depth: int, errors: Errors) -> None:
    if op in VALUE_OPERATORS and isinstance(arg, dict) and "$ref" in arg:
        if len(arg) == 1:  # a reference stands for the value: any operator takes one
            _check_reference(arg["$ref"], join_path(path, "$ref"), errors)
        else:
            errors.append((path, 'a reference stands alone: {"$ref": "body.field"}'))
    elif op in ("$eq", "$neq"):
        _check_json(arg, path, depth, errors)
    elif op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(arg, bool) or not isinstance(arg, int | float | str):
            errors.append((path, "must be a number or a string"))
        elif isinstance(arg, float) and not math.isfinite(arg):
            errors.append((path, "must be a finite number"))
    elif op in ("$in", "$nin"):
        if isinstance(arg, str):  # "contains" on a string value
            if not arg:
                errors.append((path, "must be a non-empty string or list of values"))
        elif not isinstance(arg, list):
            errors.append((path, "must be a list of values or a string"))
        elif not arg:  # `$in: []` never matches, `$nin: []` always does: surely a mistake
            errors.append((path, "must be a non-empty list of values"))
        elif not _too_deep(depth, path, errors):
            for i, item in enumerate(arg):
                if _scalar_problem(item) is not None:
                    msg = "must be a string, number, boolean or null"
                    errors.append((f"{path}[{i}]", msg))
    elif op in ("$startsWith", "$endsWith"):
        if isinstance(arg, list) and arg and all(isinstance(s, str) for s in arg):
            return
        if not isinstance(arg, str):
            errors.append((path, "must be a string or a non-empty list of strings"))
    elif op in ("$exist", "$exists"):
        if not isinstance(arg, bool):
            errors.append((path, "must be true or false"))
    elif op in ("$or", "$and"):
        if not isinstance(arg, list) or not arg:
            errors.append((path, "must be a non-empty list of filters"))
        elif not _too_deep(depth, path, errors):
            for i, item in enumerate(arg):
                _check_filter(item, f"{path}[{i}]", depth + 1, errors)
    elif op == "$not":
        _check_filter(arg, path, depth, errors)
    else:  # "$ref", the last of schemas.filters.OPERATORS
        _check_reference(arg, path, errors)


def validate_filter(value: object, path: str = "", section: str | None = None) -> Errors:
    """Every problem of one filter value, as (path, message) pairs; never raises.

    `section` adds what the request's shape implies: `headers` must be an object (header
    names matched case-insensitively, so two keys differing only in case clash); `path`,
    `event_type` and `idempotency_key` are strings, so only a string or an object of operators
    can ever match them.
    """
    errors: Errors = []
    if section == "headers" and not isinstance(value, dict):
        return [(path, "must be an object of header names to filters")]
    if section in _STRING_PARTS:
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and not key.startswith("$"):
                    msg = f"the {section} is a string: use a string or operators such as $in"
                    errors.append((join_path(path, key), msg))
        elif not isinstance(value, str):
            return [(path, "must be a string or an object of operators such as $in")]
    if section == "headers" and isinstance(value, dict):
        seen: dict[str, str] = {}
        for key in value:
            if isinstance(key, str) and not key.startswith("$"):
                if (first := seen.setdefault(key.lower(), key)) != key:
                    msg = f"duplicates header {first!r}: header names are case-insensitive"
                    errors.append((join_path(path, key), msg))
    _check_filter(value, path, 0, errors)
    return errors
