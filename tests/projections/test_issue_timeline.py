"""An issue's timeline from its changes, pure: runs of counts folded, the job's confirmation of
a status asked through the API not shown twice."""

from __future__ import annotations

from projections.issues import timeline
from projections.rows import project

T0 = 1_700_000_000_000


def change(version: int, change: str, status: str, count: int, actor: str = "job") -> dict:
    return {
        "version": version,
        "change": change,
        "status": status,
        "count": count,
        "actor": actor,
        "changed_at": T0 + version,
    }


def test_counts_fold_and_confirmations_disappear():
    entries = timeline(
        [
            change(1, "opened", "OPENED", 1),
            change(2, "count", "OPENED", 4),
            change(3, "count", "OPENED", 9),
            change(4, "escalated", "OPENED", 10),
            change(5, "status", "ACKNOWLEDGED", 10, "api"),
            change(6, "status", "ACKNOWLEDGED", 10),
            change(7, "count", "ACKNOWLEDGED", 12),
            change(8, "status", "OPENED", 12, "api"),
            change(9, "status", "OPENED", 12),
            change(10, "resolved", "RESOLVED", 12),
        ]
    )
    assert [(e["kind"], e["count"], e["actor"]) for e in entries] == [
        ("opened", 1, "job"),
        ("counted", 9, "job"),
        ("escalated", 10, "job"),
        ("acknowledged", 10, "api"),
        ("counted", 12, "job"),
        ("reopened", 12, "api"),
        ("resolved", 12, "job"),
    ]
    assert entries[0]["at"].endswith("Z") and entries[-1]["status"] == "RESOLVED"


def test_resolved_by_hand_is_one_entry():
    entries = timeline(
        [
            change(1, "opened", "OPENED", 1),
            change(2, "status", "RESOLVED", 1, "api"),
            change(3, "resolved", "RESOLVED", 1),
        ]
    )
    assert [(e["kind"], e["actor"]) for e in entries] == [("opened", "job"), ("resolved", "api")]


def test_every_issue_record_is_also_a_timeline_row():
    issue = {
        "team_id": "tm_1",
        "issue_id": "iss_1",
        "type": "delivery",
        "status": "OPENED",
        "issue_trigger_id": "itr_1",
        "connection_id": "con_1",
        "destination_id": "des_1",
        "source_id": "src_1",
        "response_status": 500,
        "error_code": None,
        "count": 3,
        "first_seen_at": T0,
        "last_seen_at": T0,
        "opened_at": T0,
        "resolved_at": None,
        "updated_at": T0,
        "sample_event_ids": [],
        "sample_request_ids": [],
        "detail": None,
        "paused_at": None,
        "version": 2,
    }
    rows = dict(
        project(
            "issues",
            "iss_1",
            {"issue": issue, "change": "count", "actor": "job", "changed_at": T0 + 5},
            T0,
            0,
        )
    )
    assert rows["issue_changes"] == {
        "team_id": "tm_1",
        "issue_id": "iss_1",
        "version": 2,
        "actor": "job",
        "change": "count",
        "status": "OPENED",
        "count": 3,
        "changed_at": T0 + 5,
    }
