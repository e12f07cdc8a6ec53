import base64
import hmac
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from ingress.signatures import (
    DEFAULT_HMAC_HEADER,
    IncomingRequest,
    Verification,
    credential_header,
    header_get,
    verify,
)
from schemas.limits import MAX_FORM_FIELDS

FORM = "application/x-www-form-urlencoded"
TOKEN = "12345678901234567890123456789012"
STATUS_URL = "https://hooks.example.com/src_x/twilio/status?tenant=a%20b"
STATUS_PARAMS = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "MessageStatus": "delivered",
    "SmsStatus": "delivered",
    "To": "+18005551212",
    "From": "+18005550199",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "ErrorCode": "",
}
STATUS_BODY = (
    b"MessageSid=SM0123456789abcdef0123456789abcdef&MessageStatus=delivered&SmsStatus=delivered"
    b"&To=%2B18005551212&From=%2B18005550199&AccountSid=AC0123456789abcdef0123456789abcdef"
    b"&ErrorCode="
)


def request(
    url: str = "https://hooks.example.com/src_x",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    method: str = "POST",
) -> IncomingRequest:
    items = headers.items() if isinstance(headers, dict) else headers or []
    return IncomingRequest(method, url, tuple(items), body)


def twilio_sig(url: str, params: object = None, algorithm: str | None = None) -> str:
    return RequestValidator(TOKEN).compute_signature(url, params, algorithm)


def twilio_verify(
    url: str,
    body: bytes,
    signature: str,
    content_type: str | None = FORM,
    token: str = TOKEN,
    extra: dict[str, str] | None = None,
    method: str = "POST",
) -> Verification:
    headers = {"X-Twilio-Signature": signature, **(extra or {})}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return verify("TWILIO", {"auth_token": token}, request(url, headers, body, method))


class MultiDict(dict):
    """Minimal Flask-style MultiDict: what the SDK expects for repeated keys."""

    def getall(self, key: str) -> list[str]:
        return self[key]


# --- header_get / NONE / config errors ------------------------------------------------------


def test_header_get_first_value_case_insensitive() -> None:
    headers = (("X-A", "1"), ("x-a", "2"), ("B", "3"))
    assert header_get(headers, "x-A") == "1"
    assert header_get(headers, "b") == "3"
    assert header_get(headers, "c") is None


def test_none_auth_type_passes() -> None:
    assert verify(None, None, request()) == Verification("NONE", True, None)


@pytest.mark.parametrize(
    ("auth_type", "auth"),
    [
        ("SIGNED_BY_MAGIC", {}),
        ("HMAC", None),
        ("HMAC", {}),
        ("HMAC", {"webhook_secret_key": "s", "algorithm": "md5"}),
        ("HMAC", {"webhook_secret_key": "s", "encoding": "base32"}),
        ("HMAC", {"webhook_secret_key": "s", "tolerance_seconds": -1}),
        ("API_KEY", {"header_key": "x-key"}),
        ("BASIC_AUTH", {"username": "u"}),
        ("TWILIO", {"auth_token": ""}),
    ],
)
def test_config_errors_raise(auth_type: str, auth: dict | None) -> None:
    with pytest.raises(ValueError):
        verify(auth_type, auth, request())


# --- BASIC_AUTH / API_KEY -------------------------------------------------------------------

BASIC = {"username": "user", "password": "pä:ss"}


def basic(value: str) -> str:
    return "Basic " + base64.b64encode(value.encode()).decode()


def test_basic_auth_pass() -> None:
    result = verify("BASIC_AUTH", BASIC, request(headers={"authorization": basic("user:pä:ss")}))
    assert result == Verification("BASIC_AUTH", True, None)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": basic("user:wrong")},
        {"Authorization": "Bearer " + base64.b64encode(b"user:p\xc3\xa4:ss").decode()},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic ünicode"},
    ],
)
def test_basic_auth_fail(headers: dict[str, str]) -> None:
    result = verify("BASIC_AUTH", BASIC, request(headers=headers))
    assert not result.verified and result.detail
    assert "pä:ss" not in result.detail


def test_api_key() -> None:
    auth = {"header_key": "X-Api-Key", "api_key": "k3y"}
    assert verify("API_KEY", auth, request(headers={"x-api-key": "k3y"})).verified
    assert not verify("API_KEY", auth, request(headers={"x-api-key": "k3y "})).verified
    missing = verify("API_KEY", auth, request(headers={"other": "k3y"}))
    assert missing.detail == "missing X-Api-Key header"


# --- HMAC -----------------------------------------------------------------------------------

SECRET = "whsec_topsecret"
BODY = b'{"event":"order.paid","id":42}'


def encode(digest: bytes, encoding: str) -> str:
    if encoding == "hex":
        return digest.hex()
    if encoding == "base64":
        return base64.b64encode(digest).decode()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(payload: bytes, algorithm: str = "sha256", encoding: str = "base64") -> str:
    return encode(hmac.new(SECRET.encode(), payload, algorithm).digest(), encoding)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64", "base64url"])
def test_hmac_algorithms_and_encodings(algorithm: str, encoding: str) -> None:
    auth = {"webhook_secret_key": SECRET, "algorithm": algorithm, "encoding": encoding}
    good = sign(BODY, algorithm, encoding)
    assert verify("HMAC", auth, request(headers={DEFAULT_HMAC_HEADER: good}, body=BODY)).verified
    tampered = request(headers={DEFAULT_HMAC_HEADER: good}, body=BODY + b" ")
    assert verify("HMAC", auth, tampered).detail == "signature mismatch"
    other = sign(BODY, "sha1" if algorithm != "sha1" else "sha256", encoding)
    assert not verify(
        "HMAC", auth, request(headers={DEFAULT_HMAC_HEADER: other}, body=BODY)
    ).verified


def test_hmac_defaults_and_hex_case() -> None:
    assert DEFAULT_HMAC_HEADER == "x-webhook-signature"
    auth = {"webhook_secret_key": SECRET}  # sha256, base64, x-webhook-signature
    assert verify(
        "HMAC", auth, request(headers={"X-Webhook-Signature": sign(BODY)}, body=BODY)
    ).verified
    hex_auth = {**auth, "encoding": "hex", "header_key": "X-Sig"}
    upper = sign(BODY, encoding="hex").upper()
    assert verify("HMAC", hex_auth, request(headers={"x-sig": upper}, body=BODY)).verified


def test_hmac_prefix_and_multiple_signatures() -> None:
    auth = {"webhook_secret_key": SECRET, "encoding": "hex", "prefix": "sha256="}
    good = sign(BODY, encoding="hex")
    for value in (f"sha256={good}", good, f"sha256=deadbeef, sha256={good}", f"bad {good}"):
        req = request(headers={DEFAULT_HMAC_HEADER: value}, body=BODY)
        assert verify("HMAC", auth, req).verified, value
    req = request(headers={DEFAULT_HMAC_HEADER: "sha256=deadbeef"}, body=BODY)
    assert verify("HMAC", auth, req).detail == "signature mismatch"


def test_hmac_missing_and_malformed() -> None:
    auth = {"webhook_secret_key": SECRET}
    assert verify("HMAC", auth, request(body=BODY)).detail == "missing x-webhook-signature header"
    result = verify("HMAC", auth, request(headers={DEFAULT_HMAC_HEADER: "***"}, body=BODY))
    assert not result.verified and "malformed" in (result.detail or "")
    wrong_secret = {"webhook_secret_key": "other"}
    good = request(headers={DEFAULT_HMAC_HEADER: sign(BODY)}, body=BODY)
    assert not verify("HMAC", wrong_secret, good).verified


TS_AUTH = {"webhook_secret_key": SECRET, "timestamp_header": "X-Timestamp", "prefix": "v1="}


def ts_request(stamp: str, signed_stamp: str | None = None) -> IncomingRequest:
    signature = sign(f"{signed_stamp or stamp}.".encode() + BODY)
    return request(
        headers={"x-timestamp": stamp, DEFAULT_HMAC_HEADER: f"v1={signature}"}, body=BODY
    )


def test_hmac_timestamp() -> None:
    now = 1_700_000_000.0
    assert verify("HMAC", TS_AUTH, ts_request("1700000000"), now=now).verified
    assert verify("HMAC", TS_AUTH, ts_request("1699999800"), now=now).verified
    # body signed without the timestamp does not verify
    plain = request(
        headers={"x-timestamp": "1700000000", DEFAULT_HMAC_HEADER: sign(BODY)}, body=BODY
    )
    assert not verify("HMAC", TS_AUTH, plain, now=now).verified
    # timestamp swapped after signing
    assert not verify("HMAC", TS_AUTH, ts_request("1700000001", "1700000000"), now=now).verified


@pytest.mark.parametrize("stamp", ["1699999699", "1700000301", "1700000301000"])
def test_hmac_stale_timestamp(stamp: str) -> None:
    result = verify("HMAC", TS_AUTH, ts_request(stamp), now=1_700_000_000.0)
    assert result == Verification("HMAC", False, "timestamp outside the 300s tolerance")


def test_hmac_timestamp_tolerance_config() -> None:
    millis = ts_request("1700000000123")
    assert verify("HMAC", TS_AUTH, millis, now=1_700_000_000.0).verified
    wide = {**TS_AUTH, "tolerance_seconds": 3600}
    assert verify("HMAC", wide, ts_request("1699997000"), now=1_700_000_000.0).verified
    off = {**TS_AUTH, "tolerance_seconds": None}
    assert verify("HMAC", off, ts_request("2001-01-01T00:00:00Z"), now=1_700_000_000.0).verified


@pytest.mark.parametrize("stamp", ["abc", "", "1e9", "-5", "²", "9" * 5000])
def test_hmac_bad_timestamp(stamp: str) -> None:
    result = verify("HMAC", TS_AUTH, ts_request(stamp), now=1_700_000_000.0)
    assert not result.verified and result.detail
    no_header = request(headers={DEFAULT_HMAC_HEADER: "v1=abc"}, body=BODY)
    assert verify("HMAC", TS_AUTH, no_header).detail == "missing X-Timestamp header"


# --- TWILIO ---------------------------------------------------------------------------------


def test_twilio_status_callback_passes() -> None:
    signature = twilio_sig(STATUS_URL, STATUS_PARAMS)
    assert twilio_verify(STATUS_URL, STATUS_BODY, signature) == Verification("TWILIO", True, None)
    charset = twilio_verify(STATUS_URL, STATUS_BODY, signature, f"{FORM}; charset=UTF-8")
    assert charset.verified
    reordered = b"&".join(sorted(STATUS_BODY.split(b"&")))
    assert twilio_verify(STATUS_URL, reordered, signature).verified
    lower_escapes = STATUS_BODY.replace(b"%2B", b"%2b")
    assert twilio_verify(STATUS_URL, lower_escapes, signature).verified


@pytest.mark.parametrize(
    ("url", "body", "token"),
    [
        (STATUS_URL, STATUS_BODY.replace(b"delivered", b"failed", 1), TOKEN),  # tampered body
        (STATUS_URL, STATUS_BODY.removesuffix(b"&ErrorCode="), TOKEN),  # dropped empty field
        (STATUS_URL, STATUS_BODY + b"&Extra=1", TOKEN),  # added field
        (STATUS_URL, STATUS_BODY.replace(b"%2B1800", b"%2B1800 "), TOKEN),  # changed value
        (STATUS_URL, STATUS_BODY, "0" * 32),  # wrong token
        (STATUS_URL.replace("https", "http"), STATUS_BODY, TOKEN),
        (STATUS_URL.replace("/status", "/status/"), STATUS_BODY, TOKEN),  # trailing slash
        (STATUS_URL.replace("%20", "+"), STATUS_BODY, TOKEN),  # re-encoded query
        (STATUS_URL.replace("a%20b", "a b"), STATUS_BODY, TOKEN),
        (STATUS_URL.replace("hooks", "HOOKS"), STATUS_BODY, TOKEN),  # host case
        (STATUS_URL + "&x=1", STATUS_BODY, TOKEN),
    ],
)
def test_twilio_status_callback_fails(url: str, body: bytes, token: str) -> None:
    signature = twilio_sig(STATUS_URL, STATUS_PARAMS)
    result = twilio_verify(url, body, signature, token=token)
    assert result == Verification("TWILIO", False, "signature mismatch")


def test_twilio_missing_header_and_bad_signature() -> None:
    req = request(STATUS_URL, {"Content-Type": FORM}, STATUS_BODY)
    result = verify("TWILIO", {"auth_token": TOKEN}, req)
    assert result.detail == "missing X-Twilio-Signature header"
    assert not twilio_verify(STATUS_URL, STATUS_BODY, "not base64 ü").verified


def test_twilio_get_signs_url_only() -> None:
    url = "https://hooks.example.com/src_x/voice?CallSid=CA1&CallStatus=completed&Empty="
    signature = twilio_sig(url)
    assert twilio_verify(url, b"", signature, content_type=None, method="GET").verified
    assert not twilio_verify(url.replace("completed", "busy"), b"", signature, None).verified
    # the URL-only signature must not authenticate an arbitrary body
    assert not twilio_verify(url, b"anything", signature, "text/plain").verified


def test_twilio_json_body_sha256() -> None:
    validator = RequestValidator(TOKEN)
    body = '{"specversion":"1.0","type":"com.twilio.messaging.message.delivered","data":{}}'
    url = f"{STATUS_URL}&bodySHA256={validator.compute_hash(body)}"
    signature = validator.compute_signature(url, {})
    assert twilio_verify(url, body.encode(), signature, "application/json").verified
    tampered = body.replace("1.0", "1.1").encode()
    result = twilio_verify(url, tampered, signature, "application/json")
    assert result.detail == "body does not match bodySHA256 in the URL"
    # relabelled as a form or emptied: the hash still binds the body
    assert not twilio_verify(url, b"", signature, "application/json").verified
    assert not twilio_verify(url, b"&", signature, FORM).verified
    # a JSON body without bodySHA256 is never accepted on a URL-only signature
    no_hash = twilio_verify(STATUS_URL, body.encode(), twilio_sig(STATUS_URL), "application/json")
    assert no_hash.detail == "non-form body without bodySHA256 in the URL"


def test_twilio_port_variants() -> None:
    with_port = STATUS_URL.replace(".com/", ".com:443/")
    assert twilio_verify(STATUS_URL, STATUS_BODY, twilio_sig(with_port, STATUS_PARAMS)).verified
    assert twilio_verify(with_port, STATUS_BODY, twilio_sig(STATUS_URL, STATUS_PARAMS)).verified
    http = "http://hooks.example.com/src_x?tenant=1"
    http_port = "http://hooks.example.com:80/src_x?tenant=1"
    assert twilio_verify(http, b"", twilio_sig(http_port), None).verified
    assert twilio_verify(http_port, b"", twilio_sig(http), None).verified
    # a non-default port validates only when it is in the URL given
    custom = STATUS_URL.replace(".com/", ".com:8443/")
    assert twilio_verify(custom, STATUS_BODY, twilio_sig(custom, STATUS_PARAMS)).verified
    assert not twilio_verify(custom, STATUS_BODY, twilio_sig(STATUS_URL, STATUS_PARAMS)).verified
    assert not twilio_verify(STATUS_URL, STATUS_BODY, twilio_sig(custom, STATUS_PARAMS)).verified


def test_twilio_fragment_and_userinfo_are_not_signed() -> None:
    signature = twilio_sig(STATUS_URL, STATUS_PARAMS)
    public = STATUS_URL.replace("https://", "https://user:pw@") + "#rc=3&rp=all"
    assert twilio_verify(public, STATUS_BODY, signature).verified


def test_twilio_hmac_sha256_settings_header() -> None:
    signature = twilio_sig(STATUS_URL, STATUS_PARAMS, algorithm="HMAC_SHA256")
    settings_header = {"X-Twilio-Webhooks-Signature-Settings": "key=KS123,algorithm=HMAC_SHA256"}
    assert twilio_verify(STATUS_URL, STATUS_BODY, signature, extra=settings_header).verified
    assert not twilio_verify(STATUS_URL, STATUS_BODY, signature).verified  # needs the header
    sha1 = twilio_sig(STATUS_URL, STATUS_PARAMS)
    assert not twilio_verify(STATUS_URL, STATUS_BODY, sha1, extra=settings_header).verified
    unknown = {"X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_MD5"}
    result = twilio_verify(STATUS_URL, STATUS_BODY, sha1, extra=unknown)
    assert not result.verified and "unsupported" in (result.detail or "")


def test_twilio_repeated_keys() -> None:
    params = MultiDict({"To": ["+2", "+1", "+2"], "Body": ["hi"]})
    signature = twilio_sig(STATUS_URL, params)
    for body in (b"To=%2B2&Body=hi&To=%2B1&To=%2B2", b"To=%2B1&To=%2B2&Body=hi"):
        assert twilio_verify(STATUS_URL, body, signature).verified, body
    assert not twilio_verify(STATUS_URL, b"To=%2B1&Body=hi", signature).verified


def test_twilio_plus_and_percent20_space() -> None:
    signature = twilio_sig(STATUS_URL, {"Body": "hello world ü"})
    for body in (b"Body=hello+world+%C3%BC", b"Body=hello%20world%20%c3%bc"):
        assert twilio_verify(STATUS_URL, body, signature).verified, body


@pytest.mark.parametrize("body", [b"Body=%FF", b"Body=\xff\xfe", b"Body=%C3"])
def test_twilio_invalid_utf8_form(body: bytes) -> None:
    result = twilio_verify(STATUS_URL, body, "x")
    assert result == Verification("TWILIO", False, "form body is not valid UTF-8")


def test_twilio_form_fields_are_capped_before_parsing() -> None:
    params = {f"F{i}": "v" for i in range(MAX_FORM_FIELDS)}
    body = urlencode(params).encode()
    assert twilio_verify(STATUS_URL, body, twilio_sig(STATUS_URL, params)).verified
    params["One"] = "more"
    over = urlencode(params).encode()
    assert twilio_verify(STATUS_URL, over, twilio_sig(STATUS_URL, params)) == Verification(
        "TWILIO", False, f"form body has more than {MAX_FORM_FIELDS} fields"
    )


def test_credential_header_names_only_presented_secrets() -> None:
    assert credential_header("BASIC_AUTH", {"username": "u", "password": "p"}) == "authorization"
    assert credential_header("api_key", {"header_key": "X-Key", "api_key": "k"}) == "X-Key"
    for kind in (None, "NONE", "HMAC", "TWILIO"):
        assert credential_header(kind, {"webhook_secret_key": "s", "auth_token": "t"}) is None


# --- properties -----------------------------------------------------------------------------

form_dicts = st.dictionaries(st.text(max_size=12), st.text(max_size=24), max_size=8)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(params=form_dicts, data=st.data())
def test_property_sdk_signed_form_verifies(params: dict[str, str], data: st.DataObject) -> None:
    signature = twilio_sig(STATUS_URL, params)
    body = urlencode(params).encode()
    assert twilio_verify(STATUS_URL, body, signature).verified
    if body:
        index = data.draw(st.integers(0, len(body) - 1))
        byte = data.draw(st.integers(0, 255))
        mutated = body[:index] + bytes([byte]) + body[index + 1 :]
        result = twilio_verify(STATUS_URL, mutated, signature)
        assert isinstance(result, Verification)


any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
HEADER_NAMES = [
    "Authorization",
    "x-api-key",
    DEFAULT_HMAC_HEADER,
    "x-timestamp",
    "X-Twilio-Signature",
    "X-Twilio-Webhooks-Signature-Settings",
    "Content-Type",
]
CONFIGS = [
    (None, None),
    ("BASIC_AUTH", BASIC),
    ("API_KEY", {"header_key": "x-api-key", "api_key": "k"}),
    ("HMAC", {"webhook_secret_key": SECRET}),
    ("HMAC", {**TS_AUTH, "encoding": "hex"}),
    ("HMAC", {"webhook_secret_key": SECRET, "encoding": "base64url", "timestamp_header": "x-ts"}),
    ("TWILIO", {"auth_token": TOKEN}),
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=st.sampled_from(CONFIGS),
    method=any_text,
    url=st.one_of(
        any_text, st.just(STATUS_URL), st.builds(lambda q: f"{STATUS_URL}&{q}", any_text)
    ),
    headers=st.lists(
        st.tuples(st.one_of(st.sampled_from(HEADER_NAMES), any_text), any_text), max_size=8
    ),
    content_type=st.sampled_from([FORM, "application/json", None]),
    body=st.binary(max_size=200),
    now=st.floats(allow_nan=False, allow_infinity=False),
)
def test_property_arbitrary_input_never_raises(
    config: tuple[str | None, dict | None],
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    content_type: str | None,
    body: bytes,
    now: float,
) -> None:
    if content_type is not None:
        headers = [("content-type", content_type), *headers]
    result = verify(
        config[0], config[1], IncomingRequest(method, url, tuple(headers), body), now=now
    )
    assert isinstance(result, Verification)
    assert result.verified == (result.detail is None)
