"""How the API reads JSON fields: integers as JSON Schema has them, and every problem named by
the path the user wrote (`rules[0].body.MessageStatus.$in`, `config.auth["a b"]`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BeforeValidator

from schemas.filter_grammar import Errors, join_path

# Tags of discriminated unions (a rule's `type`): pydantic puts them in an error's location,
# though the user never wrote them.
RULE_TYPES = ("filter", "transformation", "deduplicate", "delay", "retry")
_TAG_ERRORS = {
    "union_tag_not_found": "is required: one of " + ", ".join(RULE_TYPES),
    "union_tag_invalid": "must be one of " + ", ".join(RULE_TYPES),
}


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


def field_problems(errors: Sequence[Any], *prefix: str) -> Errors:
    """Pydantic's errors as (path, message) pairs, under `prefix`; a rule without a known
    `type` is named at its `type` field, with the types there are."""
    problems: Errors = []
    for err in errors:
        path = error_path((*prefix, *err["loc"]))
        if err["type"] in _TAG_ERRORS:
            problems.append((f"{path}.type", _TAG_ERRORS[err["type"]]))
        else:
            problems.append((path, err["msg"]))
    return problems
