"""Whether a batch must wait for the config view first. Pure: the job's shell asks, and syncs
(a round trip to the config topic) only when the answer is yes.

The guarantee: a record that follows a config change (a trigger or connection made a moment
ago, a trigger disabled) is judged on a view that holds that change. A record needs it only
when its effect could depend on such a change:

- it names a connection the view does not know (made a moment ago);
- it could count as a failure under a trigger: a failed delivery attempt, a transformation
  failure, a first attempt that waited as long as a backpressure trigger's `oldest_pending_ms`
  may be (whatever the connection's delay rule), a status change asked through the API.

A successful attempt only clears runs and resolves issues of triggers the view already holds
(a trigger made a moment ago has neither), and events only count pending deliveries for a
`pending_count` trigger, which never counts what was pending before the view held it either.

A record made well before the view was last known complete cannot follow a change it lacks:
the config change was acknowledged before the record was made. `CLOCK_SKEW_MS` allows for the
clocks of the machines that made the record and that synced.
"""

from __future__ import annotations

from collections.abc import Container
from typing import cast

from issues.triggers import first_attempt_wait_ms
from schemas.codec import Record
from schemas.issues import MIN_TRIGGER_MS
from schemas.records import AttemptRecorded

# How far apart the clocks of the pipeline's machines may be.
CLOCK_SKEW_MS = 5_000


def made_at(name: str, record: Record) -> int:
    """When the record was made (ms), on its writer's clock."""
    at: int = record["changed_at"] if name.startswith("Issue") else record["created_at"]
    return at


def may_follow_config_change(
    name: str,
    record: Record,
    connections: Container[str],
    fresh_ms: int,
) -> bool:
    """Whether this record must be judged on a view synced after it was made. `fresh_ms`: the
    view holds every config change acknowledged before then; `connections`: the ones it knows."""
    if made_at(name, record) < fresh_ms - CLOCK_SKEW_MS:
        return False
    if name == "AttemptRecorded":
        attempt = cast(AttemptRecorded, record)  # the codec read it as one
        if attempt["connection_id"] not in connections:
            return True
        if attempt["event_status"] == "CANCELLED":
            return False
        if attempt["status"] != "SUCCESSFUL":
            return True
        # Without the connection's delay rule: the longest the wait may be.
        return (first_attempt_wait_ms(attempt, None) or 0) > MIN_TRIGGER_MS
    if name == "EventIgnored":
        cause: str = record["cause"]
        return cause == "TRANSFORMATION_FAILED"
    # A status change asked through the API (rare): its notification follows the trigger's
    # channels as they are now.
    return name.startswith("Issue") and record["actor"] == "api"
