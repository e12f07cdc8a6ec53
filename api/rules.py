"""The `rules` of a connection: pydantic models plus the deep checks pydantic can't express.

Two layers, so a caller gets every problem with an exact path in one answer:
- the models check shape, types and ranges (`extra="forbid"`, strict: `"5"` is not a count);
- `validate_rules` checks the filter grammar, status code expressions, the JavaScript of a
  transformation (`api/javascript.py`) and the list as a whole, returning `(path, message)`
  pairs; `api/fields.py` names pydantic's own problems the same way.
Paths look like `rules[0].body.MessageStatus.$in` or `rules[1].response_status_codes[0]`: a
name matching `[A-Za-z_$][A-Za-z0-9_$-]*` is joined with a dot, any other name (dots, spaces,
empty, starting with a digit) as `["a b"]`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from api.fields import INTEGRAL
from api.javascript import check_javascript
from schemas.filter_grammar import Errors, validate_filter
from schemas.filters import FILTER_PARTS
from schemas.status_codes import parse_status_code_expression

MAX_RULES = 20  # a connection's (pydantic refuses more before any rule is looked at)
_PROVIDER_FIELDS = FILTER_PARTS[4:]  # event_type, idempotency_key: the provider's view
_SECTIONS = FILTER_PARTS[:4]  # headers, body, query, path: the HTTP request

# strict: JSON gives real ints and strings; coercing "5" or true into a count hides mistakes.
_MODEL_CONFIG = ConfigDict(extra="forbid", strict=True)


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
            "field_path",
            "must be event_type, idempotency_key, or start with headers, body, "
            "query or path, e.g. body.MessageSid",
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


def validate_rules(rules: list[Rule]) -> Errors:
    """Semantic checks pydantic can't express well; returns (path, message) pairs like
    ("rules[1].response_status_codes[0]", "...") — empty when fine."""
    errors: Errors = []
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
