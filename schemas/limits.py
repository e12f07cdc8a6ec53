"""The gateway's limits — one value each, part of the contract, honoured by every producer and
consumer (ARCHITECTURE.md, "Limits are one value each").

Settings may lower a limit for one deployment (``FASTHOOK_MAX_BODY_BYTES``, …), never raise it
above what is here: the topics' message size and every Kafka client are sized from these values,
so a body the ingress accepts always fits through the router and the deliverer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

KIB = 1024
MIB = 1024 * KIB

# A request or a transformation's output body.
MAX_BODY_BYTES = 5 * MIB
# Headers of one request: how many, and how long one header line (name + value) may be.
MAX_HEADER_COUNT = 100
MAX_HEADER_BYTES = 16 * KIB
# Fields of a form body that the gateway parses (Twilio signatures, filters, search text).
MAX_FORM_FIELDS = 1000
# How much of a rejected request's body is kept as evidence (its headers are kept whole).
MAX_REJECTED_BODY_BYTES = 64 * KIB
# One record on any topic: the largest body, every header at its largest, and the envelope
# (ids, times, the outgoing request of an event). Producers' max_request_size, consumers'
# fetch sizes and the topics' max.message.bytes all use this one number.
MAX_MESSAGE_BYTES = MAX_BODY_BYTES + MAX_HEADER_COUNT * MAX_HEADER_BYTES + MIB

# Loops: every delivery carries how many gateway hops the request has made; a request that
# arrives with this many hops already is not delivered again (ignored, cause LOOP_DETECTED).
HOP_HEADER = "x-fasthook-hops"
MAX_HOPS = 5
# ASCII digits only: int() would also take "²"-like digits, signs and underscores.
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_HOPS_CEILING = 10**18


def hop_count(headers: Iterable[Mapping[str, Any]]) -> int:
    """How many gateway hops a request has made: its HOP_HEADER (header records, as on the
    topics), 0 when absent or not an integer. With several such headers the largest counts, so
    a repeat cannot lower it; a count too long for int() saturates (it is far past MAX_HOPS)."""
    counts = [
        _saturated(h["value"].strip())
        for h in headers
        if h["name"].lower() == HOP_HEADER and _DIGITS.fullmatch(h["value"].strip())
    ]
    return max(counts, default=0)


def _saturated(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _HOPS_CEILING
