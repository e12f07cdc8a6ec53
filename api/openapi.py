"""The OpenAPI 3.1 document, generated from the route table and the pydantic models that
validate requests — so the spec cannot drift from what the API enforces."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, JsonSchemaValue, models_json_schema

from api.forward import HTTP, hop_headers, projections_url
from api.models import Problem, id_pattern
from api.routes import OPERATIONS, Operation

REF = "#/components/schemas/{model}"
TITLES = {
    400: "Bad request",
    401: "No or invalid API key",
    403: "Team not served by this key",
    404: "Not found",
    409: "Name already used, or another write came first (a stale If-Match)",
    422: "Invalid fields (paths in errors)",
}


IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The version (ETag) the write applies to; 409 if it moved on",
    "schema": {"type": "string", "pattern": r'^(W/)?"?[1-9][0-9]*"?$'},
}


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without pydantic's `X | None` branch: in a URL, "none" is not
    sending the parameter (a value is always a string, never JSON's null)."""
    branches = [b for b in prop.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) != 1:
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest, **branches[0]}


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": _not_null(prop),
        }
        for name, prop in schema["properties"].items()
    ]


# A model as a request body ("validation") or an answer ("serialization").
ModelUse = tuple[type[BaseModel], JsonSchemaMode]
# The `$ref` of a model in that use.
Ref = Callable[[type[BaseModel], JsonSchemaMode], JsonSchemaValue]


def _operation(op: Operation, ref: Ref) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {
            "name": "x-team-id",
            "in": "header",
            "required": False,
            "description": "The team, when the key serves several",
            "schema": {"type": "string", "pattern": id_pattern("tm")},
        },
        *_parameters(op.params, "path"),
        *_parameters(op.query, "query"),
        *([IF_MATCH] if op.conditional else []),
    ]
    problem = {"application/problem+json": {"schema": ref(Problem, "serialization")}}
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "OK" if op.status == 200 else "Created",
            "content": {"application/json": {"schema": ref(op.response, "serialization")}},
        },
        **{str(code): {"description": TITLES[code], "content": problem} for code in op.errors},
    }
    spec: dict[str, Any] = {
        "operationId": op.handler.__name__
        + "_"
        + op.path.strip("/").replace("/", "_").replace("{", "").replace("}", ""),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
    }
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(op.body, "validation")}},
        }
    return spec


@cache
def openapi_document() -> dict[str, Any]:
    models: set[ModelUse] = {(Problem, "serialization")}
    for op in OPERATIONS:
        models.add((op.response, "serialization"))
        if op.body is not None:
            models.add((op.body, "validation"))
    refs, defs = models_json_schema(
        sorted(models, key=lambda m: (m[0].__name__, m[1])), ref_template=REF
    )

    def ref(model: type[BaseModel], use: JsonSchemaMode) -> JsonSchemaValue:
        return refs[(model, use)]

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FastHook API",
            "version": "1",
            "description": "Sources, destinations and connections of a FastHook team.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key, fhp_…"}
            },
        },
    }


TEAM_PARAMETER = {
    "name": "x-team-id",
    "in": "header",
    "required": False,
    "description": "The team, when the key serves several",
    "schema": {"type": "string", "pattern": "^tm_[0-9A-Za-z_]+$"},
}


def merged(document: dict[str, Any], forwarded: dict[str, Any]) -> dict[str, Any]:
    """The API's document plus the routes it forwards, as the projections service describes
    them; every forwarded route also answers like any /v1 route (auth) and 503 (unreachable)."""
    out = {
        **document,
        "paths": dict(document["paths"]),
        "components": {
            **document["components"],
            "schemas": {**forwarded["components"]["schemas"], **document["components"]["schemas"]},
        },
    }
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    for path, operations in forwarded["paths"].items():
        for method, operation in operations.items():
            responses = {
                **operation["responses"],
                **{
                    str(code): {"description": TITLES.get(code, "Unavailable"), "content": problem}
                    for code in (400, 401, 403, 503)
                },
            }
            out["paths"].setdefault(path, {})[method] = {
                **operation,
                "operationId": f"{method}_{path.strip('/')}".replace("/", "_")
                .replace("{", "")
                .replace("}", "")
                .replace("-", "_"),
                "parameters": [TEAM_PARAMETER, *operation["parameters"]],
                "responses": responses,
            }
    return out


async def openapi_json(request: web.Request) -> web.Response:
    url = projections_url(request.app, "/openapi-paths.json")
    try:
        async with request.app[HTTP].get(
            url, headers=hop_headers(request.app), timeout=aiohttp.ClientTimeout(total=2)
        ) as answer:
            if answer.status == 200:
                return web.json_response(merged(openapi_document(), await answer.json()))
    except (aiohttp.ClientError, TimeoutError):
        pass  # the query service is down: the control-plane routes are still described
    return web.json_response(openapi_document())
