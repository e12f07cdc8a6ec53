import hashlib
import hmac
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverer.signatures import sign, signature_header, verify

SECRET = "whsec_current"
OLD = "whsec_previous"
BODY = b"MessageStatus=delivered&ErrorCode="
NOW = 1_718_000_000
DOC = Path(__file__).resolve().parents[2] / "docs" / "verifying-signatures.md"


def test_sign_is_hex_hmac_sha256_over_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1718000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_header_has_one_v1_per_secret_current_first():
    header = signature_header([SECRET, OLD], NOW, BODY)
    assert header == f"t={NOW},v1={sign(SECRET, NOW, BODY)},v1={sign(OLD, NOW, BODY)}"
    assert signature_header([SECRET], NOW, BODY) == f"t={NOW},v1={sign(SECRET, NOW, BODY)}"


def test_header_drops_repeated_and_empty_secrets():
    assert signature_header([SECRET, SECRET, ""], NOW, BODY) == signature_header(
        [SECRET], NOW, BODY
    )


def test_header_needs_a_secret():
    with pytest.raises(ValueError, match="secret"):
        signature_header([], NOW, BODY)


def test_either_secret_verifies_during_rotation():
    header = signature_header([SECRET, OLD], NOW, BODY)
    assert verify(header, SECRET, BODY, now=NOW)
    assert verify(header, OLD, BODY, now=NOW)
    assert not verify(header, "whsec_other", BODY, now=NOW)


def test_tolerance_in_both_directions():
    header = signature_header([SECRET], NOW, BODY)
    assert verify(header, SECRET, BODY, now=NOW + 300)
    assert verify(header, SECRET, BODY, now=NOW - 300)
    assert not verify(header, SECRET, BODY, now=NOW + 301)
    assert not verify(header, SECRET, BODY, now=NOW - 301)
    assert verify(header, SECRET, BODY, now=NOW + 3600, tolerance_s=3600)


def test_default_now_is_the_clock():
    import time

    assert verify(signature_header([SECRET], int(time.time()), BODY), SECRET, BODY)
    assert not verify(signature_header([SECRET], NOW, BODY), SECRET, BODY)


def test_changed_timestamp_breaks_the_signature():
    hexdigest = sign(SECRET, NOW, BODY)
    assert not verify(f"t={NOW + 1},v1={hexdigest}", SECRET, BODY, now=NOW)


def test_lenient_about_spaces_case_and_unknown_schemes():
    hexdigest = sign(SECRET, NOW, BODY)
    assert verify(f" t={NOW} , v2=abc, v1={hexdigest.upper()} ", SECRET, BODY, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={sign(SECRET, NOW, BODY)}",  # no timestamp
        f"t={NOW}",  # no signature
        f"t={NOW},t={NOW},v1={sign(SECRET, NOW, BODY)}",  # which t?
        f"t=+{NOW},v1={sign(SECRET, NOW, BODY)}",
        f"t=1_718_000_000,v1={sign(SECRET, NOW, BODY)}",
        f"t=１７１８,v1={sign(SECRET, NOW, BODY)}",  # noqa: RUF001 (non-ASCII digits)
        f"t={NOW},v1={sign(SECRET, NOW, BODY)[:-1]}",
        f"t={NOW},v1={sign(SECRET, NOW, BODY)}00",
        f"t={'9' * 5000},v1={'0' * 64}",
        f"t={NOW},v1=\udcff{'0' * 63}",
    ],
)
def test_malformed_headers_do_not_verify(header):
    assert verify(header, SECRET, BODY, now=NOW) is False


def test_non_string_header_does_not_verify():
    assert verify(None, SECRET, BODY, now=NOW) is False  # type: ignore[arg-type]
    assert verify(b"t=1", SECRET, BODY, now=NOW) is False  # type: ignore[arg-type]


@given(secret=st.text(min_size=1), body=st.binary(), ts=st.integers(0, 2**40))
def test_round_trip(secret, body, ts):
    assert verify(signature_header([secret], ts, body), secret, body, now=ts)


@given(
    secrets=st.lists(st.text(min_size=1), min_size=1, max_size=3),
    body=st.binary(),
    ts=st.integers(0, 2**40),
    data=st.data(),
)
def test_round_trip_with_any_of_several_secrets(secrets, body, ts, data):
    header = signature_header(secrets, ts, body)
    assert verify(header, data.draw(st.sampled_from(secrets)), body, now=ts)


@given(header=st.text(), body=st.binary())
def test_verify_never_raises(header, body):
    assert verify(header, SECRET, body, now=NOW) in (True, False)


@given(
    header=st.lists(
        st.one_of(
            st.builds("t={}".format, st.integers(-10, 2**64)),
            st.builds("v1={}".format, st.text(alphabet="0123456789abcdefABCDEF=, ")),
            st.text(alphabet="tv1=,0123456789 "),
        )
    ).map(",".join)
)
def test_verify_never_raises_on_near_miss_headers(header):
    assert verify(header, SECRET, BODY, now=NOW) in (True, False)


@given(body=st.binary(), other=st.binary(), secret=st.text(min_size=1))
def test_modified_body_never_verifies(body, other, secret):
    header = signature_header([secret], NOW, body)
    assert verify(header, secret, other, now=NOW) == (other == body)


def _python_snippet() -> str:
    text = DOC.read_text()
    return re.search(r"```python\n(import hashlib.*?)```", text, re.S).group(1)


def test_documented_python_verifier_agrees():
    namespace: dict = {}
    exec(_python_snippet(), namespace)
    check = namespace["verify_fasthook"]
    import time

    now = int(time.time())
    header = signature_header([SECRET, OLD], now, BODY)
    assert check(header, SECRET, BODY) and check(header, OLD, BODY)
    assert not check(header, SECRET, BODY + b"x")
    assert not check(signature_header([SECRET], now - 301, BODY), SECRET, BODY)
    assert not check("t=x,v1=\udcff", SECRET, BODY)


def test_documented_node_verifier_agrees():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    snippet = re.search(r"```js\n(const crypto.*?)```", DOC.read_text(), re.S).group(1)
    import time

    now = int(time.time())
    cases = [
        (signature_header([SECRET, OLD], now, BODY), OLD, BODY, True),
        (signature_header([SECRET], now, BODY), SECRET, BODY + b"x", False),
        (signature_header([SECRET], now - 301, BODY), SECRET, BODY, False),
        ("t=1,v1=zz", SECRET, BODY, False),
    ]
    for header, secret, body, expected in cases:
        script = snippet + (
            f"process.stdout.write(String(verifyFasthook({json.dumps(header)}, "
            f"{json.dumps(secret)}, Buffer.from({json.dumps(body.hex())}, 'hex'))));"
        )
        result = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30)
        assert result.stdout == str(expected).lower(), result.stderr
