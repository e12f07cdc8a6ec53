"""How a batch of one (team, code, env)'s transformations is cut and recovered: pure rules.

A batch runs its requests one after another in one call into the isolate (one thread hop, one
JSON parse in and one string out for the lot). A request that fails must fail alone, so a
call that stops early is resumed after the request that stopped it — or, when the stop may
not be that request's own fault, from it again:

- it threw (or returned something unusable): its own error; the rest go on after it;
- the call ran out of time: the time limit is per call, so the request running then had its
  whole limit only if it ran first; if not, the earlier ones ate into it and it runs again,
  first of the next call. Every request so gets one run that starts with the full limit;
- the isolate was lost (its memory limit, or its results could not be read back): the call's
  results went with it and nobody knows whose fault it was, so the rest run one per call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum

# A batch call's JSON input at most (beyond a single request, which always goes): the isolate's
# heap holds the parsed batch at once, and must leave room for the code under its memory limit.
BATCH_BYTES = 1024 * 1024


# (team id, code, env as JSON): the requests that may share an isolate, and a batch. It holds
# the code itself: Python caches a string's hash, so finding it costs no digest of the code.
Key = tuple[str, str, str]


def batch_key(team_id: str, code: str, env: dict[str, str]) -> Key:
    return (team_id, code, json.dumps(env, sort_keys=True))


class Stop(Enum):
    """Why a batch call stopped before its last request."""

    ERROR = "error"
    TIMEOUT = "timeout"
    LOST = "lost"


class Next(Enum):
    """What to do with the request a batch call stopped at."""

    FAIL = "fail"  # it failed on its own: record its error, go on after it
    RETRY = "retry"  # run it again, first of the next call
    ONE_BY_ONE = "one by one"  # run it and the rest one per call


def after_stop(completed: int, attempted: int, stop: Stop) -> Next:
    """The verdict on request `completed` (0-based) of a call of `attempted` that stopped."""
    if stop is Stop.ERROR:
        return Next.FAIL
    if stop is Stop.TIMEOUT:
        return Next.FAIL if completed == 0 else Next.RETRY
    return Next.FAIL if attempted == 1 else Next.ONE_BY_ONE


def chunk_bounds(sizes: Sequence[int], limit: int = BATCH_BYTES) -> list[tuple[int, int]]:
    """[start, stop) ranges cutting requests of `sizes` bytes into calls of at most `limit`
    bytes in order; a request larger than `limit` goes alone."""
    bounds: list[tuple[int, int]] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and total + size > limit:
            bounds.append((start, index))
            start, total = index, 0
        total += size
    if start < len(sizes):
        bounds.append((start, len(sizes)))
    return bounds


def results_text(text: object) -> list[str] | None:
    """The per-request JSON texts of a batch call's answer ("<count>\\n<one per line>"), or
    None if it is not such an answer (the code broke the runner it shares a global scope with)."""
    if not isinstance(text, str):
        return None
    count, _, rest = text.partition("\n")
    if not count.isdigit():
        return None
    # JSON.stringify never writes a raw line feed; split on it alone (not splitlines(), which
    # also splits on U+2028, written raw).
    lines = rest.split("\n") if int(count) else []
    return lines if len(lines) == int(count) else None
