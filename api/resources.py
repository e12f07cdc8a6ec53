"""Sources, destinations and connections: one set of handlers, configured per resource."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api.entities import new_entity, public, revise, with_status
from api.errors import Conflict, NotFound, Unprocessable
from api.keys import BOX, SETTINGS, STORE, TEAM_ID, VIEW
from api.models import (
    ConnectionIn,
    ConnectionOut,
    DestinationIn,
    DestinationOut,
    SourceIn,
    SourceOut,
)
from api.requests import ListQuery, paginate, read_model, read_query
from api.view import ConfigView

Checker = Callable[[ConfigView, str, dict[str, Any]], list[tuple[str, str]]]


def check_connection(view: ConfigView, team_id: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    errors = []
    if view.get("source", body["source_id"], team_id) is None:
        errors.append(("source_id", f"no source {body['source_id']} in this team"))
    if view.get("destination", body["destination_id"], team_id) is None:
        errors.append(("destination_id", f"no destination {body['destination_id']} in this team"))
    return errors


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    model_in: type[BaseModel]
    model_out: type[BaseModel]
    actions: tuple[str, ...] = ("disable", "enable")
    check: Checker | None = None
    # Deleting a source or destination deletes the connections that use it.
    cascade_field: str | None = None

    # --- helpers ------------------------------------------------------------------------
    def _out(self, request: web.Request, entity: dict[str, Any]) -> dict[str, Any]:
        view = public(self.kind, entity, request.app[SETTINGS].public_base_url)
        return self.model_out.model_validate(view).model_dump(mode="json")

    def _held(self, request: web.Request) -> dict[str, Any]:
        held = request.app[VIEW].get(self.kind, request.match_info["id"], request[TEAM_ID])
        if held is None:
            raise NotFound(f"no {self.kind} {request.match_info['id']}")
        return held.entity

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
        same_name = view.named(self.kind, team_id, body["name"])
        if same_name is not None and same_name["id"] != exclude_id:
            raise Conflict(f"{self.kind} {same_name['id']} already has the name {body['name']!r}")
        return body

    # --- handlers -----------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        body = await self._validated(request, exclude_id=None)
        entity = new_entity(self.kind, request[TEAM_ID], body, request.app[BOX])
        await request.app[STORE].put(self.kind, entity)
        return web.json_response(self._out(request, entity), status=201)

    async def list(self, request: web.Request) -> web.Response:
        query = read_query(request, ListQuery)
        items = request.app[VIEW].all(self.kind, request[TEAM_ID])
        if query.name is not None:
            items = [e for e in items if e["name"] == query.name]
        page = paginate(items, query)
        page["models"] = [self._out(request, e) for e in page["models"]]
        return web.json_response(page)

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(self._out(request, self._held(request)))

    async def update(self, request: web.Request) -> web.Response:
        current = self._held(request)
        body = await self._validated(request, exclude_id=current["id"])
        entity = revise(self.kind, current, body, request.app[BOX])
        await request.app[STORE].put(self.kind, entity)
        return web.json_response(self._out(request, entity))

    async def delete(self, request: web.Request) -> web.Response:
        current = self._held(request)
        store, view = request.app[STORE], request.app[VIEW]
        if self.cascade_field is not None:
            for connection in view.all("connection", current["team_id"]):
                if connection[self.cascade_field] == current["id"]:
                    await store.delete(connection["id"])
        await store.delete(current["id"])
        return web.json_response({"id": current["id"]})

    def action(self, name: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            entity = with_status(self.kind, self._held(request), name)
            await request.app[STORE].put(self.kind, entity)
            return web.json_response(self._out(request, entity))

        handle.__name__ = f"{name}_{self.kind}"
        return handle


SOURCES = Resource("source", "sources", SourceIn, SourceOut, cascade_field="source_id")
DESTINATIONS = Resource("destination", "destinations", DestinationIn, DestinationOut,
                        cascade_field="destination_id")
CONNECTIONS = Resource("connection", "connections", ConnectionIn, ConnectionOut,
                       actions=("disable", "enable", "pause", "unpause"), check=check_connection)
RESOURCES = (SOURCES, DESTINATIONS, CONNECTIONS)
