"""A batch of one code's requests in one V8 call (Sandboxes.run_batch): every request's outcome
is the one it would have had alone — a throw, an endless loop or a memory bomb fails only its
own request, and the rest go through."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.transform import TransformationFailed

# What the handler does is what the request asks for (request.body.do), so one batch mixes
# requests that pass with requests that fail in every way a transformation can.
MIXED = """
var runs = 0;
addHandler('transform', (request, context) => {
  runs += 1;
  var what = request.body.do;
  if (what === 'throw') { throw new Error('no thanks ' + context.request_id); }
  if (what === 'string') { throw 'plain'; }
  if (what === 'number') { return 5; }
  if (what === 'bigint') { request.big = 1n; return request; }
  if (what === 'deep') {
    var node = {}; for (var i = 0; i < 5000; i++) { node = {a: node}; } request.body = node;
    return request;
  }
  if (what === 'loop') { while (true) {} }
  if (what === 'slow') { var until = Date.now() + 300; while (Date.now() < until) {} }
  if (what === 'bomb') { var hoard = []; while (true) { hoard.push(new Array(100000).fill(1)); } }
  request.headers['x-seen'] = context.request_id;
  request.runs = runs;
  return request;
});
"""
QUICK = ["ok", "throw", "string", "number", "bigint", "deep"]


def items(kinds: list[str]) -> list[tuple[dict, dict]]:
    return [
        ({"headers": {}, "body": {"do": kind}}, {"request_id": f"req_{i}"})
        for i, kind in enumerate(kinds)
    ]


def shown(outcome: object) -> object:
    """An outcome as compared: the error's text, or the output less the isolate's run count."""
    if isinstance(outcome, TransformationFailed):
        return ("failed", str(outcome))
    assert isinstance(outcome, dict)
    return {k: v for k, v in outcome.items() if k != "runs"}


def alone(opened, kinds: list[str]) -> list[object]:
    """Each request run by itself, in an isolate of its own: what a batch must match."""
    out: list[object] = []
    for request, context in items(kinds):
        try:
            out.append(shown(opened().run("tm_alone", MIXED, {}, request, context)))
        except TransformationFailed as failed:
            out.append(shown(failed))
    return out


@settings(
    max_examples=25,
    deadline=None,
    # `opened` closes every sandbox the examples made, once, at the end.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(QUICK), min_size=1, max_size=12))
def test_a_batch_gives_every_request_the_outcome_it_has_alone(opened, kinds) -> None:
    batch = opened().run_batch("tm_a", MIXED, {}, items(kinds))
    assert [shown(o) for o in batch] == alone(opened, kinds)


def test_the_requests_of_a_batch_run_once_each_in_order_despite_throws(opened) -> None:
    sandboxes = opened()
    kinds = ["ok", "throw", "ok", "number", "ok"]
    batch = sandboxes.run_batch("tm_a", MIXED, {}, items(kinds))
    # The isolate's counter: the throwing ones ran once too (counted 2 and 4).
    assert [o["runs"] for o in batch if isinstance(o, dict)] == [1, 3, 5]
    assert str(batch[1]) == "undefined:8: Error: no thanks req_1"  # as V8 words it
    assert batch[2]["headers"] == {"x-seen": "req_2"}


def test_an_endless_request_fails_alone_and_the_others_of_its_batch_pass(opened) -> None:
    sandboxes = opened(timeout_s=0.5)
    batch = sandboxes.run_batch("tm_a", MIXED, {}, items(["ok", "ok", "loop", "ok", "ok"]))
    assert [isinstance(o, dict) for o in batch] == [True, True, False, True, True]
    assert "longer than" in str(batch[2])
    # Those before the loop ran once and the isolate kept their state; the loop ran twice: cut
    # off after the others had used some of the call's time, then first with the whole limit.
    assert [o["runs"] for o in batch if isinstance(o, dict)] == [1, 2, 5, 6]


def test_slow_requests_that_pass_alone_pass_in_a_batch_longer_than_the_time_limit(opened) -> None:
    # Five of 300 ms each: 1.5 s in all, over the 1 s limit of a call, each well within it.
    batch = opened().run_batch("tm_a", MIXED, {}, items(["slow"] * 5))
    assert all(isinstance(o, dict) for o in batch), batch


def test_a_memory_bomb_fails_alone_and_its_isolate_is_replaced(opened) -> None:
    sandboxes = opened(memory_bytes=16 * 1024 * 1024, memory_budget_bytes=64 * 1024 * 1024)
    before = sandboxes.run("tm_a", MIXED, {}, *items(["ok"])[0])
    assert before["runs"] == 1
    batch = sandboxes.run_batch("tm_a", MIXED, {}, items(["ok", "bomb", "ok"]))
    assert str(batch[1]) == "the transformation ran out of memory"
    assert [isinstance(o, dict) for o in batch] == [True, False, True]
    # A fresh isolate: its counter started again (the bomb's isolate is gone).
    assert sandboxes.run("tm_a", MIXED, {}, *items(["ok"])[0])["runs"] < 4
    assert sandboxes.live == 1


def test_two_teams_batches_never_share_an_isolate(opened) -> None:
    sandboxes = opened()
    a = sandboxes.run_batch("tm_a", MIXED, {}, items(["ok"] * 3))
    b = sandboxes.run_batch("tm_b", MIXED, {}, items(["ok"] * 2))
    assert [o["runs"] for o in a] == [1, 2, 3] and [o["runs"] for o in b] == [1, 2]
    assert sandboxes.live == 2


def test_a_batch_larger_than_a_call_holds_is_cut_and_every_request_passes(opened) -> None:
    big = "x" * 300_000
    kinds = ["ok"] * 8
    batch = opened().run_batch(
        "tm_a",
        MIXED,
        {},
        [({"headers": {}, "body": {"do": k, "pad": big}}, {"request_id": "r"}) for k in kinds],
    )
    assert [o["runs"] for o in batch] == list(range(1, 9))
    assert all(o["body"]["pad"] == big for o in batch)


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("throw new Error('at top');", "Error: at top"),
        # Code that breaks the runner it shares its global scope with hurts only itself.
        ("__fh = null; addHandler('transform', (r) => r);", "Cannot read properties of null"),
        ("Array.prototype.join = () => 'x'; addHandler('transform', (r) => r);", "be read"),
    ],
)
def test_code_that_cannot_run_fails_every_request_of_its_batch(opened, code, why) -> None:
    batch = opened().run_batch("tm_a", code, {}, items(["ok"] * 3))
    assert len(batch) == 3
    assert all(isinstance(o, TransformationFailed) and why in str(o) for o in batch), batch


def test_closed_sandboxes_close_every_isolate_and_make_no_new_one(opened) -> None:
    sandboxes = opened()
    sandboxes.run_batch("tm_a", MIXED, {}, items(["ok"]))
    sandboxes.run_batch("tm_b", MIXED, {}, items(["ok"]))
    sandboxes.close()
    assert sandboxes.live == 0
    # Not the code's failure: nothing a request could be recorded as ignored for.
    with pytest.raises(RuntimeError, match="closed"):
        sandboxes.run_batch("tm_a", MIXED, {}, items(["ok"]))
    assert sandboxes.live == 0


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("var a = 1;", "<anonymous>:4: Error: no handler: call addHandler('transform', fn)"),
        ("addHandler('transform', 5);", "<anonymous>:4: TypeError: addHandler needs a function"),
        (
            "addHandler('transform', (r) => 5);",
            "<anonymous>:7: TypeError: the transform handler must return the request object",
        ),
        (
            "addHandler('transform', (r) => { r.b = 1n; return r; });",
            "<anonymous>:9: TypeError: Do not know how to serialize a BigInt",
        ),
    ],
)
def test_the_runners_own_errors_read_as_they_did_with_a_call_per_request(
    opened, code, message
) -> None:
    # Recorded details (ignored events, issues) keep their words and line numbers.
    assert [str(o) for o in opened().run_batch("tm_a", code, {}, items(["ok"] * 2))] == [
        message
    ] * 2
