"""The provider-aware view of a request: its event type and idempotency key, where the
provider names them.

Computed once at the edge and kept on the RequestReceived record, so filters, the deduplicate
rule and search see the same values the evidence shows, and a replay carries them unchanged.

Detection is by the provider's own headers, whatever the source's auth type:

============================  ==============================  ===================================
provider (detected by)        event type                      idempotency key
============================  ==============================  ===================================
GitHub (X-GitHub-Event)       X-GitHub-Event                  X-GitHub-Delivery
Shopify (X-Shopify-Topic)     X-Shopify-Topic                 X-Shopify-Event-Id, else
                                                              X-Shopify-Webhook-Id
Stripe (Stripe-Signature)     JSON body ``type``              JSON body ``id`` (``evt_…``)
Standard Webhooks             JSON body ``type``              webhook-id (svix-id)
(webhook-id, or svix-id)
Slack (X-Slack-Signature)     JSON ``event.type``, else       JSON ``event_id``
                              ``type`` (url_verification)
Twilio                        —                               I-Twilio-Idempotency-Token
(I-Twilio-Idempotency-Token)
============================  ==============================  ===================================

Bounded and total: the body is parsed as JSON only when a provider header says the provider
sends JSON (and the ingress already caps it at schemas.limits.MAX_BODY_BYTES); each value is
cut to MAX_VALUE_CHARS; no input makes ``provider_view`` raise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MAX_VALUE_CHARS", "ProviderView", "provider_view"]

# Longer than any provider's id or event name; keeps the search text and dedupe keys small.
MAX_VALUE_CHARS = 256

# (event type, idempotency key)
ProviderView = tuple[str | None, str | None]
_NOTHING: ProviderView = (None, None)
_MISSING = object()


def provider_view(headers: Iterable[Mapping[str, Any]], body: bytes) -> ProviderView:
    """(event type, idempotency key) of a request with these header records and body.

    `headers` are the record's header dicts (``name``, ``value``); the first of a repeated
    header counts. Neither value is known → (None, None).
    """
    try:
        return _view(_first_values(headers), body)
    except Exception:  # a hostile request must never cost the gateway its evidence
        return _NOTHING


def _first_values(headers: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for h in headers:
        name, value = h.get("name"), h.get("value")
        if isinstance(name, str) and isinstance(value, str):
            out.setdefault(name.lower(), value)
    return out


def _view(h: dict[str, str], body: bytes) -> ProviderView:
    if "x-github-event" in h:
        return _clean(h["x-github-event"]), _clean(h.get("x-github-delivery"))
    if "x-shopify-topic" in h:
        key = _clean(h.get("x-shopify-event-id")) or _clean(h.get("x-shopify-webhook-id"))
        return _clean(h["x-shopify-topic"]), key
    if "stripe-signature" in h:
        data = _json_object(body)
        return _clean(data.get("type")), _clean(data.get("id"))
    standard_id = h.get("webhook-id", h.get("svix-id"))
    if standard_id is not None:
        return _clean(_json_object(body).get("type")), _clean(standard_id)
    if "x-slack-signature" in h:
        data = _json_object(body)
        event = data.get("event")
        inner = event.get("type") if isinstance(event, dict) else None
        return _clean(inner) or _clean(data.get("type")), _clean(data.get("event_id"))
    if "i-twilio-idempotency-token" in h:
        return None, _clean(h["i-twilio-idempotency-token"])
    return _NOTHING


def _json_object(body: bytes) -> dict[str, Any]:
    """The body's top-level JSON object, or {} (not JSON, not an object, too deep...)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _clean(value: object) -> str | None:
    """A provider value as stored: a non-blank UTF-8 string, trimmed and capped; else None."""
    if not isinstance(value, str):
        return None
    # A JSON string may hold a lone surrogate, which no record (Avro, UTF-8) can carry.
    value = value.strip()[:MAX_VALUE_CHARS].rstrip().encode("utf-8", "replace").decode("utf-8")
    return value or None
