"""Connection rules: models, deep filter/status/JavaScript checks and their error paths."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.fields import error_path
from api.inputs import problems_of
from api.javascript import check_javascript
from api.models import ConnectionIn
from api.rules import (
    DeduplicateRule,
    DelayRule,
    FilterRule,
    RetryRule,
    Rule,
    TransformationRule,
    validate_rules,
)
from schemas.filter_grammar import FILTER_OPERATORS, MAX_FILTER_DEPTH, validate_filter
from schemas.status_codes import (
    StatusCodeExpression,
    parse_status_code_expression,
    status_matches,
)

GUIDE_RULES: list[dict[str, Any]] = [
    {
        "type": "filter",
        "headers": {"x-twilio-signature": {"$exists": True}},
        "path": {"$in": ["/twilio/status", "/messages/status"]},
    },
    {
        "type": "retry",
        "strategy": "exponential",
        "count": 5,
        "interval": 60000,
        "response_status_codes": ["429", "500-599"],
    },
]
HANDLER = "addHandler('transform', (request, context) => request);"


def parse_rules(data: object) -> tuple[list[Rule], list[tuple[str, str]]]:
    """Rules as the API reads them in a connection: (rules, []) or ([], every problem)."""
    connection = {"name": "c", "source_id": "src_1", "destination_id": "des_1", "rules": data}
    try:
        parsed = ConnectionIn.model_validate(connection)
    except ValidationError as exc:
        return [], problems_of(exc)
    errors = parsed.problems()
    return ([], errors) if errors else (parsed.rules, [])


def errors_of(*rules: dict[str, Any]) -> list[tuple[str, str]]:
    parsed, errors = parse_rules(list(rules))
    assert not (parsed and errors)
    return errors


def paths_of(*rules: dict[str, Any]) -> list[str]:
    return [path for path, _ in errors_of(*rules)]


def body_filter(body: Any) -> dict[str, Any]:
    return {"type": "filter", "body": body}


# ---------------------------------------------------------------- the guide


def test_guide_connection_rules_are_valid() -> None:
    rules, errors = parse_rules(GUIDE_RULES)
    assert errors == []
    assert isinstance(rules[0], FilterRule) and isinstance(rules[1], RetryRule)
    assert rules[1].strategy == "exponential" and rules[1].count == 5
    assert validate_rules(rules) == []


def test_every_rule_kind_together_is_valid() -> None:
    rules, errors = parse_rules(
        [
            *GUIDE_RULES,
            body_filter({"MessageStatus": {"$in": ["failed", "undelivered"]}}),
            {"type": "transformation", "code": HANDLER, "env": {"TOKEN": "x"}},
            {
                "type": "deduplicate",
                "window": 60_000,
                "include_fields": ["headers.i-twilio-idempotency-token", "body.MessageSid"],
            },
            {"type": "delay", "delay": 1000},
        ]
    )
    assert errors == []
    assert [r.type for r in rules] == [
        "filter", "retry", "filter", "transformation", "deduplicate", "delay",
    ]  # fmt: skip
    assert isinstance(rules[4], DeduplicateRule) and isinstance(rules[5], DelayRule)
    assert isinstance(rules[3], TransformationRule) and rules[3].env == {"TOKEN": "x"}


def test_retry_interval_defaults_to_a_minute() -> None:
    assert RetryRule(type="retry", strategy="linear", count=3).interval == 60_000


# ---------------------------------------------------------------- structural errors


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"type": "delay", "delay": 5, "extra": 1}, "rules[0].extra", "Extra inputs"),
        ({"type": "nope"}, "rules[0].type", "must be one of filter, transformation"),
        ({"delay": 5}, "rules[0].type", "is required"),
        ({"type": "delay", "delay": "5"}, "rules[0].delay", "valid integer"),  # strict
        ({"type": "delay", "delay": 0}, "rules[0].delay", "greater than or equal to 1"),
        ({"type": "delay", "delay": 86_400_001}, "rules[0].delay", "less than"),
        ({"type": "retry", "strategy": "linear", "count": 51}, "rules[0].count", "less than"),
        ({"type": "retry", "strategy": "x", "count": 1}, "rules[0].strategy", "'linear'"),
        ({"type": "retry", "strategy": "linear"}, "rules[0].count", "Field required"),
        ({"type": "filter"}, "rules[0]", "at least one of headers, body, query, path"),
        ({"type": "transformation", "code": ""}, "rules[0].code", "at least 1 character"),
        (
            {"type": "transformation", "code": "x" * 100_001},
            "rules[0].code",
            "at most 100000 characters",
        ),
        ({"type": "transformation", "code": HANDLER, "env": {"K": 1}}, "rules[0].env.K", "string"),
        ({"type": "deduplicate", "window": 999}, "rules[0].window", "greater than or equal"),
        (
            {"type": "deduplicate", "window": 1000, "include_fields": ["body.a", "foo.x"]},
            "rules[0].include_fields[1]",
            "must be event_type, idempotency_key, or start with headers, body, query or path",
        ),
        (
            {"type": "deduplicate", "window": 1000, "exclude_fields": ["body..a"]},
            "rules[0].exclude_fields[0]",
            "empty segments",
        ),
        (
            {
                "type": "deduplicate",
                "window": 1000,
                "include_fields": ["body.a"],
                "exclude_fields": ["body.b"],
            },
            "rules[0].exclude_fields",
            "not both",
        ),
    ],
)
def test_structural_error_paths(rule: dict[str, Any], path: str, message: str) -> None:
    errors = errors_of(rule)
    assert [p for p, _ in errors] == [path], errors
    assert message in errors[0][1]


def test_errors_are_reported_for_every_rule_at_once() -> None:
    assert paths_of({"type": "delay", "delay": 0}, {"type": "filter"}, 5) == [
        "rules[0].delay",
        "rules[1]",
        "rules[2]",
    ]


def test_rules_must_be_a_list() -> None:
    assert parse_rules({"type": "delay"}) == ([], [("rules", "Input should be a valid list")])


# ---------------------------------------------------------------- list-level checks


def test_only_filters_may_repeat() -> None:
    delay = {"type": "delay", "delay": 5}
    f = body_filter({"a": 1})
    errors = errors_of(f, delay, f, GUIDE_RULES[1], delay, GUIDE_RULES[1])
    assert errors == [
        ("rules[4].type", "only one delay rule allowed (see rules[1])"),
        ("rules[5].type", "only one retry rule allowed (see rules[3])"),
    ]


def test_at_most_twenty_rules() -> None:
    assert errors_of(*[body_filter({"a": 1})] * 20) == []
    assert paths_of(*[body_filter({"a": 1})] * 21) == ["rules"]


# ---------------------------------------------------------------- filter grammar


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (
            {"MessageStatus": {"$in": 3}},
            "body.MessageStatus.$in",
            "must be a list of values or a string",
        ),
        ({"s": {"$in": ""}}, "body.s.$in", "non-empty string"),
        ({"s": {"$nin": []}}, "body.s.$nin", "non-empty list"),
        ({"s": {"$in": ["a", {"b": 1}]}}, "body.s.$in[1]", "string, number, boolean or null"),
        ({"s": {"$regex": "x"}}, "body.s.$regex", "unknown operator $regex"),
        ({"n": {"$gt": True}}, "body.n.$gt", "number or a string"),
        ({"n": {"$lte": [1]}}, "body.n.$lte", "number or a string"),
        ({"s": {"$startsWith": 5}}, "body.s.$startsWith", "string or a non-empty list"),
        ({"s": {"$endsWith": ["a", 1]}}, "body.s.$endsWith", "string or a non-empty list"),
        ({"s": {"$exists": "yes"}}, "body.s.$exists", "true or false"),
        ({"s": {"$exist": 1}}, "body.s.$exist", "true or false"),
        ({"$or": []}, "body.$or", "non-empty list of filters"),
        ({"$and": {"a": 1}}, "body.$and", "non-empty list of filters"),
        ({"$or": [{"a": 1}, {"b": {"$exists": 0}}]}, "body.$or[1].b.$exists", "true or false"),
        ({"s": {"$not": {"$in": {"a": 1}}}}, "body.s.$not.$in", "list of values"),
        ({"s": {"$ref": "body..x"}}, "body.s.$ref", "field path"),
        ({"s": {"$ref": 3}}, "body.s.$ref", "field path"),
        ({"s": {"$ref": "body.items[x]"}}, "body.s.$ref", "field path"),
        ({"s": {"$ref": "body.items[$idx]"}}, "body.s.$ref", "field path"),
        ({"n": {"$gt": {"$ref": "body. m"}}}, "body.n.$gt.$ref", "field path"),
        ({"n": {"$lte": {"$ref": "body.m", "x": 1}}}, "body.n.$lte", "stands alone"),
        ({"a b": {"$in": 1}}, 'body["a b"].$in', "list of values"),
        ({"a.b": {"c": {"$gte": None}}}, 'body["a.b"].c.$gte', "number or a string"),
        ({"list": [1, {"x": {"$bad": 1}}]}, "body.list[1].x.$bad", "unknown operator"),
        ({"f": math.inf}, "body.f", "finite number"),
        ({"e": {"$eq": {"k": {1, 2}}}}, "body.e.$eq.k", "JSON value"),
    ],
)
def test_filter_error_paths(body: Any, path: str, message: str) -> None:
    errors = errors_of(body_filter(body))
    assert [p for p, _ in errors] == [f"rules[0].{path}"], errors
    assert message in errors[0][1]


@pytest.mark.parametrize(
    "body",
    [
        "delivered",
        42,
        1.5,
        True,
        ["a", "b"],
        {"MessageStatus": {"$in": ["failed", "undelivered"]}},
        {"status": {"$not": {"$in": ["sent"]}}},
        {"$or": [{"a": 1}, {"b": {"$gte": 2, "$lt": "z"}}], "c": {"$neq": {"$in": "literal"}}},
        {"name": {"$startsWith": ["a", "b"], "$endsWith": "z"}, "x": {"$ref": "body.y.0"}},
        {"e": {"$eq": [1, {"a": None}]}, "gone": {"$exist": False}},
        {"MessageStatus": {"$in": "deliver"}, "To": {"$nin": "+1800"}},
        {"n": {"$lte": {"$ref": "old_n"}}, "m": {"$neq": {"$ref": "body.previous.m"}}},
        {"variants": {"updated_at": {"$ref": "variants[$index].created_at"}}},
        {"t": {"$ref": "types[1]"}, "s": {"$in": {"$ref": "body.allowed"}}},
    ],
)
def test_valid_filters(body: Any) -> None:
    assert errors_of(body_filter(body)) == []


def test_section_specific_checks() -> None:
    assert errors_of({"type": "filter", "headers": "x"}) == [
        ("rules[0].headers", "must be an object of header names to filters")
    ]
    assert paths_of({"type": "filter", "headers": {"X-A": 1, "x-a": 2}}) == ["rules[0].headers.x-a"]
    assert paths_of({"type": "filter", "path": {"segment": "x"}}) == ["rules[0].path.segment"]
    assert paths_of({"type": "filter", "path": 5}) == ["rules[0].path"]
    assert paths_of({"type": "filter", "path": "/twilio/status", "query": {"x": "1"}}) == []


def test_the_provider_view_is_filterable_and_a_dedupe_field() -> None:
    assert (
        errors_of(
            {"type": "filter", "event_type": {"$in": ["push", "pull_request"]}},
            {"type": "filter", "idempotency_key": {"$exist": True}},
            {"type": "deduplicate", "window": 60_000, "include_fields": ["idempotency_key"]},
        )
        == []
    )
    assert (
        errors_of(
            {"type": "deduplicate", "window": 60_000, "exclude_fields": ["event_type", "body.at"]}
        )
        == []
    )
    # Both are strings: a field match or a non-string could never hold.
    assert paths_of({"type": "filter", "event_type": {"name": "push"}}) == [
        "rules[0].event_type.name"
    ]
    assert errors_of({"type": "filter", "idempotency_key": ["a"]}) == [
        ("rules[0].idempotency_key", "must be a string or an object of operators such as $in")
    ]
    # They are whole fields, with nothing below them.
    assert paths_of(
        {"type": "deduplicate", "window": 60_000, "include_fields": ["idempotency_key.x"]}
    ) == ["rules[0].include_fields[0]"]


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_nesting_is_bounded() -> None:
    assert validate_filter(nested(MAX_FILTER_DEPTH)) == []
    errors = validate_filter(nested(MAX_FILTER_DEPTH + 1), "body")
    assert errors == [("body" + ".k" * MAX_FILTER_DEPTH, "is nested deeper than 32 levels")]
    # Far deeper than Python's stack: still just one error, no RecursionError.
    assert len(errors_of(body_filter(nested(20_000)))) == 1


# ---------------------------------------------------------------- status codes


@pytest.mark.parametrize(
    ("expression", "parsed"),
    [
        ("429", (False, 429, 429)),
        ("500-599", (False, 500, 599)),
        ("!501", (True, 501, 501)),
        ("!400-499", (True, 400, 499)),
        (">=400", (False, 400, 599)),
        (">400", (False, 401, 599)),
        ("<=499", (False, 100, 499)),
        ("<500", (False, 100, 499)),
        ("100-100", (False, 100, 100)),
    ],
)
def test_parse_status_code_expression(expression: str, parsed: tuple[bool, int, int]) -> None:
    assert parse_status_code_expression(expression) == StatusCodeExpression(*parsed)


BAD_STATUS = ["", "42", "600", "099", "599-500", ">599", "<100", "!>=400", " 429", "4xx", "5OO"]


@pytest.mark.parametrize("expression", BAD_STATUS)
def test_bad_status_code_expressions(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_status_code_expression(expression)
    retry = {"type": "retry", "strategy": "linear", "count": 1}
    assert paths_of({**retry, "response_status_codes": ["429", expression]}) == [
        "rules[0].response_status_codes[1]"
    ]


@pytest.mark.parametrize(
    ("expressions", "status", "retried"),
    [
        (None, 500, True),
        (None, 404, True),
        (None, 302, True),
        (None, 200, False),
        ([], 204, False),
        ([], 429, True),
        (["429", "500-599"], 429, True),
        (["429", "500-599"], 503, True),
        (["429", "500-599"], 404, False),
        (["429", "500-599"], 200, False),
        (["500-599", "!501"], 501, False),
        (["500-599", "!501"], 502, True),
        (["!501"], 501, False),
        (["!501"], 500, True),
        (["!501"], 200, False),  # no positive expression: the default (non-2xx) applies
        (["!400-499"], 404, False),
        (["!400-499"], 503, True),
        ([">=400"], 400, True),
        ([">=400"], 399, False),
        ([">400"], 400, False),
        (["<=499", ">=200"], 250, True),
        (["<500"], 500, False),
        (["<500"], 201, True),  # an explicit expression can even retry a 2xx
        (["429", "!429"], 429, False),  # a negation always wins
    ],
)
def test_status_matches(expressions: list[str] | None, status: int, retried: bool) -> None:
    assert status_matches(expressions, status) is retried


# ---------------------------------------------------------------- transformations


def transformation_errors(code: str) -> list[tuple[str, str]]:
    return errors_of({"type": "transformation", "code": code})


def test_valid_transformation_passes() -> None:
    code = """
    const prefix = "fh";
    addHandler("transform", (request, context) => {
      request.headers["x-prefix"] = prefix + context.env.TOKEN;
      return request;
    });
    """
    assert transformation_errors(code) == []


def test_syntax_error_is_reported_with_line_and_column() -> None:
    code = "addHandler('transform', (request) => {\n  return request +* 1;\n});"
    errors = transformation_errors(code)
    assert errors == [("rules[0].code", "SyntaxError: Unexpected token '*' (line 2, column 19)")]


def test_syntax_error_inside_a_nested_function_is_found() -> None:
    assert paths_of({"type": "transformation", "code": "addHandler('t', r => { a b });"}) == [
        "rules[0].code"
    ]


def test_unclosed_code_reports_the_end() -> None:
    [(_, message)] = transformation_errors("addHandler('transform', function (r) {\n  return r;")
    assert message.startswith("SyntaxError: Unexpected end of input")


def test_code_must_register_a_handler() -> None:
    assert transformation_errors("const x = 1;") == [
        (
            "rules[0].code",
            "must register a handler with addHandler('transform', (request, context) => request)",
        )
    ]


def run_bounded(code: str, limit: float = 5.0) -> tuple[str | None, float]:
    """check_javascript in a thread, so a hang fails the test instead of freezing the run."""
    result: list[str | None] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: result.append(check_javascript(code)), daemon=True)
    worker.start()
    worker.join(limit)
    assert result, f"check_javascript did not return within {limit} s"
    return result[0], time.monotonic() - started


def test_top_level_infinite_loop_is_compiled_not_run() -> None:
    problem, elapsed = run_bounded("while (true) {}\n" + HANDLER)
    assert problem is None
    assert elapsed < 1.0  # far below the 2 s compile timeout: nothing ran


def test_code_escaping_the_function_is_rejected_not_run() -> None:
    problem, elapsed = run_bounded("}); while (true) {} (function () {\n" + HANDLER)
    assert problem is not None and problem.startswith("SyntaxError")
    assert elapsed < 1.0


def test_top_level_side_effects_never_happen() -> None:
    assert check_javascript("globalThis.Function = null;\n" + HANDLER) is None
    assert check_javascript(HANDLER) is None  # the shared isolate is intact


def test_compile_check_is_thread_safe() -> None:
    codes = [HANDLER, "addHandler(", "const x = 1;"] * 8
    results: dict[int, str | None] = {}

    def check(i: int) -> None:
        results[i] = check_javascript(codes[i])

    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(codes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [results[i] is None for i in range(len(codes))] == [c == HANDLER for c in codes]


# ---------------------------------------------------------------- error_path


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("rules", 1, "retry", "response_status_codes", 0), "rules[1].response_status_codes[0]"),
        (("rules", 2, "delay", "delay"), "rules[2].delay"),
        (("rules", 0), "rules[0]"),
        (("config", "auth", "password"), "config.auth.password"),
        (("rules", 0, "transformation", "env", "a b", "[key]"), 'rules[0].env["a b"]'),
        (("headers", "x-twilio-signature"), "headers.x-twilio-signature"),
        (("a", "", "0", 3), 'a[""]["0"][3]'),
        ((), ""),
    ],
)
def test_error_path(loc: tuple[int | str, ...], path: str) -> None:
    assert error_path(loc) == path


# ---------------------------------------------------------------- properties

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
)  # floats include NaN and inf on purpose: they must be reported, not crash
keys = st.sampled_from([*sorted(FILTER_OPERATORS), "$bogus", "a", "a b", "x.y"]) | st.text(
    max_size=5
)
json_like = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=30,
)


def well_formed(errors: object, prefix: str) -> None:
    assert isinstance(errors, list)
    for path, message in errors:
        assert isinstance(path, str) and path.startswith(prefix)
        assert isinstance(message, str) and message


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_like, section=st.sampled_from([None, "headers", "body", "query", "path"]))
def test_any_json_like_filter_yields_errors_never_exceptions(value: Any, section: Any) -> None:
    well_formed(validate_filter(value, "f", section), "f")
    _, errors = parse_rules([{"type": "filter", section or "body": value}])
    well_formed(errors, "rules[0]")


@settings(max_examples=300)
@given(expression=st.text(max_size=12) | st.from_regex(r"!?[<>]?=?[0-9]{1,4}(-[0-9]{1,4})?"))
def test_any_string_as_status_code_never_raises_unexpectedly(expression: str) -> None:
    try:
        parsed = parse_status_code_expression(expression)
    except ValueError:
        parsed = None
    if parsed is not None:
        assert 100 <= parsed.low <= parsed.high <= 599
    rule = RetryRule(type="retry", strategy="linear", count=1, response_status_codes=[expression])
    errors = validate_rules([rule])
    assert (errors == []) is (parsed is not None)
    well_formed(errors, "rules[0].response_status_codes[0]")


codes = st.integers(100, 599)
status_expressions = st.one_of(
    st.builds(str, codes),
    st.tuples(codes, codes).map(lambda p: f"{min(p)}-{max(p)}"),
    st.builds(lambda c: f"!{c}", codes),
    st.tuples(codes, codes).map(lambda p: f"!{min(p)}-{max(p)}"),
    st.builds(lambda op, c: f"{op}{c}", st.sampled_from([">=", "<="]), codes),
    st.builds(lambda c: f">{c}", st.integers(100, 598)),
    st.builds(lambda c: f"<{c}", st.integers(101, 599)),
)


def brute_force(expressions: list[str], status: int) -> bool:
    """The documented semantics, spelled out independently of the implementation."""

    def hits(e: str) -> bool:
        e = e.removeprefix("!")
        if e.startswith(">="):
            return status >= int(e[2:])
        if e.startswith("<="):
            return status <= int(e[2:])
        if e.startswith(">"):
            return status > int(e[1:])
        if e.startswith("<"):
            return status < int(e[1:])
        low, _, high = e.partition("-")
        return int(low) <= status <= int(high or low)

    positive = [e for e in expressions if not e.startswith("!")]
    base = any(hits(e) for e in positive) if positive else not 200 <= status < 300
    return base and not any(hits(e) for e in expressions if e.startswith("!"))


@settings(max_examples=300)
@given(expressions=st.lists(status_expressions, max_size=5), status=codes)
def test_status_matches_agrees_with_the_documented_semantics(
    expressions: list[str], status: int
) -> None:
    assert status_matches(expressions, status) is brute_force(expressions, status)


# Valid filters straight from the grammar.
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers() | finite | st.text(max_size=8)
field_names = st.text(min_size=1, max_size=8).filter(lambda s: not s.startswith("$"))
strings = st.text(max_size=8)
dotted = st.lists(st.from_regex(r"[A-Za-z0-9_]{1,5}", fullmatch=True), min_size=1, max_size=3)


def one_op(ops: list[str], args: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda op, arg: {op: arg}, st.sampled_from(ops), args)


def operators(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False) | strings
    plain_json = st.recursive(
        scalars,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(strings, c, max_size=3),
        max_leaves=8,
    )
    single = st.one_of(
        one_op(["$eq", "$neq"], plain_json),
        one_op(["$gt", "$gte", "$lt", "$lte"], numbers),
        one_op(["$in", "$nin"], st.lists(scalars, min_size=1, max_size=4)),
        one_op(["$startsWith", "$endsWith"], strings | st.lists(strings, min_size=1, max_size=3)),
        one_op(["$exist", "$exists"], st.booleans()),
        one_op(["$or", "$and"], st.lists(children, min_size=1, max_size=3)),
        one_op(["$not"], children),
        one_op(["$ref"], dotted.map(".".join)),
    )
    # Several operators on one field AND together; field names may be mixed in too.
    return st.lists(single | st.dictionaries(field_names, children, max_size=2), max_size=3).map(
        lambda parts: {k: v for part in parts for k, v in part.items()}
    )


grammar_filters = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(field_names, children, max_size=3)
        | operators(children)
    ),
    max_leaves=20,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=grammar_filters, header=grammar_filters, query=grammar_filters)
def test_filters_from_the_grammar_validate_clean(body: Any, header: Any, query: Any) -> None:
    assume(max(depth(body), depth(query), depth(header) + 1) <= MAX_FILTER_DEPTH)
    rule = FilterRule(
        type="filter",
        headers={"x-generated": header},
        body=body,
        query=query,
        path={"$in": ["/twilio/status"]},
    )
    assert validate_rules([rule]) == []
