"""The OpenAPI 3.1 document, generated from the route table and the pydantic models that
validate requests — so the spec cannot drift from what the API enforces."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.models import Problem, id_pattern
from api.routes import OPERATIONS, Operation

REF = "#/components/schemas/{model}"
TITLES = {400: "Bad request", 401: "No or invalid API key", 403: "Team not served by this key",
          404: "Not found", 409: "Name already used", 422: "Invalid fields (paths in errors)"}


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
        {"name": name, "in": where, "required": where == "path" or name in required,
         "schema": _not_null(prop)}
        for name, prop in schema["properties"].items()
    ]


def _operation(op: Operation, refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "x-team-id", "in": "header", "required": False,
         "description": "The team, when the key serves several",
         "schema": {"type": "string", "pattern": id_pattern("tm")}},
        *_parameters(op.params, "path"),
        *_parameters(op.query, "query"),
    ]
    problem = {"application/problem+json": {"schema": refs[(Problem, "serialization")]}}
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "OK" if op.status == 200 else "Created",
            "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
        },
        **{str(code): {"description": TITLES[code], "content": problem} for code in op.errors},
    }
    spec: dict[str, Any] = {
        "operationId": op.handler.__name__ + "_" + op.path.strip("/").replace("/", "_")
        .replace("{", "").replace("}", ""),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
    }
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    return spec


@cache
def openapi_document() -> dict[str, Any]:
    models = {(Problem, "serialization")}
    for op in OPERATIONS:
        if op.response is not None:
            models.add((op.response, "serialization"))
        if op.body is not None:
            models.add((op.body, "validation"))
    refs, defs = models_json_schema(sorted(models, key=lambda m: (m[0].__name__, m[1])),
                                    ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "FastHook API", "version": "1",
                 "description": "Sources, destinations and connections of a FastHook team."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key, fhp_…"}},
        },
    }


async def openapi_json(_: web.Request) -> web.Response:
    return web.json_response(openapi_document())
