"""The issues routes: list and get (from the issues table), a status change (a record on the
issues topic, which the issues job then confirms), the timeline (from the issue_changes table),
and replay (a bulk retry of the events the issue counted that are still FAILED)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict

from projections.handlers import NoParams, fetch, read_body, read_query
from projections.keys import BULK, DATABASE, PRODUCER, SETTINGS, TEAM_ID
from projections.params import IssueQuery, IssueStatus, paginate
from projections.queries import issue_changes, list_issues
from runtime.problems import Conflict, NotFound, Unavailable, Unprocessable
from schemas.codec import encode
from schemas.issues import public_issue
from schemas.times import iso_or_none as iso


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: IssueStatus


def events_query(state: dict[str, Any]) -> dict[str, Any] | None:
    """The events list (and bulk retry) query of the events the issue counted that are still
    FAILED: its connection, its error class, created up to its last failure."""
    if state["type"] != "delivery" or not state.get("connection_id"):
        return None
    query: dict[str, Any] = {
        "connection_id": state["connection_id"],
        "status": "FAILED",
        "created_at[lte]": iso(state["last_seen_at"]),
    }
    if state.get("response_status") is not None:
        query["response_status"] = state["response_status"]
    elif state.get("error_code"):
        query["error_code"] = state["error_code"]
    return query


def requests_query(state: dict[str, Any]) -> dict[str, Any] | None:
    """A transformation issue's affected requests, as the requests list (and bulk replay)
    query: those whose transformation failed on its connection, up to its last failure."""
    if state["type"] != "transformation" or not state.get("connection_id"):
        return None
    return {
        "ignored_cause": "TRANSFORMATION_FAILED",
        "ignored_connection_id": state["connection_id"],
        "status": "accepted",
        "created_at[lte]": iso(state["last_seen_at"]),
    }


def issue_model(state: dict[str, Any]) -> dict[str, Any]:
    return {
        **public_issue(state),
        "events_query": events_query(state),
        "requests_query": requests_query(state),
    }


async def _issue(request: web.Request) -> dict[str, Any]:
    issue_id = request.match_info["id"]
    rows = await fetch(
        request, list_issues(request.app[DATABASE], request[TEAM_ID], IssueQuery(limit=1), issue_id)
    )
    if not rows:
        raise NotFound(f"no issue {issue_id}")
    return rows[0]


async def list_issues_route(request: web.Request) -> web.Response:
    query = read_query(request, IssueQuery)
    rows = await fetch(request, list_issues(request.app[DATABASE], request[TEAM_ID], query))
    page = paginate(rows, query)
    page["models"] = [issue_model(r) for r in page["models"]]
    return web.json_response(page)


async def get_issue(request: web.Request) -> web.Response:
    read_query(request, NoParams)
    return web.json_response(issue_model(await _issue(request)))


async def update_issue(request: web.Request) -> web.Response:
    """A status change is a record: IssueUpdated by the API, the issue's next version."""
    body = await read_body(request, StatusBody)
    state = await _issue(request)
    if state["status"] == "RESOLVED":
        # The job no longer follows it: a failure now opens a new issue.
        raise Conflict(f"issue {state['issue_id']} is resolved; a new failure opens a new one")
    now = int(time.time() * 1000)
    changed = {
        **{k: v for k, v in state.items() if k != "id"},
        "status": body.status,
        "updated_at": now,
        "version": state["version"] + 1,
        "resolved_at": now if body.status == "RESOLVED" else None,
    }
    record = {"issue": changed, "change": "status", "actor": "api", "changed_at": now}
    name = "IssueResolved" if body.status == "RESOLVED" else "IssueUpdated"
    try:
        await request.app[PRODUCER].send_and_wait(
            request.app[SETTINGS].topics.issues,
            encode(name, record),
            key=changed["issue_id"].encode(),
        )
    except KafkaError as exc:
        raise Unavailable(f"the broker did not store the change: {exc}") from None
    return web.json_response(issue_model(changed))


def timeline(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An issue's changes as a reader wants them: a run of counts is one entry (the last), and
    the job's confirmation of a status asked through the API is not a second entry."""
    entries: list[dict[str, Any]] = []
    for change in changes:
        kind = change["change"]
        confirms = kind in ("status", "resolved")
        if kind == "status":
            kind = "reopened" if change["status"] == "OPENED" else change["status"].lower()
        elif kind == "count":
            kind = "counted"
        last = entries[-1] if entries else None
        if (
            confirms
            and last is not None
            and change["actor"] == "job"
            and last["actor"] == "api"
            and last["status"] == change["status"]
        ):
            continue  # the job confirming what the API asked
        if last is not None and kind == last["kind"] == "counted":
            entries.pop()
        entries.append(
            {
                "kind": kind,
                "status": change["status"],
                "count": change["count"],
                "actor": change["actor"],
                "at": iso(change["changed_at"]),
                "version": change["version"],
            }
        )
    return entries


async def issue_timeline(request: web.Request) -> web.Response:
    read_query(request, NoParams)
    state = await _issue(request)
    rows = await fetch(
        request, issue_changes(request.app[DATABASE], request[TEAM_ID], state["issue_id"])
    )
    entries = timeline(rows)
    return web.json_response({"id": state["issue_id"], "models": entries, "count": len(entries)})


async def replay_issue(request: web.Request) -> web.Response:
    """A delivery issue: the bulk retry of its events still FAILED. A transformation issue:
    the bulk replay of its affected requests through today's rules, to its connection only."""
    await read_body(request, NoParams)
    state = await _issue(request)
    events, requests = events_query(state), requests_query(state)
    try:
        if events is not None:
            job = await request.app[BULK].create("events", request[TEAM_ID], events)
        elif requests is not None:
            job = await request.app[BULK].create(
                "requests", request[TEAM_ID], requests, [state["connection_id"]]
            )
        else:
            raise Unprocessable(
                "a backpressure issue has nothing to replay: its events are delivered once "
                "the destination catches up",
                [("id", "a backpressure issue")],
            )
    except KafkaError as exc:
        raise Unavailable(f"the broker did not store the bulk retry: {exc}") from None
    return web.json_response(job.model(), status=202)
