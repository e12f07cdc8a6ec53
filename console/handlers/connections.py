"""Connections grouped by source; create and edit sources, destinations, connections; pause,
enable; the team's signing secret on explicit action."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from console.errors import ApiError
from console.forms import (
    connection_body,
    entity_body,
    entity_errors,
    entity_values,
    field_errors,
    rule_summary,
    secret_field,
)
from console.pages import api, redirect, render

ACTIONS = {"pause", "unpause", "enable", "disable"}
KINDS = {"sources", "destinations", "connections"}


async def _all(request: web.Request, kind: str) -> list[dict[str, Any]]:
    page = await api(request, "GET", f"/v1/{kind}", {"limit": "250"})
    models: list[dict[str, Any]] = page["models"]
    return models


async def connections_page(request: web.Request) -> web.Response:
    sources = await _all(request, "sources")
    connections = await _all(request, "connections")
    destinations = {d["id"]: d for d in await _all(request, "destinations")}
    groups = [(s, [c for c in connections if c["source_id"] == s["id"]]) for s in sources]
    return render(
        request,
        "connections.html",
        {
            "groups": groups,
            "destinations": destinations,
            "rule_summary": rule_summary,
            "destination_list": list(destinations.values()),
        },
    )


async def act(request: web.Request) -> web.StreamResponse:
    kind, entity_id, action = (request.match_info[k] for k in ("kind", "id", "action"))
    if kind not in KINDS or action not in ACTIONS:
        raise web.HTTPNotFound()
    await api(request, "PUT", f"/v1/{kind}/{entity_id}/{action}")
    return redirect(request, "/connections")


async def _connection_form(
    request: web.Request,
    connection: dict[str, Any] | None,
    values: dict[str, Any],
    errors: dict[str, list[str]],
) -> web.Response:
    # A form shown again with its errors answers 200: the page is what was asked for, and a
    # 4xx document is logged as an error by the browser.
    return render(
        request,
        "connection_form.html",
        {
            "connection": connection,
            "values": values,
            "errors": errors,
            "sources": await _all(request, "sources"),
            "destinations": await _all(request, "destinations"),
        },
    )


def _values(connection: dict[str, Any]) -> dict[str, Any]:
    return {**connection, "rules": json.dumps(connection["rules"], indent=2)}


async def connection_edit(request: web.Request) -> web.Response:
    entity_id = request.match_info.get("id")
    if entity_id is None:
        values = {"source_id": request.query.get("source_id", ""), "rules": "[]"}
        return await _connection_form(request, None, values, {})
    connection = await api(request, "GET", f"/v1/connections/{entity_id}")
    return await _connection_form(request, connection, _values(connection), {})


async def connection_save(request: web.Request) -> web.StreamResponse:
    entity_id = request.match_info.get("id")
    form = {k: str(v) for k, v in (await request.post()).items()}
    current = await api(request, "GET", f"/v1/connections/{entity_id}") if entity_id else None
    body, errors = connection_body(form, current["status"] if current else None)
    if not errors:
        try:
            if current:
                await api(request, "PUT", f"/v1/connections/{entity_id}", json=body)
            else:
                await api(request, "POST", "/v1/connections", json=body)
            return redirect(request, "/connections")
        except ApiError as exc:
            if exc.status not in (400, 409, 422):
                raise
            errors = field_errors(
                exc.errors or [{"path": "", "message": exc.detail}],
                ("name", "description", "source_id", "destination_id", "rules", "status"),
            )
    return await _connection_form(
        request, current, {**body, "rules": form.get("rules", "")}, errors
    )


SOURCE_FIELDS = ("name", "description", "config.allowed_http_methods", "config")
DESTINATION_FIELDS = ("name", "description", "config.url", "config")


async def entity_new(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind not in ("sources", "destinations"):
        raise web.HTTPNotFound()
    return render(request, "entity_form.html", {"kind": kind, "values": {}, "errors": {}})


async def entity_create(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    if kind not in ("sources", "destinations"):
        raise web.HTTPNotFound()
    form = {k: str(v).strip() for k, v in (await request.post()).items()}
    body: dict[str, Any] = {
        "name": form.get("name", ""),
        "description": form.get("description") or None,
    }
    if kind == "destinations":
        body["config"] = {"url": form.get("url", "")}
    try:
        created = await api(request, "POST", f"/v1/{kind}", json=body)
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        fields = SOURCE_FIELDS if kind == "sources" else DESTINATION_FIELDS
        errors = field_errors(exc.errors or [{"path": "", "message": exc.detail}], fields)
        if "config.url" in errors:
            errors["url"] = errors.pop("config.url")
        return render(request, "entity_form.html", {"kind": kind, "values": form, "errors": errors})
    if kind == "sources":
        return redirect(request, f"/connections#{created['id']}")
    return redirect(request, "/connections")


def _entity_kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in ("sources", "destinations"):
        raise web.HTTPNotFound()
    return kind


def _entity_form(
    request: web.Request,
    kind: str,
    entity: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, list[str]],
) -> web.Response:
    # Shown again with its errors it answers 200, as the connection editor does.
    return render(
        request,
        "entity_form.html",
        {
            "kind": kind,
            "entity": entity,
            "values": values,
            "errors": errors,
            "secret": secret_field(kind, entity.get("config") or {}),
        },
    )


async def entity_edit(request: web.Request) -> web.Response:
    kind = _entity_kind(request)
    entity = await api(request, "GET", f"/v1/{kind}/{request.match_info['id']}")
    return _entity_form(request, kind, entity, entity_values(kind, entity), {})


async def entity_save(request: web.Request) -> web.StreamResponse:
    kind = _entity_kind(request)
    entity_id = request.match_info["id"]
    entity = await api(request, "GET", f"/v1/{kind}/{entity_id}")
    form = {k: str(v) for k, v in (await request.post()).items()}
    body, errors = entity_body(kind, form, entity)
    if not errors:
        try:
            await api(request, "PUT", f"/v1/{kind}/{entity_id}", json=body)
            return redirect(request, f"/connections#{entity_id}")
        except ApiError as exc:
            if exc.status not in (400, 409, 422):
                raise
            errors = entity_errors(exc.errors or [{"path": "", "message": exc.detail}])
    values = {k: v for k, v in form.items() if k not in ("secret", "csrf")}  # never echoed
    return _entity_form(request, kind, entity, values, errors)


async def signing_secret(request: web.Request) -> web.Response:
    """Shown only on this explicit request (a POST: never in a cacheable GET)."""
    team = await api(request, "GET", "/v1/team")
    return render(request, "_secret.html", {"team": team})


async def rotate_secret(request: web.Request) -> web.Response:
    team = await api(request, "POST", "/v1/team/signing-secret/rotate")
    return render(request, "_secret.html", {"team": team, "rotated": True})
