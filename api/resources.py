"""Sources, destinations and connections: one set of handlers, configured per resource."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api.app_keys import BOX, SETTINGS, STORE, TEAM_ID, VIEW
from api.config_log import ConfigStore
from api.entities import new_entity, public, revise, with_status
from api.errors import Conflict, NotFound, Unprocessable, WriteRefused
from api.inputs import ListQuery, etag, if_match, paginate, read_model, read_query
from api.issue_triggers import (
    IssueTriggerIn,
    IssueTriggerOut,
    check_trigger,
    companions,
    trigger_view,
)
from api.models import (
    ConnectionIn,
    ConnectionOut,
    DestinationIn,
    DestinationOut,
    SourceIn,
    SourceOut,
)
from api.view import ConfigView, Versioned
from schemas.config_fold import Verdict
from schemas.entities import EntityType

Checker = Callable[[ConfigView, str, dict[str, Any]], list[tuple[str, str]]]
Companions = Callable[[dict[str, Any]], list[tuple[EntityType, dict[str, Any]]]]
# A write without If-Match that other replicas' writes keep beating is made again on the new
# state this many times at most, then refused (409) like a conditional one.
UNCONDITIONAL_TRIES = 20
RETRY_PAUSE_S = 0.005


def visible(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the system entities (an issue trigger's channels): those are the trigger's."""
    return [e for e in entities if not e.get("system")]


def check_connection(view: ConfigView, team_id: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    errors = []
    if view.get("source", body["source_id"], team_id) is None:
        errors.append(("source_id", f"no source {body['source_id']} in this team"))
    if view.get("destination", body["destination_id"], team_id) is None:
        errors.append(("destination_id", f"no destination {body['destination_id']} in this team"))
    return errors


@dataclass(frozen=True)
class Resource:
    kind: EntityType
    plural: str
    model_in: type[BaseModel]
    model_out: type[BaseModel]
    actions: tuple[str, ...] = ("disable", "enable")
    check: Checker | None = None
    # Deleting a source or destination deletes the connections that use it.
    cascade_field: str | None = None
    # System entities written with each version of an entity and deleted with it.
    companions: Companions | None = None
    present: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    # --- helpers ------------------------------------------------------------------------
    def _out(self, request: web.Request, entity: dict[str, Any], version: int) -> dict[str, Any]:
        view = public(self.kind, entity, request.app[SETTINGS].public_base_url)
        if self.present is not None:
            view = self.present(view)
        return self.model_out.model_validate({**view, "version": version}).model_dump(mode="json")

    def _respond(
        self, request: web.Request, entity: dict[str, Any], version: int, status: int = 200
    ) -> web.Response:
        return web.json_response(
            self._out(request, entity, version), status=status, headers=etag(version)
        )

    def _held(self, request: web.Request) -> Versioned:
        held = request.app[VIEW].get(self.kind, request.match_info["id"], request[TEAM_ID])
        if held is None or held.entity.get("system"):
            raise NotFound(f"no {self.kind} {request.match_info['id']}")
        return held

    async def _expected(self, request: web.Request) -> Versioned:
        """The entity held, checked against the version the client saw (If-Match): a version
        this replica has not read yet may be another replica's write, so it reads up first."""
        held, expected = self._held(request), if_match(request)
        if expected is not None and expected > held.version:
            await request.app[STORE].follower.sync()
            held = self._held(request)
        if expected is not None and expected != held.version:
            raise Conflict(f"the {self.kind} is at version {held.version}, not {expected}")
        return held

    async def _validated(self, request: web.Request, exclude_id: str | None) -> dict[str, Any]:
        model = await read_model(request, self.model_in)
        # In a thread: compiling a transformation is CPU work, and mini-racer refuses to run on
        # a thread with a running event loop.
        errors = await asyncio.to_thread(model.problems)  # type: ignore[attr-defined]
        body = model.model_dump(mode="json")
        view, team_id = request.app[VIEW], request[TEAM_ID]
        if self.check:
            errors += self.check(view, team_id, body)
        if errors:
            raise Unprocessable(f"the {self.kind} is not valid", errors)
        # What this replica knows; the fold decides for writes racing on other replicas.
        same_name = next(
            (e for e in visible(view.all(self.kind, team_id)) if e["name"] == body["name"]), None
        )
        if same_name is not None and same_name["id"] != exclude_id:
            raise Conflict(f"{self.kind} {same_name['id']} already has the name {body['name']!r}")
        return body

    async def _write(
        self, request: web.Request, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> web.Response:
        """`change` applied to the entity held and written, conditional on its version. With
        If-Match a refusal is the client's 409; without, the client asked for its change on
        whatever is current, so a write another replica beat is made again on the new state."""
        conditional = if_match(request) is not None
        for attempt in range(UNCONDITIONAL_TRIES):
            held = await self._expected(request)
            entity = change(held.entity)
            try:
                await self._put(request, entity, held)
            except WriteRefused as refused:
                if (
                    conditional
                    or refused.verdict is not Verdict.STALE
                    or attempt == UNCONDITIONAL_TRIES - 1
                ):
                    raise
                # Jittered and growing: writers that keep beating each other spread out
                # instead of colliding again in lockstep.
                await asyncio.sleep(random.uniform(0, RETRY_PAUSE_S * 2 ** min(attempt, 6)))
                continue
            return self._respond(request, entity, held.version + 1)
        raise AssertionError("unreachable")

    # --- handlers -----------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        body = await self._validated(request, exclude_id=None)
        entity = new_entity(self.kind, request[TEAM_ID], body, request.app[BOX])
        await self._put(request, entity, None)
        return self._respond(request, entity, 1, status=201)

    async def _put(
        self, request: web.Request, entity: dict[str, Any], before: Versioned | None
    ) -> None:
        """The entity, then its companions (deliverable before any issue names them); the
        companions the previous version had and this one has not are deleted."""
        store = request.app[STORE]
        await store.put(
            self.kind, entity, base=before.version if before else None, fresh=before is None
        )
        if self.companions is None:
            return
        now = self.companions(entity)
        for kind, companion in now:
            await put_latest(store, kind, companion)
        kept = {c["id"] for _, c in now}
        for _, gone in self.companions(before.entity) if before else ():
            if gone["id"] not in kept:
                await store.delete(gone["id"])

    async def list(self, request: web.Request) -> web.Response:
        query = read_query(request, ListQuery)
        view = request.app[VIEW]
        items = visible(view.all(self.kind, request[TEAM_ID]))
        if query.name is not None:
            items = [e for e in items if e["name"] == query.name]
        page = paginate(items, query)
        page["models"] = [
            self._out(request, e, version_in(view, self.kind, e)) for e in page["models"]
        ]
        return web.json_response(page)

    async def get(self, request: web.Request) -> web.Response:
        held = self._held(request)
        return self._respond(request, held.entity, held.version)

    async def update(self, request: web.Request) -> web.Response:
        current = self._held(request)
        body = await self._validated(request, exclude_id=current.entity["id"])
        return await self._write(
            request, lambda held: revise(self.kind, held, body, request.app[BOX])
        )

    async def delete(self, request: web.Request) -> web.Response:
        current = (await self._expected(request)).entity
        store, view = request.app[STORE], request.app[VIEW]
        if self.cascade_field is not None:
            for connection in view.all("connection", current["team_id"]):
                if connection[self.cascade_field] == current["id"]:
                    await store.delete(connection["id"])
        for _, companion in self.companions(current) if self.companions else ():
            await store.delete(companion["id"])
        await store.delete(current["id"])
        return web.json_response({"id": current["id"]})

    def action(self, name: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            return await self._write(request, lambda held: with_status(self.kind, held, name))

        handle.__name__ = f"{name}_{self.kind}"
        return handle


def version_in(view: ConfigView, kind: EntityType, entity: dict[str, Any]) -> int:
    held = view.get(kind, entity["id"])
    return held.version if held else 1


async def put_latest(store: ConfigStore, kind: str, entity: dict[str, Any]) -> None:
    """A system entity derived whole from its owner: written over whatever version is held,
    again if another writer's version came first (the owner's own write was decided)."""
    for attempt in range(UNCONDITIONAL_TRIES):
        try:
            await store.put(kind, entity)  # type: ignore[arg-type]
            return
        except WriteRefused as refused:
            if refused.verdict is not Verdict.STALE or attempt == UNCONDITIONAL_TRIES - 1:
                raise


SOURCES = Resource("source", "sources", SourceIn, SourceOut, cascade_field="source_id")
DESTINATIONS = Resource(
    "destination", "destinations", DestinationIn, DestinationOut, cascade_field="destination_id"
)
CONNECTIONS = Resource(
    "connection",
    "connections",
    ConnectionIn,
    ConnectionOut,
    actions=("disable", "enable", "pause", "unpause"),
    check=check_connection,
)
ISSUE_TRIGGERS = Resource(
    "issue_trigger",
    "issue-triggers",
    IssueTriggerIn,
    IssueTriggerOut,
    check=check_trigger,
    companions=companions,
    present=trigger_view,
)
RESOURCES = (SOURCES, DESTINATIONS, CONNECTIONS, ISSUE_TRIGGERS)
