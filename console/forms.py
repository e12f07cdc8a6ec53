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
        head = next((f for f in sorted(fields, key=len, reverse=True)
                     if path == f or re.match(re.escape(f) + r"[.\[]", path)), "_form")
        detail = error.get("message", "")
        inner = path[len(head):].lstrip(".") if head != "_form" else path
        placed.setdefault(head, []).append(f"{inner}: {detail}" if inner else detail)
    return placed


def connection_body(form: Mapping[str, str], current_status: str | None
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
    body = {"name": form.get("name", "").strip(),
            "description": form.get("description", "").strip() or None,
            "source_id": form.get("source_id", ""),
            "destination_id": form.get("destination_id", ""),
            "status": "disabled" if current_status == "disabled" else "enabled", "rules": rules}
    return body, errors


def rule_summary(rule: dict[str, Any]) -> str:
    """One rule in words, for the connections list."""
    # The API answers every section of a rule, unset ones as null: only the set ones read.
    rule = {k: v for k, v in rule.items() if v is not None}
    kind = rule.get("type", "?")
    if kind == "filter":
        parts = [f"{k} {json.dumps(v, separators=(',', ':'))}" for k, v in rule.items()
                 if k != "type"]
        return "filter: " + "; ".join(parts)
    if kind == "retry":
        on = ", ".join(rule.get("response_status_codes") or ["failures"])
        return (f"retry: {rule.get('strategy', '')}, {rule.get('count', '?')} times, every "
                f"{rule.get('interval', '?')} ms, on {on}")
    if kind == "delay":
        return f"delay: {rule.get('delay', '?')} ms"
    if kind == "deduplicate":
        return "deduplicate: " + json.dumps({k: v for k, v in rule.items() if k != "type"})
    if kind == "transform":
        return "transform: " + str(rule.get("name") or rule.get("transformation_id") or "code")
    return json.dumps(rule)
