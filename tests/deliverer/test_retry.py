from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverer.retry import (
    MAX_DELAY_MS,
    next_delay_ms,
    parse_retry_after,
    should_retry,
    tier_for,
)
from schemas.status_codes import status_matches
from schemas.topics import RETRY_TIERS_MS

NOW = 1_718_000_000.0


# --- status_matches ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expressions", "status", "expected"),
    [
        (None, 500, True),
        (None, 404, True),
        (None, 302, True),
        (None, 200, False),
        ([], 299, False),
        (["429"], 429, True),
        (["429"], 500, False),
        (["500-599"], 503, True),
        (["500-599"], 499, False),
        (["500-599", "!501"], 501, False),
        (["500-599", "!501"], 502, True),
        (["!501"], 501, False),
        (["!501"], 500, True),
        (["!501"], 200, False),  # only negations: the default "any non-2xx" stays positive
        (["!400-499"], 404, False),
        (["!400-499"], 500, True),
        ([">=400"], 400, True),
        ([">=400"], 399, False),
        ([">400"], 400, False),
        ([">400"], 401, True),
        (["<=499"], 499, True),
        (["<=499"], 500, False),
        (["<500"], 499, True),
        (["<500"], 500, False),
        (["<500"], 200, True),  # a positive expression may name a 2xx (should_retry won't)
        (["429", "500-599"], 429, True),
        (["429", ">=500", "!501", "!503"], 503, False),
    ],
)
def test_status_matches(expressions, status, expected):
    assert status_matches(expressions, status) is expected


@pytest.mark.parametrize(
    "bad", ["", " 429", "42", "4290", "600", "099", "!>=400", "500-400", "<100", ">599", "5xx"]
)
def test_invalid_expressions_raise(bad):
    with pytest.raises(ValueError):
        status_matches([bad], 500)


_CODES = st.integers(100, 599)
_EXPRESSION = st.one_of(
    st.tuples(st.booleans(), _CODES).map(lambda t: ("!" if t[0] else "") + str(t[1])),
    st.tuples(st.booleans(), _CODES, _CODES).map(
        lambda t: ("!" if t[0] else "") + f"{min(t[1:])}-{max(t[1:])}"
    ),
    st.tuples(st.sampled_from([">=", "<="]), _CODES).map(lambda t: f"{t[0]}{t[1]}"),
    st.tuples(st.just(">"), st.integers(100, 598)).map(lambda t: f">{t[1]}"),
    st.tuples(st.just("<"), st.integers(101, 599)).map(lambda t: f"<{t[1]}"),
)


def _codes(expression: str) -> tuple[bool, set[int]]:
    """Brute force: the set of codes an expression names, by testing each code literally."""
    negated = expression.startswith("!")
    body = expression.lstrip("!")
    tests = {
        ">=": lambda c, b: c >= b,
        "<=": lambda c, b: c <= b,
        ">": lambda c, b: c > b,
        "<": lambda c, b: c < b,
    }
    for op in (">=", "<=", ">", "<"):
        if body.startswith(op):
            bound = int(body[len(op) :])
            return negated, {c for c in range(100, 600) if tests[op](c, bound)}
    low, _, high = body.partition("-")
    return negated, set(range(int(low), int(high or low) + 1))


def _reference(expressions: list[str], status: int) -> bool:
    named = [_codes(e) for e in expressions]
    positive = set().union(*(codes for neg, codes in named if not neg))
    if not any(not neg for neg, _ in named):
        positive = {c for c in range(100, 600) if not 200 <= c <= 299}
    negative = set().union(*(codes for neg, codes in named if neg))
    return status in positive and status not in negative


@given(st.lists(_EXPRESSION, max_size=6), _CODES)
def test_status_matches_agrees_with_brute_force(expressions, status):
    assert status_matches(expressions, status) == _reference(expressions, status)


# --- should_retry ------------------------------------------------------------------------

RULE = {"type": "retry", "strategy": "linear", "count": 3, "interval": 10_000}


def test_no_rule_never_retries():
    assert not should_retry(None, 500, None)
    assert not should_retry(None, None, "TIMEOUT")


def test_transport_errors_retry_under_a_rule():
    for code in ("TIMEOUT", "CONNECTION_REFUSED", "DNS_FAILURE", "TLS_ERROR", None):
        assert should_retry(RULE, None, code)
    assert should_retry({**RULE, "response_status_codes": ["429"]}, None, "TIMEOUT")


def test_success_never_retries_even_if_named():
    assert not should_retry(RULE, 200, None)
    assert not should_retry({**RULE, "response_status_codes": ["<500"]}, 204, None)


def test_status_codes_decide():
    rule = {**RULE, "response_status_codes": ["429", "500-599", "!501"]}
    assert should_retry(rule, 429, None)
    assert should_retry(rule, 503, None)
    assert not should_retry(rule, 501, None)
    assert not should_retry(rule, 404, None)
    assert should_retry(RULE, 404, None)  # default: any non-2xx
    assert should_retry({**RULE, "response_status_codes": []}, 302, None)


def test_corrupt_expressions_fall_back_to_any_failure():
    rule = {**RULE, "response_status_codes": ["5xx"]}
    assert should_retry(rule, 404, None)
    assert not should_retry(rule, 200, None)


# --- next_delay_ms -----------------------------------------------------------------------

LINEAR = {"strategy": "linear", "count": 5, "interval": 10_000}
EXPONENTIAL = {"strategy": "exponential", "count": 5, "interval": 10_000}


def test_linear_schedule_and_exhaustion():
    assert [next_delay_ms(LINEAR, n, None, NOW) for n in range(1, 8)] == [10_000] * 5 + [None] * 2


def test_exponential_schedule_and_exhaustion():
    delays = [next_delay_ms(EXPONENTIAL, n, None, NOW) for n in range(1, 8)]
    assert delays == [10_000, 20_000, 40_000, 80_000, 160_000, None, None]


def test_count_zero_means_no_retry():
    assert next_delay_ms({**LINEAR, "count": 0}, 1, None, NOW) is None


def test_exponential_is_capped_at_a_day():
    rule = {"strategy": "exponential", "count": 50, "interval": 3_600_000}
    assert next_delay_ms(rule, 50, None, NOW) == MAX_DELAY_MS
    assert next_delay_ms({**rule, "interval": 1}, 50, None, NOW) == min(2**49, MAX_DELAY_MS)


def test_default_interval_is_a_minute():
    assert next_delay_ms({"strategy": "linear", "count": 1}, 1, None, NOW) == 60_000


def test_unknown_strategy_is_an_error():
    with pytest.raises(ValueError, match="strategy"):
        next_delay_ms({"strategy": "fibonacci", "count": 2, "interval": 1}, 1, None, NOW)


def test_retry_after_lengthens_up_to_ten_times_the_delay():
    assert next_delay_ms(LINEAR, 1, "30", NOW) == 30_000
    assert next_delay_ms(LINEAR, 1, "100", NOW) == 100_000
    assert next_delay_ms(LINEAR, 1, "500", NOW) == 100_000  # 10x of 10 s


def test_retry_after_is_capped_at_an_hour():
    rule = {"strategy": "linear", "count": 2, "interval": 600_000}
    assert next_delay_ms(rule, 1, "86400", NOW) == 3_600_000
    assert next_delay_ms(rule, 1, "1" + "0" * 40, NOW) == 3_600_000


def test_retry_after_never_shortens_the_schedule():
    assert next_delay_ms(LINEAR, 1, "1", NOW) == 10_000
    assert next_delay_ms(LINEAR, 1, "0", NOW) == 10_000
    big = {"strategy": "linear", "count": 2, "interval": 7_200_000}
    assert next_delay_ms(big, 1, "3000", NOW) == 7_200_000


def test_retry_after_as_http_date():
    date = formatdate(NOW + 45, usegmt=True)
    assert next_delay_ms(LINEAR, 1, date, NOW) == 45_000


def test_garbage_retry_after_is_ignored_and_exhaustion_wins():
    assert next_delay_ms(LINEAR, 1, "soon", NOW) == 10_000
    assert next_delay_ms(LINEAR, 6, "30", NOW) is None


_RETRY_AFTER = st.one_of(st.none(), st.integers(-5, 10**6).map(str), st.text(max_size=20))


@given(
    interval=st.integers(1, 86_400_000),
    count=st.integers(0, 50),
    retry_after=_RETRY_AFTER,
)
def test_exponential_is_monotone(interval, count, retry_after):
    rule = {"strategy": "exponential", "count": count, "interval": interval}
    delays = [next_delay_ms(rule, n, retry_after, NOW) for n in range(1, count + 1)]
    assert all(d is not None for d in delays)
    assert delays == sorted(delays)
    assert next_delay_ms(rule, count + 1, retry_after, NOW) is None


@given(
    interval=st.integers(1, 86_400_000),
    count=st.integers(0, 50),
    retry_after=_RETRY_AFTER,
)
def test_linear_is_constant(interval, count, retry_after):
    rule = {"strategy": "linear", "count": count, "interval": interval}
    delays = {next_delay_ms(rule, n, retry_after, NOW) for n in range(1, count + 1)}
    assert len(delays) <= 1
    assert next_delay_ms(rule, count + 1, retry_after, NOW) is None


@given(
    strategy=st.sampled_from(["linear", "exponential"]),
    interval=st.integers(1, 86_400_000),
    count=st.integers(0, 50),
    attempt=st.integers(1, 60),
    retry_after=_RETRY_AFTER,
)
def test_none_exactly_after_count_retries_and_bounded_otherwise(
    strategy, interval, count, attempt, retry_after
):
    rule = {"strategy": strategy, "count": count, "interval": interval}
    delay = next_delay_ms(rule, attempt, retry_after, NOW)
    assert (delay is None) == (attempt > count)
    if delay is not None:
        plain = next_delay_ms(rule, attempt, None, NOW)
        assert plain <= delay <= max(plain, min(3_600_000, 10 * plain))
        assert delay <= MAX_DELAY_MS


# --- parse_retry_after -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("-3", 0.0),
        (formatdate(NOW + 90, usegmt=True), 90.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
        (None, None),
        ("", None),
        ("soon", None),
        ("1.5", None),
        ("Wed, 99 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


@given(st.text())
def test_parse_retry_after_never_raises(value):
    result = parse_retry_after(value, NOW)
    assert result is None or result >= 0


# --- tiers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "tier"),
    [
        (0, None),
        (4_000, None),
        (4_999, None),
        (5_000, 5_000),
        (7_000, 5_000),
        (30_000, 30_000),
        (119_999, 30_000),
        (600_000, 600_000),
        (3_600_000, 3_600_000),
        (7_200_000, 3_600_000),
    ],
)
def test_tier_for(delay, tier):
    assert tier_for(delay) == tier


@given(st.integers(0, 10 * MAX_DELAY_MS))
def test_tier_is_the_largest_not_after_the_delay(delay):
    tier = tier_for(delay)
    if tier is None:
        assert delay < RETRY_TIERS_MS[0]
    else:
        assert tier <= delay
        assert all(t <= tier or t > delay for t in RETRY_TIERS_MS)
