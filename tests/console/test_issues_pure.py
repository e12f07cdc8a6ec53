"""The issues pages' pure decisions: status changes offered, what a replay takes, and how an
issue reads in a list."""

from __future__ import annotations

from console.issue_views import (
    ISSUE_FILTERS,
    affected,
    allowed_status,
    as_params,
    keys_text,
    scope_text,
    status_actions,
)
from console.views import page_params


def test_status_changes_offered_follow_the_status():
    assert [t for t, _ in status_actions("OPENED")] == ["ACKNOWLEDGED", "RESOLVED", "IGNORED"]
    assert allowed_status("ACKNOWLEDGED", "OPENED") and allowed_status("IGNORED", "RESOLVED")
    assert not allowed_status("OPENED", "OPENED")
    assert status_actions("RESOLVED") == () and not allowed_status("RESOLVED", "OPENED")
    assert not allowed_status("OPENED", "DELETED")


def test_affected_is_the_events_or_the_requests_query():
    events = {
        "events_query": {"connection_id": "con_1", "status": "FAILED"},
        "requests_query": None,
    }
    requests = {"events_query": None, "requests_query": {"ignored_cause": "X"}}
    assert affected(events) == ("events", {"connection_id": "con_1", "status": "FAILED"})
    assert affected(requests) == ("requests", {"ignored_cause": "X"})
    assert affected({"events_query": None, "requests_query": None}) is None
    assert as_params({"response_status": 500, "error_code": None}) == {
        "response_status": "500",
        "limit": "50",
    }


def test_an_issue_reads_by_its_keys_and_where_it_is():
    names = {"con_1": "payments"}, {"des_1": "billing"}
    assert keys_text({"aggregation_keys": {"response_status": 502}}) == "HTTP 502"
    assert keys_text({"aggregation_keys": {"error_code": "TIMEOUT"}}) == "TIMEOUT"
    assert scope_text({"connection_id": "con_1", "destination_id": "des_1"}, *names) == "payments"
    assert scope_text({"connection_id": None, "destination_id": "des_1"}, *names) == "billing"
    assert scope_text({"connection_id": "con_9"}, *names) == "con_9"


def test_the_list_filters_become_the_api_parameters():
    params = page_params(
        {"status": "OPENED", "type": "delivery", "next": "c1", "x": "y"}, ISSUE_FILTERS
    )
    assert params == {"status": "OPENED", "type": "delivery", "next": "c1", "limit": "50"}
