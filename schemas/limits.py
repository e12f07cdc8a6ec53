"""The gateway's limits — one value each, part of the contract, honoured by every producer and
consumer (ARCHITECTURE.md, "Limits are one value each").

Settings may lower a limit for one deployment (``FASTHOOK_MAX_BODY_BYTES``, …), never raise it
above what is here: the topics' message size and every Kafka client are sized from these values,
so a body the ingress accepts always fits through the router and the deliverer.
"""

from __future__ import annotations

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
