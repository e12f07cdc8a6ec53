"""The `response_status_codes` language of a connection's retry rule — part of the contract:
the API validates expressions with it and the deliverer decides retries with it.

Expressions: "429", "500-599", "!501", "!400-499", ">=400", ">400", "<=499", "<500".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple


class StatusCodeExpression(NamedTuple):
    """One `response_status_codes` entry: the inclusive range it names, maybe negated."""

    negated: bool
    low: int
    high: int

    def matches(self, status: int) -> bool:
        return self.low <= status <= self.high


# "!" negates a code or a range only: "!>=400" is just "<400", so it has one spelling.
_STATUS_EXPR = re.compile(r"(?:(!)?([0-9]{3})(?:-([0-9]{3}))?|(>=|>|<=|<)([0-9]{3}))")
_STATUS_HELP = 'use "429", "500-599", "!501", "!400-499", ">=400", ">400", "<=499" or "<500"'


@lru_cache(maxsize=1024)  # the deliverer asks on every failed attempt
def parse_status_code_expression(expression: str) -> StatusCodeExpression:
    """`"429"`, `"500-599"`, `"!501"`, `"!400-499"`, `">=400"`, `">400"`, `"<=499"`, `"<500"`.

    Codes are 100..599; a comparison is bounded by that range. Raises ValueError explaining
    what is wrong (whitespace is not trimmed: stored config should be exact).
    """
    match = _STATUS_EXPR.fullmatch(expression) if isinstance(expression, str) else None
    if match is None:
        raise ValueError(f"is not a status code expression: {_STATUS_HELP}")
    negated, first, last, comparison, bound = match.groups()
    if comparison is None:
        low, high = int(first), int(last or first)
    else:
        code, strict = int(bound), len(comparison) == 1  # ">" and "<" exclude the bound
        low, high = (code + strict, 599) if comparison[0] == ">" else (100, code - strict)
    for given in (first, last, bound):
        if given is not None and not 100 <= int(given) <= 599:
            raise ValueError(f"{given} is not an HTTP status code (100-599)")
    if low > high:
        reason = "starts after it ends" if comparison is None else "matches no status code"
        raise ValueError(f"{expression!r} {reason}")
    return StatusCodeExpression(negated is not None, low, high)


def status_matches(expressions: list[str] | None, status: int) -> bool:
    """Whether a response with `status` should be retried under `response_status_codes`.

    A status matches when it matches any positive expression and no negated one. Without a
    positive expression (None, [] or only negations like `["!501"]`), the positive set is the
    default: any non-2xx. So `["!501"]` retries every failure but 501, and never a 2xx.
    Raises ValueError on an invalid expression (validate_rules rejects those up front).
    """
    parsed = [parse_status_code_expression(e) for e in expressions or ()]
    positive = [p for p in parsed if not p.negated]
    if positive:
        allowed = any(p.matches(status) for p in positive)
    else:
        allowed = not 200 <= status <= 299
    return allowed and not any(p.matches(status) for p in parsed if p.negated)
