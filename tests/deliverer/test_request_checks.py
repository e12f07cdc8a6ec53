"""What may not be sent as built is found before anything is sent, header by header."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from deliverer.outgoing import HttpRequest
from deliverer.sending import request_problem

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)
_CONTROL = {chr(c) for c in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F)}

names = st.one_of(
    st.sampled_from(["Content-Type", "x-fasthook-event-id", "X-Twilio-Signature", "accept"]),
    st.text(alphabet="aZ-_: \r\n(é", min_size=1, max_size=8),
)
values = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="ab \t\r\n\x00\x7fé", max_size=10),
    st.binary(max_size=10),
)


def _one_by_one(headers: list[tuple[str, str | bytes]]) -> bool:
    """Whether every header may go, read the plain way: a token name, no control character
    (CR, LF, NUL, …; HTAB allowed) in the value, bytes read as Latin-1."""
    for name, value in headers:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if not _TOKEN.fullmatch(name) or set(text) & _CONTROL:
            return False
    return True


@given(st.lists(st.tuples(names, values), max_size=10))
def test_a_request_goes_exactly_when_every_header_may(
    headers: list[tuple[str, str | bytes]],
) -> None:
    request = HttpRequest("POST", "http://127.0.0.1:8080/hook", headers, b"body")
    problem = request_problem(request)
    assert (problem is None) == _one_by_one(headers)
    if problem is not None:
        # The first header that may not go is the one named.
        first = next(n for n, v in headers if not _one_by_one([(n, v)]))
        assert repr(first) in problem
