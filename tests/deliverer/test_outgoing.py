import base64
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from deliverer.outgoing import HttpRequest, build_request
from deliverer.signatures import sign, verify

NOW = 1_718_000_000
TOKEN = "12345678901234567890123456789012"
SOURCE_URL = "https://hooks.example.com/src_abc/twilio/status?tenant=a%20b&x="
FORM_BODY = (
    b"MessageSid=SM0123&MessageStatus=delivered&To=%2B18005551212&ErrorCode="
    b"&Body=caf%C3%A9+%26+more"
)


def header(name, value, raw=None):
    return {"name": name, "value": value, "raw": raw}


def make_event(headers=None, body=FORM_BODY, path="/twilio/status", query="tenant=a%20b&x="):
    return {
        "event_id": "evt_1",
        "request_id": "req_1",
        "team_id": "tm_1",
        "source_id": "src_1",
        "connection_id": "con_1",
        "destination_id": "des_1",
        "attempt_number": 2,
        "trigger": "AUTOMATIC",
        "source_url": SOURCE_URL,
        "request": {
            "method": "POST",
            "path": path,
            "query": query,
            "headers": headers
            if headers is not None
            else [header("Content-Type", "application/x-www-form-urlencoded")],
            "body": body,
        },
    }


def make_destination(url="https://receiver.example/hooks", **config):
    return {
        "id": "des_1",
        "config": {
            "url": url,
            "http_method": None,
            "auth_type": None,
            "auth": None,
            "path_forwarding": False,
            **config,
        },
    }


def build(event=None, destination=None, secrets=("whsec_a",)):
    return build_request(
        event or make_event(), destination or make_destination(), list(secrets), NOW
    )


def names(request: HttpRequest) -> list[str]:
    return [name.lower() for name, _ in request.headers]


def get(request: HttpRequest, name: str):
    values = [v for k, v in request.headers if k.lower() == name.lower()]
    assert len(values) <= 1, values
    return values[0] if values else None


# --- URL and method ----------------------------------------------------------------------


def test_url_is_exact_without_path_forwarding():
    url = "https://receiver.example/hooks/?a=1#frag"
    assert build(destination=make_destination(url)).url == url


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        (
            "https://r.example/hooks",
            "/twilio/status",
            "x=1",
            "https://r.example/hooks/twilio/status?x=1",
        ),
        ("https://r.example/hooks/", "/twilio/status", "", "https://r.example/hooks/twilio/status"),
        ("https://r.example", "/a", "", "https://r.example/a"),
        ("https://r.example/hooks", "", "", "https://r.example/hooks"),
        ("https://r.example/hooks/", "", "x=1", "https://r.example/hooks/?x=1"),
        ("https://r.example/hooks", "a%2Fb", "", "https://r.example/hooks/a%2Fb"),
        ("https://r.example/h?k=v", "/p", "x=1", "https://r.example/h/p?k=v&x=1"),
        ("https://r.example/h#frag", "/p", "", "https://r.example/h/p"),
        ("https://r.example/h", "//p", "q=%zz&&b", "https://r.example/h//p?q=%zz&&b"),
    ],
)
def test_path_forwarding(base, path, query, expected):
    event = make_event(path=path, query=query)
    assert build(event, make_destination(base, path_forwarding=True)).url == expected


def test_method_defaults_to_the_requests():
    assert build().method == "POST"
    assert build(destination=make_destination(http_method="PUT")).method == "PUT"


# --- headers and body --------------------------------------------------------------------


def test_exact_body_and_header_order_and_values():
    body = b'\x00\xff{"a": 1}\r\n raw'
    headers = [
        header("X-B", "2"),
        header("content-type", "application/json; charset=UTF-8"),
        header("X-A", "  spaced  value "),
        header("X-Latin", "caf\xe9", raw=b"caf\xe9"),
        header("x-b", "second"),
    ]
    request = build(make_event(headers, body))
    assert request.body == body and isinstance(request.body, bytes)
    assert request.headers[:5] == [
        ("X-B", "2"),
        ("content-type", "application/json; charset=UTF-8"),
        ("X-A", "  spaced  value "),
        ("X-Latin", b"caf\xe9"),
        ("x-b", "second"),
    ]


def test_drops_hop_by_hop_host_length_and_connection_named_headers():
    headers = [
        header("Host", "hooks.example.com"),
        header("Connection", "keep-alive, X-Hop"),
        header("Keep-Alive", "timeout=5"),
        header("Transfer-Encoding", "chunked"),
        header("TE", "trailers"),
        header("Trailer", "X-T"),
        header("Upgrade", "h2c"),
        header("Proxy-Authorization", "Basic eA=="),
        header("Proxy-Authenticate", "Basic"),
        header("Content-Length", "12"),
        header("X-Hop", "1"),
        header("X-Keep", "1"),
    ]
    request = build(make_event(headers))
    assert [n for n in names(request) if not n.startswith("x-fasthook-")] == ["x-keep"]


def test_incoming_fasthook_headers_are_dropped():
    headers = [header("X-FastHook-Event-Id", "evt_spoof"), header("x-fasthook-signature", "t=1")]
    request = build(make_event(headers))
    assert get(request, "x-fasthook-event-id") == "evt_1"
    assert get(request, "x-fasthook-signature") is None


def test_our_headers_follow_the_providers():
    request = build()
    assert request.headers[1:] == [
        ("x-fasthook-request-id", "req_1"),
        ("x-fasthook-event-id", "evt_1"),
        ("x-fasthook-attempt", "2"),
        ("x-fasthook-source-id", "src_1"),
        ("x-fasthook-connection-id", "con_1"),
        ("x-fasthook-destination-id", "des_1"),
        ("x-fasthook-source-url", SOURCE_URL),
        ("x-fasthook-hops", "1"),
    ]


# --- hops (loop protection) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming", "sent"),
    [
        (None, "1"),  # a provider's request: its first hop through a gateway
        ("0", "1"),
        ("3", "4"),
        (" 2 ", "3"),
        ("abc", "1"),  # garbage counts as none
        ("", "1"),
        ("-1", "1"),
        ("1.5", "1"),
        ("٣", "1"),  # a non-ASCII digit is not a hop count
    ],
)
def test_hops_count_the_incoming_request_plus_one(incoming, sent):
    headers = [header("Content-Type", "text/plain")]
    if incoming is not None:
        headers.append(header("X-FastHook-Hops", incoming))
    request = build(make_event(headers))
    assert get(request, "x-fasthook-hops") == sent  # exactly one: the incoming one is dropped


def test_hops_from_raw_bytes_and_huge_counts():
    raw = header("x-fasthook-hops", "\xff", b"\xff")
    assert get(build(make_event([raw])), "x-fasthook-hops") == "1"
    huge = header("x-fasthook-hops", "9" * 40)
    assert int(get(build(make_event([huge])), "x-fasthook-hops")) > 10**9


@given(st.text(max_size=50))
def test_hops_is_always_a_positive_count(value):
    request = build(make_event([header("x-fasthook-hops", value)]))
    sent = get(request, "x-fasthook-hops")
    assert sent.isascii() and sent.isdigit() and int(sent) >= 1


# --- auth --------------------------------------------------------------------------------


def test_fasthook_signature_only_with_that_auth_type():
    assert get(build(), "x-fasthook-signature") is None
    destination = make_destination(auth_type="FASTHOOK_SIGNATURE")
    request = build(destination=destination, secrets=("whsec_new", "whsec_old"))
    value = get(request, "x-fasthook-signature")
    new, old = sign("whsec_new", NOW, FORM_BODY), sign("whsec_old", NOW, FORM_BODY)
    assert value == f"t={NOW},v1={new},v1={old}"
    assert verify(value, "whsec_old", request.body, now=NOW)


def test_fasthook_signature_needs_a_secret():
    with pytest.raises(ValueError):
        build(destination=make_destination(auth_type="FASTHOOK_SIGNATURE"), secrets=())


def test_basic_auth_replaces_the_providers_authorization():
    headers = [header("authorization", "Basic cHJvdmlkZXI="), header("X-Keep", "1")]
    destination = make_destination(
        auth_type="BASIC_AUTH", auth={"username": "us", "password": "pä:ss"}
    )
    request = build(make_event(headers), destination)
    expected = "Basic " + base64.b64encode("us:pä:ss".encode()).decode()
    assert get(request, "Authorization") == expected
    assert names(request)[-1] == "authorization" and names(request)[0] == "x-keep"


def test_bearer_token():
    destination = make_destination(auth_type="BEARER_TOKEN", auth={"token": "tok"})
    request = build(make_event([header("Authorization", "Bearer provider")]), destination)
    assert get(request, "authorization") == "Bearer tok"


def test_api_key_in_a_header():
    destination = make_destination(
        auth_type="API_KEY", auth={"header_key": "X-Key", "api_key": "k1", "to": "header"}
    )
    request = build(make_event([header("x-key", "spoof")]), destination)
    assert request.headers[-1] == ("X-Key", "k1") and get(request, "x-key") == "k1"
    default = make_destination(auth_type="API_KEY", auth={"api_key": "k2"})
    assert build(destination=default).headers[-1] == ("x-api-key", "k2")


def test_api_key_in_the_query():
    auth = {"header_key": "api key", "api_key": "a&b=c", "to": "query"}
    destination = make_destination("https://r.example/h", auth_type="API_KEY", auth=auth)
    request = build(destination=destination)
    assert request.url == "https://r.example/h?" + urlencode({"api key": "a&b=c"})
    assert "api key" not in names(request)
    with_query = make_destination("https://r.example/h?z=1", auth_type="API_KEY", auth=auth)
    assert build(destination=with_query).url == "https://r.example/h?z=1&api+key=a%26b%3Dc"
    open_query = make_destination("https://r.example/h?", auth_type="API_KEY", auth=auth)
    assert build(destination=open_query).url == "https://r.example/h?api+key=a%26b%3Dc"


def test_api_key_in_the_query_drops_a_forwarded_decoy():
    auth = {"header_key": "key", "api_key": "real", "to": "query"}
    destination = make_destination(
        "https://r.example/h", auth_type="API_KEY", auth=auth, path_forwarding=True
    )
    event = make_event(path="/p", query="key=decoy&a=1&%6Bey=decoy2&keys=2")
    assert build(event, destination).url == "https://r.example/h/p?a=1&keys=2&key=real"


def test_unknown_auth_type_is_an_error():
    with pytest.raises(ValueError, match="auth_type"):
        build(destination=make_destination(auth_type="MAGIC"))


# --- what a receiver can check -----------------------------------------------------------


def test_receiver_validates_twilio_signature_with_the_sdk():
    params = dict(parse_qsl(FORM_BODY.decode(), keep_blank_values=True))
    signature = RequestValidator(TOKEN).compute_signature(SOURCE_URL, params)
    incoming = [
        header("Host", "hooks.example.com"),
        header("Content-Type", "application/x-www-form-urlencoded"),
        header("X-Twilio-Signature", signature),
        header("I-Twilio-Idempotency-Token", "idem-1"),
        header("Content-Length", str(len(FORM_BODY))),
    ]
    destination = make_destination(
        "http://127.0.0.1:9000/in", path_forwarding=True, auth_type="FASTHOOK_SIGNATURE"
    )
    request = build(make_event(incoming), destination)

    # The receiver's side: only what arrived over HTTP.
    received = {name.lower(): value for name, value in request.headers}
    url = received["x-fasthook-source-url"]
    form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    assert RequestValidator(TOKEN).validate(url, form, received["x-twilio-signature"])
    assert not RequestValidator(TOKEN).validate(request.url, form, received["x-twilio-signature"])
    assert verify(received["x-fasthook-signature"], "whsec_a", request.body, now=NOW)


def test_receiver_validates_a_twilio_json_callback():
    body = b'{"status": "delivered", "sid": "SM1"}'
    validator = RequestValidator(TOKEN)
    url = (
        f"https://hooks.example.com/src_abc/json?bodySHA256={validator.compute_hash(body.decode())}"
    )
    incoming = [
        header("Content-Type", "application/json"),
        header("X-Twilio-Signature", validator.compute_signature(url, {})),
    ]
    event = {**make_event(incoming, body), "source_url": url}
    request = build(event)
    received = {name.lower(): value for name, value in request.headers}
    assert validator.validate(
        received["x-fasthook-source-url"], request.body.decode(), received["x-twilio-signature"]
    )


_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True)
_HEADER = st.one_of(
    st.builds(header, _NAME, st.text(max_size=20)),
    # A value that is not UTF-8: `raw` holds the bytes, `value` their latin-1 reading.
    st.builds(
        lambda name, raw: header(name, raw.decode("latin-1"), raw),
        _NAME,
        st.binary(min_size=1, max_size=20),
    ),
)


@given(headers=st.lists(_HEADER, max_size=10), body=st.binary())
def test_kept_headers_are_the_incoming_ones_in_order(headers, body):
    request = build(make_event(headers, body))
    assert request.body == body
    connection = {
        t.strip().lower()
        for h in headers
        if h["name"].lower() == "connection"
        for t in h["value"].split(",")
    }
    dropped = {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    } | connection
    expected = [
        (h["name"], h["raw"] if h["raw"] is not None else h["value"])
        for h in headers
        if h["name"].lower() not in dropped and not h["name"].lower().startswith("x-fasthook-")
    ]
    assert request.headers[: len(expected)] == expected
    assert all(n.startswith("x-fasthook-") for n in names(request)[len(expected) :])


def test_documented_twilio_check_accepts_a_delivery_with_repeated_keys():
    doc = Path(__file__).resolve().parents[2] / "docs" / "verifying-signatures.md"
    snippet = re.search(
        r"```python\n(from urllib.parse import parse_qsl.*?)```", doc.read_text(), re.S
    ).group(1)
    namespace: dict = {}
    exec(snippet, namespace)
    body = FORM_BODY + b"&Tag=b&Tag=a"
    form = MultiDict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = RequestValidator(TOKEN).compute_signature(SOURCE_URL, form)
    incoming = [
        header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        header("X-Twilio-Signature", signature),
    ]
    request = build(make_event(incoming, body))
    received = {name.lower(): value for name, value in request.headers}
    assert namespace["verify_twilio"](TOKEN, received, request.body)
    assert not namespace["verify_twilio"](TOKEN, received, request.body + b"&Tag=c")
