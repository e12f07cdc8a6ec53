"""Verify that an ingress request really comes from the provider configured on its source.

Pure (stdlib and the contract's limits only), so the HTTP layer, replays and tests all share
one implementation. The error contract is ``ingress.verification``'s; the provider presets
(Stripe, GitHub, …) live in ``ingress.presets``.

HMAC defaults (``schemas.auth``): algorithm ``sha256``, encoding ``base64``, header
``x-webhook-signature``, ``tolerance_seconds`` 300 (only with ``timestamp_header``; ``None``
disables the check and then the timestamp is signed as-is without being parsed).
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from ingress.presets import PRESET_VERIFIERS
from ingress.verification import (
    IncomingRequest,
    Verification,
    fail,
    header_get,
    matches_any,
    optional,
    require,
    timestamp_problem,
    utf8,
)
from schemas.auth import (
    DEFAULT_HMAC_ALGORITHM,
    DEFAULT_HMAC_ENCODING,
    DEFAULT_HMAC_HEADER,
    DEFAULT_TOLERANCE_S,
    HMAC_ALGORITHMS,
    HMAC_ENCODINGS,
)
from schemas.limits import MAX_FORM_FIELDS

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
TWILIO_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_HMAC_ALGORITHMS = {name: getattr(hashlib, name) for name in HMAC_ALGORITHMS}
_HMAC_ENCODINGS = frozenset(HMAC_ENCODINGS)
_TWILIO_ALGORITHMS = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
_DEFAULT_PORTS = {"https": "443", "http": "80"}


def verify(
    auth_type: str | None,
    auth: Mapping[str, Any] | None,
    request: IncomingRequest,
    *,
    now: float | None = None,
) -> Verification:
    """Check ``request`` against a source's ``auth_type``/``auth`` config."""
    if auth_type is None or auth_type.upper() == "NONE":
        return Verification("NONE", True, None)
    kind = auth_type.upper()
    verifier = _VERIFIERS.get(kind)
    if verifier is None:
        raise ValueError(f"unknown auth_type {auth_type!r}")
    if auth is None:
        raise ValueError(f"auth_type {kind} needs an auth config")
    return verifier(auth, request, time.time() if now is None else now)


def credential_header(auth_type: str | None, auth: Mapping[str, Any] | None) -> str | None:
    """The header carrying the source's own shared secret, which must not be stored or forwarded.

    Only BASIC_AUTH and API_KEY present the secret itself. HMAC and Twilio signatures are
    derived from it and bound to the body: receivers re-validate them, so they are evidence.
    """
    kind = (auth_type or "").upper()
    if kind == "BASIC_AUTH":
        return "authorization"
    if kind == "API_KEY" and auth is not None:
        # A config without a header name verifies nothing (verify says so); here it names none,
        # so a disabled source or a refused method still gets its own answer, not an error.
        header = auth.get("header_key")
        return header if isinstance(header, str) and header else None
    return None


def _verify_basic(auth: Mapping[str, Any], request: IncomingRequest, now: float) -> Verification:
    username = require(auth, "username", "BASIC_AUTH", allow_empty=True)
    password = require(auth, "password", "BASIC_AUTH", allow_empty=True)
    header = header_get(request.headers, "authorization")
    if header is None:
        return fail("BASIC_AUTH", "missing Authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return fail("BASIC_AUTH", "Authorization header is not Basic")
    try:
        presented = base64.b64decode(token.strip(), validate=True)
    except ValueError:  # binascii.Error and non-ASCII input are both ValueError
        return fail("BASIC_AUTH", "malformed Basic credentials")
    # Compare the whole "user:pass" so neither half leaks through timing.
    if not hmac.compare_digest(presented, utf8(f"{username}:{password}")):
        return fail("BASIC_AUTH", "wrong username or password")
    return Verification("BASIC_AUTH", True, None)


def _verify_api_key(auth: Mapping[str, Any], request: IncomingRequest, now: float) -> Verification:
    header_key = require(auth, "header_key", "API_KEY")
    api_key = require(auth, "api_key", "API_KEY")
    presented = header_get(request.headers, header_key)
    if presented is None:
        return fail("API_KEY", f"missing {header_key} header")
    if not hmac.compare_digest(utf8(presented), utf8(api_key)):
        return fail("API_KEY", "wrong API key")
    return Verification("API_KEY", True, None)


def _verify_hmac(auth: Mapping[str, Any], request: IncomingRequest, now: float) -> Verification:
    # Validate the whole config before looking at the request: config bugs must raise every time.
    secret = require(auth, "webhook_secret_key", "HMAC")
    algorithm = optional(auth, "algorithm", "HMAC", DEFAULT_HMAC_ALGORITHM).lower()
    hash_function = _HMAC_ALGORITHMS.get(algorithm)
    if hash_function is None:
        raise ValueError(f"HMAC algorithm must be one of {sorted(_HMAC_ALGORITHMS)}")
    encoding = optional(auth, "encoding", "HMAC", DEFAULT_HMAC_ENCODING).lower()
    if encoding not in _HMAC_ENCODINGS:
        raise ValueError(f"HMAC encoding must be one of {sorted(_HMAC_ENCODINGS)}")
    header_key = optional(auth, "header_key", "HMAC", DEFAULT_HMAC_HEADER)
    prefix = optional(auth, "prefix", "HMAC", "")
    timestamp_header = optional(auth, "timestamp_header", "HMAC", "")
    tolerance = auth.get("tolerance_seconds", DEFAULT_TOLERANCE_S)
    if tolerance is not None and (
        isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0
    ):
        raise ValueError("HMAC tolerance_seconds must be a non-negative number or null")

    raw_signature = header_get(request.headers, header_key)
    if raw_signature is None:
        return fail("HMAC", f"missing {header_key} header")
    payload = request.body
    if timestamp_header:
        stamp = header_get(request.headers, timestamp_header)
        if stamp is None:
            return fail("HMAC", f"missing {timestamp_header} header")
        stamp = stamp.strip()
        problem = None if tolerance is None else timestamp_problem(stamp, tolerance, now)
        if problem is not None:
            return fail("HMAC", problem)
        payload = utf8(stamp) + b"." + request.body

    expected = hmac.new(utf8(secret), payload, hash_function).digest()
    candidates = [
        decoded
        for token in _signature_tokens(raw_signature, prefix)
        if (decoded := _decode_signature(token, encoding)) is not None
    ]
    if not candidates:
        return fail("HMAC", f"malformed {encoding} signature in {header_key}")
    if not matches_any(expected, candidates):
        return fail("HMAC", "signature mismatch")
    return Verification("HMAC", True, None)


def _signature_tokens(raw: str, prefix: str) -> Iterator[str]:
    # Rotating providers send several signatures ("v1=a,v1=b" or "a b"); any one may match.
    lowered_prefix = prefix.lower()
    for token in raw.replace(",", " ").split():
        if lowered_prefix and token[: len(prefix)].lower() == lowered_prefix:
            token = token[len(prefix) :]
        if token:
            yield token


def _decode_signature(token: str, encoding: str) -> bytes | None:
    # Comparing decoded digests makes hex case and base64 padding irrelevant.
    try:
        if encoding == "hex":
            return bytes.fromhex(token)
        padded = token + "=" * (-len(token) % 4)  # many senders drop the padding
        altchars = b"-_" if encoding == "base64url" else None
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except ValueError:
        return None


def _verify_twilio(auth: Mapping[str, Any], request: IncomingRequest, now: float) -> Verification:
    token = utf8(require(auth, "auth_token", "TWILIO"))
    signature = header_get(request.headers, TWILIO_SIGNATURE_HEADER)
    if signature is None:
        return fail("TWILIO", f"missing {TWILIO_SIGNATURE_HEADER} header")
    algorithm = _twilio_algorithm(header_get(request.headers, TWILIO_SETTINGS_HEADER))
    hash_function = _TWILIO_ALGORITHMS.get(algorithm.upper())
    if hash_function is None:
        return fail("TWILIO", f"unsupported signature algorithm in {TWILIO_SETTINGS_HEADER}")

    url = _signed_url(request.public_url)
    content_type = header_get(request.headers, "content-type") or ""
    is_form = content_type.partition(";")[0].strip().lower() == _FORM_CONTENT_TYPE
    body_hash = _query_value(url, "bodySHA256")
    suffix = ""
    if body_hash is not None:
        # JSON (or any non-form) bodies: Twilio signs the URL and binds the body through its hash.
        # Checked whatever the content type, so relabelling a signed JSON request cannot skip it.
        actual = hashlib.sha256(request.body).hexdigest().encode()
        if not hmac.compare_digest(actual, utf8(body_hash.lower())):
            return fail("TWILIO", "body does not match bodySHA256 in the URL")
    elif is_form:
        # Counted before parsing: a form of a million fields is refused at the cost of a scan.
        if request.body.count(b"&") >= MAX_FORM_FIELDS:
            return fail("TWILIO", f"form body has more than {MAX_FORM_FIELDS} fields")
        try:
            params = _form_params(request.body)
        except UnicodeDecodeError:
            return fail("TWILIO", "form body is not valid UTF-8")
        # Mirrors RequestValidator.compute_signature: names sorted, each name's values
        # sorted and de-duplicated.
        suffix = "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    elif request.body:
        # Signing the URL alone would leave this body unauthenticated.
        return fail("TWILIO", "non-form body without bodySHA256 in the URL")

    presented = utf8(signature.strip())
    matched = False
    for candidate in _url_variants(url):
        mac = hmac.new(token, utf8(candidate + suffix), hash_function).digest()
        matched |= hmac.compare_digest(base64.b64encode(mac), presented)
    if not matched:
        return fail("TWILIO", "signature mismatch")
    return Verification("TWILIO", True, None)


def _twilio_algorithm(settings: str | None) -> str:
    # Same parsing as twilio.request_validator.get_signature_algorithm.
    for part in (settings or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip()
    return "HMAC_SHA1"


def _form_params(body: bytes) -> dict[str, set[str]]:
    # Strict UTF-8 both for raw bytes and %-escapes: Twilio sends UTF-8, and a lossy decode would
    # sign different text than Twilio did. keep_blank_values: Twilio signs "ErrorCode=" too.
    params: dict[str, set[str]] = {}
    text = body.decode("utf-8")
    for name, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict"):
        params.setdefault(name, set()).add(value)
    return params


def _split_url(url: str) -> tuple[str, str, str] | None:
    """(scheme, netloc, path?query) without normalising anything: Twilio signs the raw bytes."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return None
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    return scheme, rest[:cut], rest[cut:]


def _signed_url(public_url: str) -> str:
    # Neither a #fragment nor user:pass@ is part of what Twilio signs.
    url = public_url.partition("#")[0]
    parts = _split_url(url)
    if parts is None:
        return url
    scheme, netloc, tail = parts
    return f"{scheme}://{netloc.rpartition('@')[2]}{tail}"


def _url_variants(url: str) -> list[str]:
    # Twilio is inconsistent about signing the default port, so try both spellings (like the SDK).
    # A non-default port only validates as given: unlike the SDK we never drop it.
    parts = _split_url(url)
    default_port = _DEFAULT_PORTS.get(parts[0].lower()) if parts else None
    if parts is None or default_port is None:
        return [url]
    scheme, netloc, tail = parts
    host, port = _split_port(netloc)
    if port is None:
        return [url, f"{scheme}://{netloc}:{default_port}{tail}"]
    if port == default_port:
        return [url, f"{scheme}://{host}{tail}"]
    return [url]


def _split_port(netloc: str) -> tuple[str, str | None]:
    if netloc.endswith("]"):  # bracketed IPv6 literal without a port
        return netloc, None
    host, separator, port = netloc.rpartition(":")
    if separator and port.isascii() and port.isdigit():
        return host, port
    return netloc, None


def _query_value(url: str, name: str) -> str | None:
    values = parse_qs(url.partition("?")[2]).get(name)
    return values[0] if values else None


_VERIFIERS: dict[str, Callable[[Mapping[str, Any], IncomingRequest, float], Verification]] = {
    "BASIC_AUTH": _verify_basic,
    "API_KEY": _verify_api_key,
    "HMAC": _verify_hmac,
    "TWILIO": _verify_twilio,
    **PRESET_VERIFIERS,
}
