"""The `rules` of a connection: pydantic models plus the deep checks pydantic can't express.

Two layers, so a caller gets every problem with an exact path in one answer:
- the models check shape, types and ranges (`extra="forbid"`, strict: `"5"` is not a count);
- `validate_rules` checks the filter grammar, status code expressions, the JavaScript of a
  transformation and the list as a whole, returning `(path, message)` pairs.
`parse_rules` runs both. Paths look like `rules[0].body.MessageStatus.$in` or
`rules[1].response_status_codes[0]`: a name matching `[A-Za-z_$][A-Za-z0-9_$-]*` is joined
with a dot, any other name (dots, spaces, empty, starting with a digit) as `["a b"]`.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.status_codes import parse_status_code_expression

Errors = list[tuple[str, str]]

MAX_RULES = 20
MAX_FILTER_DEPTH = 32
RULE_TYPES = ("filter", "transformation", "deduplicate", "delay", "retry")
FILTER_OPERATORS = frozenset(
    {
        *("$eq", "$neq", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$startsWith", "$endsWith"),
        *("$exist", "$exists", "$or", "$and", "$not", "$ref"),
    }
)
_SECTIONS = ("headers", "body", "query", "path")
# The provider's view of a request (schemas.providers): a string each, or absent.
_PROVIDER_FIELDS = ("event_type", "idempotency_key")
_FILTERABLE = _SECTIONS + _PROVIDER_FIELDS
JS_COMPILE_TIMEOUT_SEC = 2.0

# strict: JSON gives real ints and strings; coercing "5" or true into a count hides mistakes.
_MODEL_CONFIG = ConfigDict(extra="forbid", strict=True)


def _integral(value: object) -> object:
    """JSON has one number type: `5.0` is the integer 5 (as JSON Schema's "integer" says), so a
    strict int takes it; `5.5`, `"5"` and `true` stay errors."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Last in an integer field's Annotated (`Annotated[int, Field(ge=…), INTEGRAL]`) of a strict
# request model: JSON's 5 or 5.0, never "5" or true. After the bounds, else pydantic can't
# render them as JSON Schema.
INTEGRAL = BeforeValidator(_integral)


_PLAIN_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*", re.ASCII)


def _join(path: str, name: str) -> str:
    if _PLAIN_NAME.fullmatch(name):
        return f"{path}.{name}" if path else name
    return f"{path}[{json.dumps(name, ensure_ascii=False)}]"


def error_path(loc: tuple[int | str, ...], tags: tuple[str, ...] = RULE_TYPES) -> str:
    """`("rules", 1, "retry", "count")` → `rules[1].count`; `("config", "auth")` → `config.auth`.

    Pydantic inserts a discriminated union's tag right after the list index (`"retry"` above);
    a string from `tags` in that position is dropped, since the user never wrote it. Only right
    after an index, so a real field named like a tag (`DelayRule.delay`) survives.
    Pydantic's `[key]` marker (an invalid dict key) is dropped: the path names the key.
    """
    path = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]" or (i > 0 and isinstance(loc[i - 1], int) and part in tags):
            continue
        else:
            path = _join(path, str(part))
    return path


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
                _check_json(item, _join(path, key), depth + 1, errors)
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
            _check_filter(arg, _join(path, key), depth + 1, errors)
        elif key in FILTER_OPERATORS:
            _check_operator(key, arg, _join(path, key), depth + 1, errors)
        else:
            ops = ", ".join(sorted(FILTER_OPERATORS))
            errors.append((_join(path, key), f"unknown operator {key}; expected one of {ops}"))


_DOTTED = re.compile(r"[^.\s]+(\.[^.\s]+)*")


def _check_operator(op: str, arg: object, path: str, depth: int, errors: Errors) -> None:
    if op in ("$eq", "$neq"):
        _check_json(arg, path, depth, errors)
    elif op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(arg, bool) or not isinstance(arg, int | float | str):
            errors.append((path, "must be a number or a string"))
        elif isinstance(arg, float) and not math.isfinite(arg):
            errors.append((path, "must be a finite number"))
    elif op in ("$in", "$nin"):
        if not isinstance(arg, list):
            errors.append((path, "must be a list of values"))
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
    elif op == "$ref" and not (isinstance(arg, str) and _DOTTED.fullmatch(arg)):
        errors.append((path, 'must be a dotted field path such as "body.user.id"'))


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
    if section in ("path", *_PROVIDER_FIELDS):
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and not key.startswith("$"):
                    msg = f"the {section} is a string: use a string or operators such as $in"
                    errors.append((_join(path, key), msg))
        elif not isinstance(value, str):
            return [(path, "must be a string or an object of operators such as $in")]
    if section == "headers" and isinstance(value, dict):
        seen: dict[str, str] = {}
        for key in value:
            if isinstance(key, str) and not key.startswith("$"):
                if (first := seen.setdefault(key.lower(), key)) != key:
                    msg = f"duplicates header {first!r}: header names are case-insensitive"
                    errors.append((_join(path, key), msg))
    _check_filter(value, path, 0, errors)
    return errors


# One V8 isolate per process: creating one costs ~30 ms; V8 is not fork-safe, hence the pid.
_js_lock = threading.Lock()
_js: Any = None
_js_pid = 0
_HANDLER_CALL = re.compile(r"\baddHandler\s*\(")
_V8_LOCATION = re.compile(r"undefined:(\d+): (.*)")
_WRAPPER_LINES = 2  # `new Function` puts the body after "(function anonymous(addHandler\n) {\n"


def _format_js_error(message: str, code: str) -> str:
    lines = message.splitlines()
    located = _V8_LOCATION.match(lines[0]) if lines else None
    if located is None:
        return lines[0] if lines else "does not compile as JavaScript"
    line, text = int(located.group(1)) - _WRAPPER_LINES, located.group(2)
    if not 1 <= line <= code.count("\n") + 1:
        return f"{text} (at the end of the code)"
    caret = lines[2].find("^") if len(lines) > 2 else -1
    return f"{text} (line {line}, column {caret + 1})" if caret >= 0 else f"{text} (line {line})"


def check_javascript(code: str) -> str | None:
    """Why `code` does not compile as a transformation, or None. Compiles only, never runs.

    `new Function(...)` parses the whole body (nested functions too) without executing it, and
    V8 refuses a body that would escape the function. So top-level statements, even
    `while (true) {}`, never run; the timeout only bounds V8's parser on a pathological input.
    """
    global _js, _js_pid
    from py_mini_racer import JSEvalException, JSTimeoutException, MiniRacer

    # json.dumps yields a valid JS string literal: the code is data, never spliced as source.
    source = f"new Function('addHandler', {json.dumps(code)}); null"
    with _js_lock:
        if _js is None or _js_pid != os.getpid():
            _js, _js_pid = MiniRacer(), os.getpid()
        try:
            _js.eval(source, timeout_sec=JS_COMPILE_TIMEOUT_SEC)
        except JSTimeoutException:
            _js.close()  # the isolate was interrupted mid-parse: start afresh next time
            _js = None
            return f"did not compile within {JS_COMPILE_TIMEOUT_SEC:g} s"
        except JSEvalException as exc:
            return _format_js_error(str(exc), code)
    if not _HANDLER_CALL.search(code):
        return "must register a handler with addHandler('transform', (request, context) => request)"
    return None


# Any, not JsonValue: pydantic would report a bad value deep inside at a path full of union
# labels ("body.list[0].dict..."); validate_filter checks JSON-ness with the user's own path.
FilterValue = Annotated[Any, Field(description="Hookdeck-style JSON filter")]


class FilterRule(BaseModel):
    """Keep an event only if every present section matches its filter."""

    model_config = _MODEL_CONFIG
    type: Literal["filter"]
    # A literal `null` filter is indistinguishable from absent: both mean "no condition".
    headers: FilterValue = None
    body: FilterValue = None
    query: FilterValue = None
    path: FilterValue = None
    # The provider's event type / delivery id, as the request's evidence shows them.
    event_type: FilterValue = None
    idempotency_key: FilterValue = None

    @model_validator(mode="after")
    def _some_section(self) -> FilterRule:
        if all(getattr(self, name) is None for name in _FILTERABLE):
            raise PydanticCustomError(
                "filter_empty", "a filter needs at least one of " + ", ".join(_FILTERABLE)
            )
        return self


EnvKey = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TransformationRule(BaseModel):
    """JavaScript that rewrites the request before delivery (see `check_javascript`)."""

    model_config = _MODEL_CONFIG
    type: Literal["transformation"]
    code: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    env: Annotated[dict[EnvKey, str], Field(max_length=100)] | None = None


def _check_field_path(value: str) -> str:
    if value in _PROVIDER_FIELDS:
        return value
    section, _, rest = value.partition(".")
    if section not in _SECTIONS:
        raise PydanticCustomError(
            "field_path", "must be event_type, idempotency_key, or start with headers, body, "
            "query or path, e.g. body.MessageSid"
        )
    if "." in value and not all(rest.split(".")):
        raise PydanticCustomError("field_path", "must not contain empty segments")
    return value


FieldPath = Annotated[str, StringConstraints(max_length=256), AfterValidator(_check_field_path)]
FieldPaths = Annotated[list[FieldPath], Field(min_length=1, max_length=50)]


class DeduplicateRule(BaseModel):
    """Drop an event equal to one seen within `window` ms: on all fields, or only/except some."""

    model_config = _MODEL_CONFIG
    type: Literal["deduplicate"]
    window: Annotated[int, Field(ge=1_000, le=3_600_000), INTEGRAL]
    include_fields: FieldPaths | None = None
    exclude_fields: FieldPaths | None = None

    @field_validator("exclude_fields")
    @classmethod
    def _not_both(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is not None and info.data.get("include_fields") is not None:
            raise PydanticCustomError(
                "fields_conflict", "use include_fields or exclude_fields, not both"
            )
        return value


class DelayRule(BaseModel):
    """Hold each event `delay` ms before its first delivery attempt."""

    model_config = _MODEL_CONFIG
    type: Literal["delay"]
    delay: Annotated[int, Field(ge=1, le=86_400_000), INTEGRAL]


class RetryRule(BaseModel):
    """Automatic retries; `response_status_codes` None or [] means any non-2xx (status_matches)."""

    model_config = _MODEL_CONFIG
    type: Literal["retry"]
    strategy: Literal["linear", "exponential"]
    count: Annotated[int, Field(ge=0, le=50), INTEGRAL]
    interval: Annotated[int, Field(ge=1, le=86_400_000), INTEGRAL] = 60_000
    response_status_codes: Annotated[list[str], Field(max_length=50)] | None = None


Rule = Annotated[
    FilterRule | TransformationRule | DeduplicateRule | DelayRule | RetryRule,
    Field(discriminator="type"),
]
Rules = list[Rule]
_RULES = TypeAdapter(Rules)


def validate_rules(rules: list[Rule]) -> Errors:
    """Semantic checks pydantic can't express well; returns (path, message) pairs like
    ("rules[1].response_status_codes[0]", "...") — empty when fine."""
    errors: Errors = []
    if len(rules) > MAX_RULES:
        errors.append(("rules", f"must have at most {MAX_RULES} rules (got {len(rules)})"))
    first_of_type: dict[str, int] = {}
    for i, rule in enumerate(rules):
        at = f"rules[{i}]"
        # Several filters just AND together; two retry (or delay, ...) rules would conflict.
        first = first_of_type.setdefault(rule.type, i)
        if rule.type != "filter" and first != i:
            errors.append((f"{at}.type", f"only one {rule.type} rule allowed (see rules[{first}])"))
        if isinstance(rule, FilterRule):
            for section in _FILTERABLE:
                value = getattr(rule, section)
                if value is not None:
                    errors += validate_filter(value, f"{at}.{section}", section)
        elif isinstance(rule, TransformationRule):
            if (problem := check_javascript(rule.code)) is not None:
                errors.append((f"{at}.code", problem))
        elif isinstance(rule, RetryRule):
            for j, expression in enumerate(rule.response_status_codes or ()):
                try:
                    parse_status_code_expression(expression)
                except ValueError as exc:
                    errors.append((f"{at}.response_status_codes[{j}]", str(exc)))
    return errors


_TAG_ERRORS = {
    "union_tag_not_found": "is required: one of " + ", ".join(RULE_TYPES),
    "union_tag_invalid": "must be one of " + ", ".join(RULE_TYPES),
}


def parse_rules(data: object) -> tuple[list[Rule], Errors]:
    """Both layers on raw JSON data: (rules, []) when valid, else ([], every error found)."""
    try:
        rules = _RULES.validate_python(data)
    except ValidationError as exc:
        errors: Errors = []
        for err in exc.errors():
            path = error_path(("rules", *err["loc"]))
            if err["type"] in _TAG_ERRORS:  # point at the field the user got wrong
                errors.append((f"{path}.type", _TAG_ERRORS[err["type"]]))
            else:
                errors.append((path, err["msg"]))
        return [], errors
    errors = validate_rules(rules)
    return ([], errors) if errors else (rules, [])
