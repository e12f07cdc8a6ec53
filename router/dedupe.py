"""Which requests count as the same for a deduplicate rule: a key from chosen fields."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from router.outgoing import PROVIDER_FIELDS

_MISSING = object()


def _at(view: dict[str, Any], path: str) -> Any:
    node: Any = view
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part.lower() if node is view.get("headers") else part, _MISSING)
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _without(view: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    copy = json.loads(json.dumps(view, default=str))
    for path in paths:
        *parents, last = path.split(".")
        node = copy
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last.lower() if parents == ["headers"] else last, None)
    return copy


def dedupe_key(connection_id: str, rule: dict[str, Any], view: dict[str, Any]) -> str:
    """Same key ⇔ duplicate. include_fields: only those fields count (event_type and
    idempotency_key among them: the provider's delivery id needs no path by hand);
    exclude_fields: all but those; neither: the whole request (headers, body, path, query —
    the provider fields derive from those, so they add nothing and keys stay as they were)."""
    whole = {k: view[k] for k in ("headers", "body", "path", "query")}
    if rule.get("include_fields"):
        named = {**whole, **{k: view[k] for k in PROVIDER_FIELDS if k in view}}
        basis: Any = [
            [p, _at(named, p) if _at(named, p) is not _MISSING else None]
            for p in rule["include_fields"]
        ]
    elif rule.get("exclude_fields"):
        basis = _without(whole, rule["exclude_fields"])
    else:
        basis = whole
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()
    return f"{connection_id}:{digest[:32]}"
