"""`router.routing.route`, the router's one decision: a request on one connection becomes an
event or an ignored record, rules in order, with ids that repeat when the request is routed
again (after a crash)."""

from __future__ import annotations

import json
from typing import Any

from router.connections import Connection
from router.routing import Ignored, Routed, connections_for, route, transforms
from router.transform import TransformationFailed

RECEIVED_AT = 1_780_000_000_000
REQUEST: dict[str, Any] = {
    "request_id": "req_1",
    "team_id": "tm_1",
    "source_id": "src_1",
    "received_at": RECEIVED_AT,
    "public_url": "https://hooks.example.com/src_1",
    "method": "POST",
    "path": "/calls",
    "query": "a=1",
    "body": b'{"type": "order.created", "total": 3}',
    "headers": [{"name": "Content-Type", "value": "application/json", "raw": None}],
}


def connection(*rules: dict[str, Any], enabled: bool = True, cid: str = "web_1") -> Connection:
    return Connection(
        id=cid,
        name="orders",
        team_id="tm_1",
        source_id="src_1",
        destination_id="des_1",
        rules=tuple(rules),
        enabled=enabled,
    )


async def never(*_args: Any) -> Any:
    raise AssertionError("no transformation rule: the sandbox is not asked")


def cause(outcome: Routed | Ignored) -> str:
    assert isinstance(outcome, Ignored)
    return str(outcome.record["cause"])


async def test_no_rules_make_one_event_due_now_with_the_request_as_sent() -> None:
    outcome = await route(REQUEST, connection(), True, never, RECEIVED_AT)
    assert isinstance(outcome, Routed) and outcome.dedupe is None
    event = outcome.event
    assert (event["due_at"], event["attempt_number"], event["trigger"]) == (
        RECEIVED_AT,
        1,
        "INITIAL",
    )
    assert event["request"]["body"] == REQUEST["body"]
    assert event["destination_id"] == "des_1" and event["source_url"] == REQUEST["public_url"]


async def test_routing_again_gives_the_same_ids() -> None:
    first = await route(REQUEST, connection(), True, never, RECEIVED_AT)
    again = await route(REQUEST, connection(), True, never, RECEIVED_AT)
    assert isinstance(first, Routed) and isinstance(again, Routed)
    assert first.event["event_id"] == again.event["event_id"]
    other = await route(REQUEST, connection(cid="web_2"), True, never, RECEIVED_AT)
    assert isinstance(other, Routed) and other.event["event_id"] != first.event["event_id"]


async def test_a_disabled_connection_or_destination_is_ignored_and_says_which() -> None:
    off = await route(REQUEST, connection(enabled=False), True, never, RECEIVED_AT)
    assert cause(off) == "DISABLED" and "connection" in off.record["detail"]
    gone = await route(REQUEST, connection(), False, never, RECEIVED_AT)
    assert cause(gone) == "DISABLED" and "destination" in gone.record["detail"]


async def test_a_filter_that_does_not_match_names_its_rule() -> None:
    rules = (
        {"type": "filter", "body": {"type": "order.created"}},
        {"type": "filter", "body": {"total": {"$gt": 10}}},
    )
    outcome = await route(REQUEST, connection(*rules), True, never, RECEIVED_AT)
    assert cause(outcome) == "FILTERED"
    assert outcome.record["detail"] == "rules[1] did not match"
    passing = await route(REQUEST, connection(rules[0]), True, never, RECEIVED_AT)
    assert isinstance(passing, Routed)


async def test_delays_add_up_and_other_rules_do_not_delay() -> None:
    rules = (
        {"type": "delay", "delay": 1_000},
        {"type": "retry", "count": 1},
        {"type": "delay", "delay": 250},
    )
    outcome = await route(REQUEST, connection(*rules), True, never, RECEIVED_AT)
    assert isinstance(outcome, Routed)
    assert outcome.event["due_at"] - outcome.event["created_at"] == 1_250


async def test_a_transformation_changes_what_is_sent_and_what_later_filters_see() -> None:
    seen: list[tuple[Any, ...]] = []

    async def transform(
        team_id: str,
        code: str,
        env: dict[str, str],
        request: dict[str, Any],
        context: dict[str, Any],
    ) -> Any:
        seen.append((team_id, code, env, context))
        return {**request, "body": {**request["body"], "type": "order.paid"}, "path": "/paid"}

    rules = (
        {"type": "transformation", "code": "addHandler(…)", "env": {"K": "v"}},
        {"type": "filter", "body": {"type": "order.paid"}},
    )
    outcome = await route(REQUEST, connection(*rules), True, transform, RECEIVED_AT)
    assert isinstance(outcome, Routed)
    assert outcome.event["request"]["path"] == "/paid"
    assert json.loads(outcome.event["request"]["body"])["type"] == "order.paid"
    assert seen == [
        (
            "tm_1",
            "addHandler(…)",
            {"K": "v"},
            {
                "connection": {"id": "web_1", "name": "orders"},
                "request_id": "req_1",
                "source_id": "src_1",
                "env": {"K": "v"},
            },
        )
    ]


async def test_a_transformation_without_env_gets_an_empty_one() -> None:
    envs: list[dict[str, str]] = []

    async def transform(
        _team: str,
        _code: str,
        env: dict[str, str],
        request: dict[str, Any],
        _context: dict[str, Any],
    ) -> Any:
        envs.append(env)
        return request

    outcome = await route(
        REQUEST, connection({"type": "transformation", "code": "x"}), True, transform, RECEIVED_AT
    )
    assert isinstance(outcome, Routed) and envs == [{}]
    assert outcome.event["request"] == {
        k: REQUEST[k] for k in ("method", "path", "query", "headers", "body")
    }


async def test_a_failing_or_invalid_transformation_is_ignored_with_its_reason() -> None:
    async def failing(*_args: Any) -> Any:
        raise TransformationFailed("ReferenceError: x is not defined")

    async def not_a_request(*_args: Any) -> Any:
        return "nope"

    rule = {"type": "transformation", "code": "x"}
    failed = await route(REQUEST, connection(rule), True, failing, RECEIVED_AT)
    assert cause(failed) == "TRANSFORMATION_FAILED" and "ReferenceError" in failed.record["detail"]
    invalid = await route(REQUEST, connection(rule), True, not_a_request, RECEIVED_AT)
    assert cause(invalid) == "TRANSFORMATION_FAILED"
    assert "request object" in invalid.record["detail"]


async def test_a_deduplicate_rule_hands_back_its_key_and_window_except_for_a_replay() -> None:
    rule = {"type": "deduplicate", "window": 60_000, "include_fields": ["body.type"]}
    outcome = await route(REQUEST, connection(rule), True, never, RECEIVED_AT)
    assert isinstance(outcome, Routed) and outcome.dedupe is not None
    key, window = outcome.dedupe
    assert window == 60_000 and key.startswith("web_1:")
    replay = await route(
        {**REQUEST, "replay_of": "req_0"}, connection(rule), True, never, RECEIVED_AT
    )
    assert isinstance(replay, Routed) and replay.dedupe is None


def test_a_replay_names_its_connections_else_every_one_counts() -> None:
    both = [connection(cid="web_1"), connection(cid="web_2")]
    assert connections_for(REQUEST, both) == both
    assert connections_for({**REQUEST, "connection_ids": ["web_2"]}, both) == [both[1]]
    assert connections_for({**REQUEST, "connection_ids": []}, both) == []


def test_only_a_connection_with_a_transformation_rule_transforms() -> None:
    assert transforms(connection({"type": "filter"}, {"type": "transformation", "code": "x"}))
    assert not transforms(connection({"type": "filter"}, {"type": "delay", "delay": 1}))
