"""The OpenAPI paths of the routes this service answers behind the API, generated from the
same models that validate their parameters and bodies. The API merges them into its own
`/v1/openapi.json`, so the spec users read covers every route and cannot drift from what
this service enforces."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from projections.operations import OPERATIONS, REF

PROBLEM = {"$ref": "#/components/schemas/Problem"}  # the API's own problem model
# The provider's bytes under the provider's content type, whatever it was.
ANY_BYTES = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


@cache
def openapi_paths() -> dict[str, Any]:
    """`{"paths": …, "components": {"schemas": …}}` for the API to merge."""
    bindings = [op.binding for op in OPERATIONS]
    models: set[tuple[type[BaseModel], JsonSchemaMode]] = {
        (m, "validation") for b in bindings for m in (b.query, b.body) if isinstance(m, type)
    }
    models |= {(b.answer, "serialization") for b in bindings if b.answer}
    refs, defs = models_json_schema(
        sorted(models, key=lambda m: (m[0].__name__, m[1])), ref_template=REF, by_alias=True
    )
    paths: dict[str, dict[str, Any]] = {}
    for route, binding in OPERATIONS:
        params: list[dict[str, Any]] = []
        if "{id}" in route.path:
            params.append(
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            )
        if binding.query is not None:
            schema = binding.query.model_json_schema(ref_template=REF, by_alias=True)
            required = set(schema.get("required", []))
            params += [
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": {k: v for k, v in prop.items() if k != "default"},
                }
                for name, prop in schema["properties"].items()
            ]
        answer = (
            ANY_BYTES
            if binding.answer is None
            else {"application/json": {"schema": refs[(binding.answer, "serialization")]}}
        )
        operation: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "parameters": params,
            "responses": {
                str(route.status): {
                    "description": "OK" if route.status == 200 else "Accepted",
                    "content": answer,
                },
                **{
                    str(code): {
                        "description": "Problem",
                        "content": {"application/problem+json": {"schema": PROBLEM}},
                    }
                    for code in route.errors
                },
            },
        }
        body = binding.body
        if body is not None:
            operation["requestBody"] = {
                "required": binding.body_required,
                "content": {
                    "application/json": {
                        "schema": body if isinstance(body, dict) else refs[(body, "validation")]
                    }
                },
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {"paths": paths, "components": {"schemas": defs.get("$defs", {})}}
