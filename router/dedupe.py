"""Deduplicate rules: which requests count as the same (a key from chosen fields), and
whether a candidate repeats the first one of its key within the window (pure decisions)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from router.conversions import PROVIDER_FIELDS

_MISSING = object()


def _at(view: dict[str, Any], path: str) -> Any:
    node: Any = view
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part.lower() if node is view.get("headers") else part, _MISSING)
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _without(view: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(view, default=str))
    for path in paths:
        *parents, last = path.split(".")
        node = copy
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last.lower() if parents == ["headers"] else last, None)
    return copy


def dedupe_key(connection_id: str, rule: dict[str, Any], view: dict[str, Any]) -> str:
    """Same key ⇔ duplicate. include_fields: only those fields count (event_type and
    idempotency_key among them: the provider's delivery id needs no path by hand);
    exclude_fields: all but those; neither: the whole request (headers, body, path, query —
    the provider fields derive from those, so they add nothing and keys stay as they were)."""
    whole = {k: view[k] for k in ("headers", "body", "path", "query")}
    if rule.get("include_fields"):
        named = {**whole, **{k: view[k] for k in PROVIDER_FIELDS if k in view}}
        basis: Any = [
            [p, _at(named, p) if _at(named, p) is not _MISSING else None]
            for p in rule["include_fields"]
        ]
    elif rule.get("exclude_fields"):
        basis = _without(whole, rule["exclude_fields"])
    else:
        basis = whole
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()
    return f"{connection_id}:{digest[:32]}"


@dataclass(frozen=True, slots=True)
class Seen:
    """The first candidate of a dedupe key within its window: the one let through."""

    at: int  # its request's time (ms)
    event_id: str
    window: int  # ms

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "event_id": self.event_id, "window": self.window}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Seen:
        return cls(int(value["at"]), str(value["event_id"]), int(value["window"]))


@dataclass(frozen=True, slots=True)
class Verdict:
    """`remember`: the key's state to store (and let the candidate through); `duplicate_of`:
    the earlier candidate this one repeats (then it is ignored). Exactly one is set."""

    remember: Seen | None
    duplicate_of: Seen | None


def decide(first: Seen | None, event_id: str, at_ms: int, window_ms: int) -> Verdict:
    """Whether a candidate (its event id, its request's time) goes through, given the first
    candidate seen of its key. Times are the requests', not the clock's: the window is between
    the provider's calls, and a candidate decided again after a crash gets the same verdict.
    The same event again is such a re-decision: it goes through again, and its state is
    stored again (its first store may be what the crash lost)."""
    if first is None or at_ms - first.at >= first.window:
        return Verdict(Seen(at_ms, event_id, window_ms), None)
    if first.event_id == event_id:
        return Verdict(first, None)
    return Verdict(None, first)


def expired(seen: dict[str, Seen], now_ms: int) -> list[str]:
    """Keys whose window has passed by `now_ms`: no later candidate can repeat them."""
    return [key for key, first in seen.items() if now_ms - first.at >= first.window]


def duplicate(candidate: dict[str, Any], first: Seen) -> dict[str, Any]:
    """The EventIgnored record of a candidate that repeats `first` within its window."""
    return {
        "ignored_id": candidate["event_id"].replace("evt_", "ign_", 1),
        "request_id": candidate["request_id"],
        "team_id": candidate["team_id"],
        "source_id": candidate["source_id"],
        "connection_id": candidate["connection_id"],
        "cause": "DUPLICATE",
        "detail": f"same as event {first.event_id} within {first.window} ms",
        "created_at": candidate["created_at"],
    }
