"""After a transformation, what filters see is the view of the request as changed — parsed
again only where the transformation changed it (router.conversions.view_after)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.conversions import apply_transformation, request_view, transformation_input, view_after
from tests.router.test_transformation_output import FORM_BODY, ORIGINAL

PROVIDER = {"event_type": "message.failed"}
FORM_TEXT = FORM_BODY.decode()  # a form body read as plain text


@given(
    body=st.none() | st.dictionaries(st.sampled_from(["MessageStatus", "To"]), st.text(max_size=5)),
    query=st.none() | st.sampled_from(["a=1", "tenant=b&x=", ""]),
    path=st.none() | st.sampled_from(["/other", "/twilio/status"]),
    header=st.none() | st.sampled_from(["application/json", "text/plain", "x"]),
)
def test_the_view_after_a_transformation_is_the_view_of_what_it_made(
    body, query, path, header
) -> None:
    view = request_view(ORIGINAL, PROVIDER)
    before = transformation_input(view, ORIGINAL)
    after = {**before, "headers": dict(before["headers"])}
    if body is not None:
        after["body"] = body
    if query is not None:
        after["query"] = query
    if path is not None:
        after["path"] = path
    if header is not None:
        after["headers"]["content-type"] = header
    changed = apply_transformation(ORIGINAL, before, after)
    assert view_after(view, ORIGINAL, changed, PROVIDER) == request_view(changed, PROVIDER)


def test_what_the_transformation_left_alone_is_not_parsed_again() -> None:
    view = request_view(ORIGINAL, PROVIDER)
    before = transformation_input(view, ORIGINAL)
    changed = apply_transformation(ORIGINAL, before, {**before, "path": "/elsewhere"})
    after = view_after(view, ORIGINAL, changed, PROVIDER)
    assert after["path"] == "/elsewhere"
    assert after["body"] is view["body"] and after["query"] is view["query"]


def test_a_header_change_keeps_the_body_view_unless_the_content_type_changed() -> None:
    view = request_view(ORIGINAL, PROVIDER)
    before = transformation_input(view, ORIGINAL)
    headers = {**before["headers"], "x-status": "failed"}
    changed = apply_transformation(ORIGINAL, before, {**before, "headers": headers})
    after = view_after(view, ORIGINAL, changed, PROVIDER)
    assert after["headers"]["x-status"] == "failed" and after["body"] is view["body"]
    retyped = {**before["headers"], "content-type": "text/plain"}
    changed = apply_transformation(ORIGINAL, before, {**before, "headers": retyped})
    assert view_after(view, ORIGINAL, changed, PROVIDER)["body"] == FORM_TEXT
