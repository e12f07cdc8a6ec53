"""Pure: the API's validation errors placed at a form's fields, and form values as API bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


def field_errors(errors: list[dict[str, str]], fields: tuple[str, ...]) -> dict[str, list[str]]:
    """The API's `[{path, message}]` grouped under the form field each path starts with
    (`rules[0].body.X` → rules, `config.url` → config.url); the rest under `_form`."""
    placed: dict[str, list[str]] = {}
    for error in errors:
        path = error.get("path", "")
        head = next(
            (
                f
                for f in sorted(fields, key=len, reverse=True)
                if path == f or re.match(re.escape(f) + r"[.\[]", path)
            ),
            "_form",
        )
        detail = error.get("message", "")
        inner = path[len(head) :].lstrip(".") if head != "_form" else path
        placed.setdefault(head, []).append(f"{inner}: {detail}" if inner else detail)
    return placed


def connection_body(
    form: Mapping[str, str], current_status: str | None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The PUT/POST body of a connection from the editor, or the rules field's JSON problem.
    A paused connection stays paused (the API keeps `paused_at` when `status` is enabled)."""
    errors: dict[str, list[str]] = {}
    text = form.get("rules", "").strip() or "[]"
    try:
        rules = json.loads(text)
    except ValueError as exc:
        rules = []
        errors["rules"] = [f"not JSON: {exc}"]
    body = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip() or None,
        "source_id": form.get("source_id", ""),
        "destination_id": form.get("destination_id", ""),
        "status": "disabled" if current_status == "disabled" else "enabled",
        "rules": rules,
    }
    return body, errors


def rule_summary(rule: dict[str, Any]) -> str:
    """One rule in words, for the connections list."""
    # The API answers every section of a rule, unset ones as null: only the set ones read.
    rule = {k: v for k, v in rule.items() if v is not None}
    kind = rule.get("type", "?")
    if kind == "filter":
        parts = [
            f"{k} {json.dumps(v, separators=(',', ':'))}" for k, v in rule.items() if k != "type"
        ]
        return "filter: " + "; ".join(parts)
    if kind == "retry":
        on = ", ".join(rule.get("response_status_codes") or ["failures"])
        return (
            f"retry: {rule.get('strategy', '')}, {rule.get('count', '?')} times, every "
            f"{rule.get('interval', '?')} ms, on {on}"
        )
    if kind == "delay":
        return f"delay: {rule.get('delay', '?')} ms"
    if kind == "deduplicate":
        return "deduplicate: " + json.dumps({k: v for k, v in rule.items() if k != "type"})
    if kind == "transform":
        return "transform: " + str(rule.get("name") or rule.get("transformation_id") or "code")
    return json.dumps(rule)


# The secret field of each auth_type (write-only in the API: it never answers them, so an
# edit that sends a configuration must carry the secret again).
AUTH_SECRETS: dict[str, dict[str, str]] = {
    "sources": {
        "BASIC_AUTH": "password",
        "API_KEY": "api_key",
        "HMAC": "webhook_secret_key",
        "TWILIO": "auth_token",
        "STRIPE": "webhook_secret_key",
        "GITHUB": "webhook_secret_key",
        "SHOPIFY": "webhook_secret_key",
        "SLACK": "signing_secret",
        "STANDARD_WEBHOOKS": "webhook_secret_key",
    },
    "destinations": {"BASIC_AUTH": "password", "API_KEY": "api_key", "BEARER_TOKEN": "token"},
}
# Form field ← the API error paths it shows (the longest prefix wins).
ENTITY_FIELDS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "config.url": "url",
    "config.http_method": "http_method",
    "config.path_forwarding": "path_forwarding",
    "config.allowed_http_methods": "allowed_http_methods",
    "config.auth": "secret",
    "config": "_form",
}


def secret_field(kind: str, config: Mapping[str, Any]) -> str | None:
    """The name of the secret the entity's auth holds, if it holds one."""
    return AUTH_SECRETS.get(kind, {}).get(str(config.get("auth_type")))


def entity_values(kind: str, entity: Mapping[str, Any]) -> dict[str, str]:
    """An existing source or destination as its edit form's values (no secret: the API never
    returns one)."""
    config = entity.get("config") or {}
    values = {"name": entity.get("name") or "", "description": entity.get("description") or ""}
    if kind == "destinations":
        values |= {
            "url": config.get("url") or "",
            "http_method": config.get("http_method") or "",
            "path_forwarding": "on" if config.get("path_forwarding") else "",
        }
    else:
        values["allowed_http_methods"] = ", ".join(config.get("allowed_http_methods") or [])
    return values


def entity_body(
    kind: str, form: Mapping[str, str], current: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The PUT body of an edited source or destination: the form's fields over what the
    entity has (its type, status, auth and other settings kept), or the errors found before
    asking the API."""
    config = dict(current.get("config") or {})
    errors: dict[str, list[str]] = {}
    if kind == "destinations":
        config["url"] = form.get("url", "").strip()
        config["http_method"] = form.get("http_method", "").strip() or None
        config["path_forwarding"] = form.get("path_forwarding") == "on"
    else:
        config["allowed_http_methods"] = [
            m for m in re.split(r"[\s,]+", form.get("allowed_http_methods", "").upper()) if m
        ]
    secret = secret_field(kind, config)
    if secret:
        value = form.get("secret", "")
        if value:
            config["auth"] = {**(config.get("auth") or {}), secret: value}
        else:
            errors["secret"] = [
                f"enter the {secret.replace('_', ' ')} again: the API never "
                "returns it, and saving sends the whole configuration"
            ]
    body = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip() or None,
        "status": current.get("status") or "enabled",
        "config": config,
    }
    if current.get("type"):
        body["type"] = current["type"]
    return body, errors


def entity_errors(errors: list[dict[str, str]]) -> dict[str, list[str]]:
    """The API's errors about a source or destination, under the edit form's fields."""
    placed = field_errors(errors, tuple(ENTITY_FIELDS))
    out: dict[str, list[str]] = {}
    for path, messages in placed.items():
        out.setdefault(ENTITY_FIELDS.get(path, "_form"), []).extend(messages)
    return out
