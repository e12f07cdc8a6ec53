"""Every route of the API with what it takes and returns: the router and the OpenAPI document
are both built from this table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from api.entities import PREFIX
from api.inputs import ListQuery
from api.models import TeamList, TeamOut, id_path, list_model
from api.resources import RESOURCES, Resource
from api.team import get_team, list_teams, rotate_secret

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Deleted(BaseModel):
    id: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    params: type[BaseModel] | None = None  # the path's parameters
    errors: tuple[int, ...] = (400, 401, 403)
    # Takes If-Match: the version the write is conditional on (409 when it moved on).
    conditional: bool = False


def resource_operations(r: Resource) -> list[Operation]:
    base, item = f"/v1/{r.plural}", f"/v1/{r.plural}/{{id}}"
    tag = r.plural.replace("-", " ").capitalize()
    params = id_path(PREFIX[r.kind])
    label = r.kind.replace("_", " ")
    a = f"{'an' if label[0] in 'aeiou' else 'a'} {label}"
    ops = [
        Operation(
            "POST",
            base,
            r.create,
            f"Create {a}",
            tag,
            r.model_out,
            201,
            body=r.model_in,
            errors=(400, 401, 403, 409, 422),
        ),
        Operation(
            "GET",
            base,
            r.list,
            f"List {r.plural}",
            tag,
            list_model(r.model_out),
            query=ListQuery,
            errors=(400, 401, 403, 422),
        ),
        Operation(
            "GET",
            item,
            r.get,
            f"Get {a}",
            tag,
            r.model_out,
            params=params,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "PUT",
            item,
            r.update,
            f"Update {a}",
            tag,
            r.model_out,
            body=r.model_in,
            params=params,
            errors=(400, 401, 403, 404, 409, 422),
            conditional=True,
        ),
        Operation(
            "DELETE",
            item,
            r.delete,
            f"Delete {a}",
            tag,
            Deleted,
            params=params,
            errors=(400, 401, 403, 404, 409),
            conditional=True,
        ),
    ]
    ops += [
        Operation(
            "PUT",
            f"{item}/{action}",
            r.action(action),
            f"{action.capitalize()} {a}",
            tag,
            r.model_out,
            params=params,
            errors=(400, 401, 403, 404, 409),
            conditional=True,
        )
        for action in r.actions
    ]
    return ops


OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/v1/teams",
        list_teams,
        "The teams the key serves (no x-team-id needed)",
        "Team",
        TeamList,
        errors=(401, 403),
    ),  # 403: a team named that the key does not serve
    Operation("GET", "/v1/team", get_team, "The current team", "Team", TeamOut),
    Operation(
        "POST",
        "/v1/team/signing-secret/rotate",
        rotate_secret,
        "Rotate the destination signing secret",
        "Team",
        TeamOut,
    ),
    *(op for r in RESOURCES for op in resource_operations(r)),
]


def api_routes() -> list[web.RouteDef]:
    return [web.route(op.method, op.path, op.handler) for op in OPERATIONS]
