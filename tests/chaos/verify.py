"""What a chaos run proves, from ClickHouse (through the API's query routes), the topics and the
receiver's own log. `snapshot` is the I/O; `verdict` and `recovery` are pure."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from schemas.topics import Topics
from tests.chaos.load import Sent
from tests.chaos.receiver import SID, Delivery
from tests.chaos.schedule import Fault
from tests.support.kafka import read_topic

FINAL = ("SUCCESSFUL", "FAILED")


@dataclass(frozen=True)
class Route:
    """A connection as the verdict sees it: which callbacks it must deliver, where."""

    name: str
    target: str  # the load target (source) it hangs off
    path: str  # the receiver path its destination calls
    statuses: frozenset[str] | None  # MessageStatus values its filter lets through; None: all
    retries: bool  # with a retry rule: must end delivered; without: FAILED is allowed
    transformed: bool = False
    connection_id: str = ""


@dataclass
class Snapshot:
    requests: list[dict[str, Any]]
    events: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    ignored: list[dict[str, Any]]
    topic_counts: dict[str, int]
    sid_of_request: dict[str, str]  # from the requests topic: request id → MessageSid

    @property
    def api_counts(self) -> dict[str, int]:
        return {
            "requests": len(self.requests),
            "events": len(self.events),
            "attempts": len(self.attempts),
            "ignored": len(self.ignored),
        }

    def pending(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["status"] not in FINAL]

    def settled(self) -> bool:
        return not self.pending() and self.api_counts == self.topic_counts


async def list_all(
    http: aiohttp.ClientSession, api: str, key: str, path: str, max_pages: int = 2000
) -> list[dict[str, Any]]:
    """Every model of a list route, page by page (bounded)."""
    out: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "250"}
    for _ in range(max_pages):
        async with http.get(
            f"{api}{path}", params=params, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            assert response.status == 200, (path, response.status, await response.text())
            body = await response.json()
        out.extend(body["models"])
        if not body["pagination"]["next"]:
            return out
        params = {"limit": "250", "next": body["pagination"]["next"]}
    raise AssertionError(f"{path}: more than {max_pages} pages")


async def snapshot(api: str, key: str, bootstrap: str, topics: Topics) -> Snapshot:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        lists = {
            name: await list_all(http, api, key, f"/v1/{route}")
            for name, route in (
                ("requests", "requests"),
                ("events", "events"),
                ("attempts", "attempts"),
                ("ignored", "ignored-events"),
            )
        }
    read = {
        name: await read_topic(bootstrap, getattr(topics, name), timeout_s=60)
        for name in ("requests", "events", "attempts", "ignored")
    }
    id_field = {
        "requests": "request_id",
        "events": "event_id",
        "attempts": "attempt_id",
        "ignored": "ignored_id",
    }
    sids = {}
    for record in read["requests"]:
        found = SID.search(record["body"] or b"")
        sids[record["request_id"]] = found.group().decode() if found else ""
    return Snapshot(
        **lists,
        topic_counts={
            name: len({r[id_field[name]] for r in records}) for name, records in read.items()
        },
        sid_of_request=sids,
    )


@dataclass
class FaultRun:
    fault: Fault
    started: float  # monotonic, as the load and the receiver record times
    ended: float
    detail: str = ""


@dataclass
class Report:
    counts: dict[str, int | str] = field(default_factory=dict)
    recoveries: list[tuple[str, float, float | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [f"| {name} | {value} |" for name, value in self.counts.items()]
        faults = [
            f"| {at:7.1f} | {label} | "
            + (f"{took:.1f} s" if took is not None else "not recovered")
            + " |"
            for label, at, took in self.recoveries
        ]
        return "\n".join(
            [
                "| measure | value |",
                "|---|---|",
                *rows,
                "",
                "| at (s) | fault | time to recover |",
                "|---|---|---|",
                *faults,
            ]
        )


def recovery(run: FaultRun, sent: list[Sent], deliveries: list[Delivery]) -> float | None:
    """Seconds from the end of a fault until the gateway does again what the fault stopped:
    the ingress or broker answers a new callback 200; the router or deliverer brings a new
    callback to the receiver; the receiver has caught up with what was sent while it was
    down; the projections service is ready (measured by the runner, in `detail`)."""
    target, end = run.fault.target, run.ended
    if target in ("ingress", "broker"):
        times = [
            s.answered_at
            for s in sent
            if s.sent_at >= end and s.status == 200 and s.answered_at is not None
        ]
    elif target in ("router", "deliverer"):
        sent_after = {s.sid for s in sent if s.sent_at >= end}
        times = [d.at for d in deliveries if d.sid in sent_after]
    elif target == "receiver":
        # Caught up: every callback sent while it was down and delivered since (by a retry),
        # delivered; the last of those first deliveries.
        during = {s.sid for s in sent if run.started <= s.sent_at <= end}
        first: dict[tuple[str, str], float] = {}
        for d in deliveries:
            if d.sid in during:
                first[(d.path, d.sid)] = min(first.get((d.path, d.sid), d.at), d.at)
        return max(first.values()) - end if first else None
    else:
        found = re.search(r"ready after ([0-9.]+) s", run.detail)
        return float(found.group(1)) if found else None
    return min(times) - end if times else None


def verdict(
    sent: list[Sent],
    deliveries: list[Delivery],
    snap: Snapshot,
    routes: list[Route],
    runs: list[FaultRun],
) -> Report:
    report = Report()
    problems = report.problems
    stored = {r["id"]: r for r in snap.requests}
    answered = Counter(s.status for s in sent)
    ok = [s for s in sent if s.status == 200]

    false_200 = [s for s in ok if s.request_id not in stored]
    for s in false_200:
        problems.append(
            f"answered 200 but not stored: {s.request_id} ({s.sid}, sent at {s.sent_at:.1f})"
        )
    stored_503 = [s for s in sent if s.status == 503 and s.request_id in stored]

    by_sid: dict[tuple[str, str], set[str]] = defaultdict(set)
    for d in deliveries:
        by_sid[(d.path, d.sid)].add(d.event_id)
    for (path, sid), ids in by_sid.items():
        if len(ids) > 1:
            problems.append(f"{sid} delivered to {path} under several event ids: {sorted(ids)}")
    delivered_events = {d.event_id for d in deliveries}
    events = {(e["request_id"], e["connection_id"]): e for e in snap.events}
    attempts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in snap.attempts:
        attempts[a["event_id"]].append(a)

    sent_sids = {s.sid: s for s in sent}
    lost: list[str] = []
    failed_by_rule = 0
    expected = 0
    for request in snap.requests:
        if request["status"] != "accepted":
            continue
        sid = snap.sid_of_request.get(request["id"], "")
        callback = sent_sids.get(sid)
        if callback is None:
            problems.append(f"stored request {request['id']} matches no callback sent ({sid!r})")
            continue
        for route in routes:
            if route.target != callback.target or (
                route.statuses is not None and callback.message_status not in route.statuses
            ):
                continue
            expected += 1
            event = events.get((request["id"], route.connection_id))
            where = f"{request['id']} ({sid}) → {route.name}"
            if event is None:
                lost.append(f"{where}: no event")
            elif event["status"] not in FINAL:
                lost.append(f"{where}: event {event['id']} stuck {event['status']}")
            elif event["id"] in delivered_events:
                if route.transformed and not any(
                    d.transformed for d in deliveries if d.event_id == event["id"]
                ):
                    problems.append(f"{where}: delivered without its transformation")
            elif (
                event["status"] == "FAILED"
                and not route.retries
                and all(
                    a["error_code"] and a["response_status"] is None for a in attempts[event["id"]]
                )
            ):
                failed_by_rule += 1
            else:
                lost.append(
                    f"{where}: event {event['id']} {event['status']}, not in the "
                    f"receiver's log (attempts: {attempts[event['id']]})"
                )
    problems.extend(f"lost: {line}" for line in lost)

    for run in runs:
        if run.fault.kind == "broker_stop":
            window = [s for s in sent if run.started <= s.sent_at <= run.ended]
            if not any(s.status == 503 for s in window):
                problems.append(
                    f"no 503 while the broker was stopped at {run.started:.1f}: "
                    f"{Counter(s.status for s in window)}"
                )
        took = recovery(run, sent, deliveries)
        report.recoveries.append((run.fault.label, run.fault.at_s, took))
        if took is None:
            problems.append(f"no recovery seen after {run.fault.label} at {run.fault.at_s:.1f} s")
    if snap.api_counts != snap.topic_counts:
        problems.append(
            f"ClickHouse counts {snap.api_counts} differ from the topics {snap.topic_counts}"
        )
    # A 5xx other than the broker's 503 is a failure of the gateway itself.
    problems.extend(
        f"answered {status} {n} times"
        for status, n in answered.items()
        if status is not None and status >= 500 and status != 503
    )
    for event in snap.pending():
        problems.append(f"event stuck: {event['id']} {event['status']}")

    deliveries_per_key = Counter((d.path, d.sid) for d in deliveries)
    report.counts = {
        "requests sent": len(sent),
        "answered 200": answered[200],
        "answered 503": answered[503],
        "other answers": ", ".join(
            f"{status}: {n}"
            for status, n in sorted(
                (status, n) for status, n in answered.items() if status not in (200, 503, None)
            )
        )
        or "0",
        "no answer (refused/reset)": answered[None],
        "503 answered but stored anyway": len(stored_503),
        "stored requests (ClickHouse = topic)": len(snap.requests),
        "deliveries expected": expected,
        "delivered (distinct events)": len(delivered_events),
        "deliveries received": len(deliveries),
        "duplicates (same event id)": sum(n - 1 for n in deliveries_per_key.values()),
        "FAILED by rule (no retry rule, receiver down)": failed_by_rule,
        "events / attempts / ignored in ClickHouse": (
            f"{len(snap.events)} / {len(snap.attempts)} / {len(snap.ignored)}"
        ),
        "lost (must be 0)": len(lost) + len(false_200),
    }
    return report
