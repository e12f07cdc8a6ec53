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

import os
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

from schemas.filter_grammar import Errors, join_path, validate_filter
from schemas.filters import FILTER_PARTS
from schemas.status_codes import parse_status_code_expression
from schemas.transformations import compile_error, function_source, handler_problem

MAX_RULES = 20
RULE_TYPES = ("filter", "transformation", "deduplicate", "delay", "retry")
_PROVIDER_FIELDS = FILTER_PARTS[4:]  # event_type, idempotency_key: the provider's view
_SECTIONS = FILTER_PARTS[:4]  # headers, body, query, path: the HTTP request
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
            path = join_path(path, str(part))
    return path


# One V8 isolate per process: creating one costs ~30 ms; V8 is not fork-safe, hence the pid.
_js_lock = threading.Lock()
_js: Any = None
_js_pid = 0


def check_javascript(code: str) -> str | None:
    """Why `code` does not compile as a transformation, or None. Compiles only, never runs.

    `new Function(...)` parses the whole body (nested functions too) without executing it, and
    V8 refuses a body that would escape the function. So top-level statements, even
    `while (true) {}`, never run; the timeout only bounds V8's parser on a pathological input.
    """
    global _js, _js_pid
    from py_mini_racer import JSEvalException, JSTimeoutException, MiniRacer

    source = f"{function_source(code)}; null"
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
            return compile_error(str(exc), code)
    return handler_problem(code)


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
        if all(getattr(self, name) is None for name in FILTER_PARTS):
            raise PydanticCustomError(
                "filter_empty", "a filter needs at least one of " + ", ".join(FILTER_PARTS)
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
            for section in FILTER_PARTS:
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
