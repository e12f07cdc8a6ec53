"""The issues job's state machine: every record it reads changes its state and yields effects
(issue records to write, notifications to send, connections to pause). No I/O: the job's shell
(issues.job) reads the topics, feeds this, and writes the effects together with the changed
state in one transaction.

State (what survives a restart, on the issues.state topic): every issue not resolved
(`issue:<key>`), each (trigger, connection)'s run of consecutive failures (`run:<…>`) and,
for destinations a `pending_count` trigger watches, their pending events (`pending:<…>`,
`done:<…>`; see issues.pending).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from issues.aggregation import (
    Failure,
    Tracked,
    count_failure,
    due_to_resolve,
    escalation,
    issue_key,
    notified,
    open_issue,
    scope,
    succeeded,
    with_status,
)
from issues.pending import END_STATUSES, Pending
from issues.triggers import (
    Trigger,
    counts_attempt,
    error_class,
    failure_matches,
    first_attempt_wait_ms,
    parse_trigger,
)
from schemas.codec import Record
from schemas.entities import entity_of
from schemas.records import (
    AttemptRecorded,
    EventCreated,
    EventIgnored,
    IssueChanged,
)

RECORD = {"opened": "IssueOpened", "resolved": "IssueResolved"}  # anything else: IssueUpdated


@dataclass(frozen=True, slots=True)
class Emit:
    change: str  # opened | count | escalated | status | paused | resolved
    issue: dict[str, Any]

    @property
    def record_name(self) -> str:
        return RECORD.get(self.change, "IssueUpdated")


@dataclass(frozen=True, slots=True)
class Notify:
    trigger: Trigger
    kind: str  # issue.opened | issue.updated | issue.resolved
    issue: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pause:
    connection_id: str
    issue_id: str


Effect = Emit | Notify | Pause


class Engine:
    def __init__(self) -> None:
        self.triggers: dict[str, Trigger] = {}
        self.connections: dict[str, dict[str, Any]] = {}
        self.tracked: dict[str, Tracked] = {}
        self.by_issue_id: dict[str, str] = {}
        self.runs: dict[str, int] = {}
        self.pending = Pending()
        # connection id (destination id for backpressure) → keys of its issues
        self._by_scope: dict[str, set[str]] = {}
        self._by_team: dict[tuple[str, str], list[Trigger]] = {}
        self._dirty: set[str] = set()
        self._touched: dict[str, str] = {}
        self._effects: list[Effect] = []

    # --- configuration ----------------------------------------------------------------
    def apply_config(self, entity_id: str, record: Record | None) -> None:
        self.triggers.pop(entity_id, None)
        self.connections.pop(entity_id, None)
        if record is not None:
            entity = entity_of(record)
            if record["entity_type"] == "issue_trigger":
                self.triggers[entity_id] = parse_trigger(entity)
            elif record["entity_type"] == "connection":
                self.connections[entity_id] = {**entity, "_version": record["version"]}
        self._by_team = {}

    def _triggers(self, team_id: str, kind: str) -> list[Trigger]:
        key = (team_id, kind)
        if key not in self._by_team:
            self._by_team[key] = sorted(
                (
                    t
                    for t in self.triggers.values()
                    if t.team_id == team_id and t.type == kind and t.enabled
                ),
                key=lambda t: t.id,
            )
        return self._by_team[key]

    def _system(self, connection_id: str) -> bool:
        """A notification's own connection: its failures never open issues (no loops)."""
        return bool(self.connections.get(connection_id, {}).get("system"))

    # --- state --------------------------------------------------------------------------
    def load(self, key: str, value: Any) -> None:
        """One entry of the state topic (None: deleted)."""
        kind, _, rest = key.partition(":")
        if kind == "issue":
            old = self.tracked.get(rest)
            if old is not None:
                self._forget(old)
            if value is not None:
                self._hold(Tracked.from_json(value))
        elif kind == "run":
            if value is None:
                self.runs.pop(rest, None)
            else:
                self.runs[rest] = int(value)
        elif kind in ("pending", "done"):
            self.pending.load(kind, rest, value)

    def state_changes(self) -> dict[str, Any]:
        """The state entries changed since the last call (None: deleted)."""
        out: dict[str, Any] = {}
        for key in self.pending.dirty:
            kind, _, rest = key.partition(":")
            out[key] = self.pending.value(kind, rest)
        self.pending.dirty.clear()
        for key in self._dirty:
            kind, _, rest = key.partition(":")
            if kind == "issue":
                tracked = self.tracked.get(rest)
                out[key] = tracked.to_json() if tracked else None
            else:
                out[key] = self.runs.get(rest)
        self._dirty.clear()
        return out

    def reset(self) -> None:
        """Forget every issue and run (before the state is loaded again)."""
        self.tracked.clear()
        self.by_issue_id.clear()
        self._by_scope.clear()
        self.runs.clear()
        self.pending.clear()
        self._dirty.clear()
        self._touched.clear()
        self._effects.clear()

    def _hold(self, tracked: Tracked) -> None:
        self.tracked[tracked.key] = tracked
        self.by_issue_id[tracked.issue["issue_id"]] = tracked.key
        self._by_scope.setdefault(scope(tracked.issue), set()).add(tracked.key)

    def _forget(self, tracked: Tracked) -> None:
        self.tracked.pop(tracked.key, None)
        self.by_issue_id.pop(tracked.issue["issue_id"], None)
        keys = self._by_scope.get(scope(tracked.issue))
        if keys is not None:
            keys.discard(tracked.key)
            if not keys:
                del self._by_scope[scope(tracked.issue)]

    def _keep(self, tracked: Tracked) -> None:
        self._hold(tracked)
        self._dirty.add(f"issue:{tracked.key}")

    def _drop(self, tracked: Tracked) -> None:
        self._forget(tracked)
        self._touched.pop(tracked.key, None)
        self._dirty.add(f"issue:{tracked.key}")

    def _run(self, key: str, value: int) -> int:
        if value:
            self.runs[key] = value
        else:
            self.runs.pop(key, None)
        self._dirty.add(f"run:{key}")
        return value

    def open_by_type(self) -> Counter[str]:
        return Counter(
            t.issue["type"] for t in self.tracked.values() if t.issue["status"] != "RESOLVED"
        )

    # --- inputs -------------------------------------------------------------------------
    def on_attempt(self, attempt: AttemptRecorded) -> None:
        connection_id = attempt["connection_id"]
        if self._system(connection_id):
            return
        if attempt["event_status"] in END_STATUSES:
            self._pending_end(attempt)
        if attempt["event_status"] == "CANCELLED":
            return
        at = attempt["created_at"]
        self._backpressure(attempt)
        if attempt["status"] == "SUCCESSFUL":
            # A delivery went out: the connection's transformation ran, its destination took it.
            self._successes(attempt["team_id"], connection_id, at)
            return
        status, code = error_class(attempt)
        for trigger in self._triggers(attempt["team_id"], "delivery"):
            if not trigger.covers(connection_id) or not failure_matches(trigger, status, code):
                continue
            if trigger.strategy == "consecutive":
                run_key = f"{trigger.id}|{connection_id}"
                if self._run(run_key, self.runs.get(run_key, 0) + 1) < trigger.count:
                    continue
            elif not counts_attempt(trigger, attempt):
                continue
            self._failure(
                trigger,
                Failure(
                    attempt["team_id"],
                    connection_id,
                    attempt["destination_id"],
                    attempt["source_id"],
                    status,
                    code,
                    attempt["event_id"],
                    attempt["request_id"],
                    attempt["attempt_id"],
                    None,
                    at,
                ),
            )

    def _successes(self, team_id: str, connection_id: str, at: int) -> None:
        for trigger in self._triggers(team_id, "delivery"):
            run_key = f"{trigger.id}|{connection_id}"
            if run_key in self.runs:
                self._run(run_key, 0)
        self._succeeded(team_id, connection_id, at)

    def _succeeded(
        self, team_id: str, scope_id: str, at: int, kind: str | None = None, code: str | None = None
    ) -> None:
        for key in list(self._by_scope.get(scope_id, ())):
            tracked = self.tracked[key]
            if kind is not None and tracked.issue["type"] != kind:
                continue
            if code is not None and tracked.issue["error_code"] != code:
                continue
            if tracked.issue["team_id"] == team_id and (tracked.last_success_at or 0) < at:
                self._keep(succeeded(tracked, at))

    def _backpressure(self, attempt: AttemptRecorded) -> None:
        """A first attempt that came long after its event was made (beyond the connection's
        own delay rule): its destination is backed up. A prompt first attempt is the
        backpressure issue's "success"."""
        wait = first_attempt_wait_ms(attempt, self.connections.get(attempt["connection_id"]))
        if wait is None:
            return
        destination_id = attempt["destination_id"]
        for trigger in self._triggers(attempt["team_id"], "backpressure"):
            if trigger.oldest_pending_ms is None or not trigger.covers_destination(destination_id):
                continue
            if wait <= trigger.oldest_pending_ms:
                self._succeeded(
                    attempt["team_id"],
                    destination_id,
                    attempt["created_at"],
                    "backpressure",
                    "BACKPRESSURE",
                )
                continue
            self._failure(
                trigger,
                Failure(
                    attempt["team_id"],
                    None,
                    destination_id,
                    None,
                    None,
                    "BACKPRESSURE",
                    attempt["event_id"],
                    attempt["request_id"],
                    attempt["attempt_id"],
                    f"an event waited {wait} ms for its first attempt",
                    attempt["created_at"],
                ),
            )

    def _counting(self, team_id: str, destination_id: str) -> list[Trigger]:
        return [
            t
            for t in self._triggers(team_id, "backpressure")
            if t.pending_count is not None and t.covers_destination(destination_id)
        ]

    @property
    def watches_pending(self) -> bool:
        """Whether any trigger counts pending events (else events need not be read)."""
        return any(
            t.pending_count is not None and t.type == "backpressure" and t.enabled
            for t in self.triggers.values()
        )

    def on_event(self, event: EventCreated) -> None:
        """An event made or sent again: one more pending on its destination, and over a
        `pending_count` threshold a backpressure failure (each event that comes while the
        destination is backed up counts)."""
        destination_id = event["destination_id"]
        if self._system(event["connection_id"]):
            return
        triggers = self._counting(event["team_id"], destination_id)
        if not triggers or not self.pending.add(
            destination_id, event["event_id"], event["created_at"]
        ):
            return
        pending = self.pending.count(destination_id)
        for trigger in triggers:
            if pending >= (trigger.pending_count or 0):
                self._failure(
                    trigger,
                    Failure(
                        event["team_id"],
                        None,
                        destination_id,
                        None,
                        None,
                        "PENDING_COUNT",
                        event["event_id"],
                        event["request_id"],
                        f"{event['event_id']}@{event['created_at']}",
                        f"{pending} events pending (threshold {trigger.pending_count})",
                        event["created_at"],
                    ),
                )

    def _pending_end(self, attempt: AttemptRecorded) -> None:
        destination_id = attempt["destination_id"]
        triggers = self._counting(attempt["team_id"], destination_id)
        at = attempt["created_at"]
        if not triggers:
            # No longer watched (its trigger deleted or disabled): what it still counts ends
            # all the same, so a trigger made again later does not find them pending.
            if self.pending.count(destination_id):
                self.pending.end(destination_id, attempt["event_id"], at, remember=False)
            return
        self.pending.end(destination_id, attempt["event_id"], at)
        pending = self.pending.count(destination_id)
        if any(pending < (t.pending_count or 0) for t in triggers):
            # Drained below a threshold: this is the backpressure issue's "success".
            self._succeeded(attempt["team_id"], destination_id, at, "backpressure", "PENDING_COUNT")

    def on_ignored(self, ignored: EventIgnored) -> None:
        if ignored["cause"] != "TRANSFORMATION_FAILED":
            return
        connection_id = ignored.get("connection_id")
        connection = self.connections.get(connection_id or "", {})
        for trigger in self._triggers(ignored["team_id"], "transformation"):
            if trigger.covers(connection_id):
                self._failure(
                    trigger,
                    Failure(
                        ignored["team_id"],
                        connection_id,
                        connection.get("destination_id"),
                        ignored["source_id"],
                        None,
                        "TRANSFORMATION_FAILED",
                        None,
                        ignored["request_id"],
                        ignored["ignored_id"],
                        ignored.get("detail"),
                        ignored["created_at"],
                    ),
                )

    def _failure(self, trigger: Trigger, failure: Failure) -> None:
        key = issue_key(trigger.id, failure)
        tracked = self.tracked.get(key)
        if tracked is None:
            tracked = open_issue(trigger, failure)
            self._keep(tracked)
            self._effects.append(Emit("opened", tracked.issue))
            if trigger.channels:
                self._effects.append(Notify(trigger, "issue.opened", tracked.issue))
            if trigger.action == "pause" and failure.connection_id:
                self._effects.append(Pause(failure.connection_id, tracked.issue["issue_id"]))
            return
        tracked = count_failure(tracked, failure)
        level = escalation(tracked, trigger, failure.at)
        if level is not None:
            tracked = notified(tracked, level, failure.at)
            self._effects.append(Notify(trigger, "issue.updated", tracked.issue))
            self._touched[key] = "escalated"
        else:
            self._touched.setdefault(key, "count")
        self._keep(tracked)

    def on_issue_change(self, record: IssueChanged, now: int) -> None:
        """A status change asked through the API: the job applies it to the issue it holds
        and confirms it (so the topic's last word on the issue is the job's, complete)."""
        asked = record["issue"]
        key = self.by_issue_id.get(asked["issue_id"])
        tracked = self.tracked.get(key or "")
        if tracked is None or asked["status"] == tracked.issue["status"]:
            return
        tracked = with_status(tracked, asked["status"], now, asked["version"])
        self._touched.pop(tracked.key, None)
        if asked["status"] == "RESOLVED":
            self._resolve(tracked)
            return
        self._keep(tracked)
        self._effects.append(Emit("status", tracked.issue))

    def _resolve(self, tracked: Tracked) -> None:
        self._drop(tracked)
        self._effects.append(Emit("resolved", tracked.issue))
        trigger = self.triggers.get(tracked.issue["issue_trigger_id"])
        if trigger is not None and trigger.channels:
            self._effects.append(Notify(trigger, "issue.resolved", tracked.issue))

    def tick(self, now: int) -> None:
        """Resolve the issues whose quiet time has passed."""
        self.pending.expire(now)
        for tracked in list(self.tracked.values()):
            trigger = self.triggers.get(tracked.issue["issue_trigger_id"])
            if due_to_resolve(tracked, trigger, now):
                self._resolve(with_status(tracked, "RESOLVED", now))

    def drain(self) -> list[Effect]:
        """The effects so far, with one IssueUpdated per issue counted since the last drain
        (a burst of failures is one record, not one per failure)."""
        effects = self._effects
        for key, change in self._touched.items():
            tracked = self.tracked.get(key)
            if tracked is not None:
                effects.append(Emit(change, tracked.issue))
        self._effects, self._touched = [], {}
        return effects
