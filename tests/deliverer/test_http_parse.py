"""The deliverer's response parser: framing by length, chunks or close, however bytes arrive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverer.errors import BadResponse
from deliverer.http_parse import ResponseParser

CAPTURE = 64 * 1024
END = b"0\r\nX-T: 1\r\n\r\n"  # the last chunk, a trailer, the end


def parse(wire: bytes, cuts: list[int], head_request: bool = False, capture: int = CAPTURE):
    """`wire` fed in pieces cut at `cuts`; the parser and whether it said done."""
    parser = ResponseParser(head_request, capture)
    done = False
    start = 0
    for cut in [*sorted(set(cuts)), len(wire)]:
        if start < cut <= len(wire):
            done = parser.feed(wire[start:cut])
            start = cut
            if done:
                break
    return parser, done


def chunked(body: bytes, size: int) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + END


bodies = st.binary(max_size=3000)
cut_points = st.lists(st.integers(min_value=0, max_value=4000), max_size=20)


@given(bodies, cut_points)
def test_a_content_length_body_is_read_whole_however_it_is_split(body, cuts):
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-A: b\r\n\r\n%s" % (len(body), body)
    parser, done = parse(wire, cuts)
    assert done and parser.complete and parser.reusable
    assert (parser.status, parser.headers, bytes(parser.body)) == (
        200,
        [("Content-Length", str(len(body))), ("X-A", "b")],
        body,
    )


@given(bodies, st.integers(min_value=1, max_value=700), cut_points)
def test_a_chunked_body_is_joined_however_it_is_split(body, size, cuts):
    wire = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, size)
    parser, done = parse(wire, cuts)
    assert done and parser.complete and parser.reusable
    assert (parser.status, bytes(parser.body)) == (201, body)


def test_a_body_without_length_runs_to_the_close():
    parser, done = parse(b"HTTP/1.1 200 OK\r\n\r\nsome", [])
    assert not done
    assert parser.feed(b" more") is False
    assert parser.feed_eof() and parser.complete and not parser.reusable
    assert bytes(parser.body) == b"some more"


def test_the_end_of_the_stream_before_the_length_is_no_response():
    parser, done = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", [])
    assert not done and not parser.feed_eof() and not parser.complete


def test_interim_answers_are_skipped():
    wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
    wire += b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    parser, done = parse(wire, [5, 30])
    assert done and (parser.status, bytes(parser.body)) == (200, b"ok")
    assert parser.headers == [("Content-Length", "2")]


@pytest.mark.parametrize(
    ("wire", "head_request"),
    [
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", False),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", True),  # the answer to a HEAD
    ],
)
def test_answers_that_have_no_body_end_with_their_head(wire, head_request):
    parser, done = parse(wire, [], head_request)
    assert done and parser.complete and parser.reusable and parser.body == b""


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nextra bytes nobody asked for",
    ],
)
def test_a_connection_is_reused_only_when_http_1_1_says_so(head):
    parser, done = parse(head, [])
    assert done and parser.complete and not parser.reusable


def test_http_1_0_keep_alive_is_honoured():
    parser, done = parse(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", []
    )
    assert done and parser.reusable


@given(st.integers(min_value=1, max_value=500), st.integers(min_value=0, max_value=2000))
def test_only_the_capture_is_kept_and_the_rest_is_not_waited_for(capture, extra):
    body = b"x" * (capture + extra)
    framings = [
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 97)[: -len(END)],  # never ends
        b"\r\n" + body,  # runs to the close
    ]
    for framing in framings:
        parser, done = parse(b"HTTP/1.1 200 OK\r\n" + framing, [40], capture=capture)
        assert done and bytes(parser.body) == body[:capture]
        # Complete only when the whole body came in what was fed (the rest read and dropped).
        assert parser.reusable == parser.complete
        assert not parser.complete or b"Content" in framing


def test_header_values_that_are_not_utf8_keep_their_bytes():
    parser, _ = parse(b"HTTP/1.1 200 OK\r\nX-Raw: caf\xe9\r\nContent-Length: 0\r\n\r\n", [])
    assert parser.headers[0][1].encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_folded_header_lines_are_joined():
    parser, _ = parse(b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n", [])
    assert parser.headers[0] == ("X-A", "one two")


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A : spaced name\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
    ],
)
def test_a_malformed_answer_is_named(wire):
    with pytest.raises(BadResponse) as caught:
        parse(wire, [])
    assert caught.value.code == "NETWORK_ERROR"


def test_an_endless_head_is_refused():
    parser = ResponseParser(False, CAPTURE)
    with pytest.raises(BadResponse):
        for _ in range(100):
            parser.feed(b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 2000 + b"\r\n")
