"""The auth schemes a source verifies and a destination presents, with their defaults and the
`whsec_` secret form: one place the API (which accepts a config), the ingress (which verifies
with it) and the deliverer (which authenticates with it) all read, so a default or a scheme
cannot differ between the config a user wrote and what the gateway does with it."""

from __future__ import annotations

import base64
import binascii

# What a source's `auth_type` may be (null: any request is accepted).
SOURCE_AUTH_TYPES = (
    "BASIC_AUTH",
    "API_KEY",
    "HMAC",
    "TWILIO",
    "STRIPE",
    "GITHUB",
    "SHOPIFY",
    "SLACK",
    "STANDARD_WEBHOOKS",
)
# What a destination's `auth_type` may be (null: nothing added).
DESTINATION_AUTH_TYPES = (
    "FASTHOOK_SIGNATURE",
    "STANDARD_WEBHOOKS",
    "BASIC_AUTH",
    "API_KEY",
    "BEARER_TOKEN",
)

# A source's generic HMAC: what an absent field means.
HMAC_ALGORITHMS = ("sha1", "sha256", "sha512")
HMAC_ENCODINGS = ("hex", "base64", "base64url")
DEFAULT_HMAC_HEADER = "x-webhook-signature"
DEFAULT_HMAC_ALGORITHM = "sha256"
DEFAULT_HMAC_ENCODING = "base64"
# Signed timestamps older (or, but for Stripe, newer) than this are replays: as Stripe and
# Svix, generous for clock skew, short for replays.
DEFAULT_TOLERANCE_S = 300

# A destination's API_KEY: the header it goes in unless told, or the query parameter.
DEFAULT_API_KEY_HEADER = "x-api-key"
API_KEY_PLACES = ("header", "query")

WHSEC_PREFIX = "whsec_"


def whsec_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret as its libraries read it: the base64 after
    an optional `whsec_` (padding optional). ValueError when it is not base64 or is empty."""
    encoded = secret.removeprefix(WHSEC_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64") from None
    if not key:
        raise ValueError("must be whsec_ followed by a non-empty base64 key")
    return key
