"""Issue triggers through the API: the new team's default, CRUD, validation, and the system
destination/connection each channel is delivered through (hidden from their own routes)."""

from __future__ import annotations

from api.app_keys import VIEW
from api.issue_triggers import channel_ids


async def test_a_new_team_has_the_default_delivery_trigger(api):
    status, page = await api.call("GET", "/v1/issue-triggers")
    assert status == 200 and page["count"] == 1
    [trigger] = page["models"]
    assert trigger["type"] == "delivery" and trigger["action"] == "notify"
    assert trigger["configs"]["connections"] == "*"
    assert trigger["configs"]["strategy"] == "final_attempt"
    assert trigger["channels"] == {"webhook": None, "slack": None}
    assert trigger["id"].startswith("itr_")


async def test_channels_get_system_entities_hidden_from_their_routes(api):
    body = {
        "name": "pager",
        "type": "delivery",
        "action": "pause",
        "configs": {
            "strategy": "consecutive",
            "count": 3,
            "response_status_codes": ["500-599"],
            "resolve_after_ms": 2000,
        },
        "channels": {
            "webhook": {"url": "https://ops.example.com/hook"},
            "slack": {"url": "https://hooks.slack.com/services/T/B/X"},
        },
    }
    status, trigger = await api.call("POST", "/v1/issue-triggers", body)
    assert status == 201, trigger
    destination_id, connection_id = channel_ids(trigger["id"], "webhook")
    assert trigger["channels"]["webhook"] == {
        "url": "https://ops.example.com/hook",
        "destination_id": destination_id,
        "connection_id": connection_id,
    }
    assert trigger["configs"]["count"] == 3 and trigger["configs"]["escalate_at"]
    view = api.app[VIEW]
    held = view.get("destination", destination_id)
    assert held is not None and held.entity["config"]["auth_type"] == "FASTHOOK_SIGNATURE"
    assert view.get("connection", connection_id).entity["system"] == "issue_trigger"
    # Hidden: not listed, not addressable.
    _, destinations = await api.call("GET", "/v1/destinations")
    assert destination_id not in {d["id"] for d in destinations["models"]}
    status, _ = await api.call("GET", f"/v1/connections/{connection_id}")
    assert status == 404

    # Dropping a channel deletes its entities; deleting the trigger deletes the rest.
    body["channels"] = {"webhook": {"url": "https://ops.example.com/hook"}}
    status, _ = await api.call("PUT", f"/v1/issue-triggers/{trigger['id']}", body)
    assert status == 200
    slack_destination, _ = channel_ids(trigger["id"], "slack")
    assert view.get("destination", slack_destination) is None
    assert view.get("destination", destination_id) is not None
    status, _ = await api.call("DELETE", f"/v1/issue-triggers/{trigger['id']}")
    assert status == 200
    assert view.get("destination", destination_id) is None
    assert view.get("connection", connection_id) is None


async def test_invalid_trigger_configs_name_the_field(api):
    status, problem = await api.call(
        "POST",
        "/v1/issue-triggers",
        {
            "name": "bad",
            "type": "delivery",
            "configs": {"strategy": "sometimes", "response_status_codes": ["5xx"]},
        },
    )
    assert status == 422
    paths = {e["path"] for e in problem["errors"]}
    assert "configs.strategy" in paths and "configs.response_status_codes[0]" in paths
    status, problem = await api.call(
        "POST",
        "/v1/issue-triggers",
        {"name": "bad", "type": "backpressure", "configs": {"destinations": ["con_1"]}},
    )
    assert status == 422 and problem["errors"][0]["path"].startswith("configs.destinations")
    status, problem = await api.call(
        "POST",
        "/v1/issue-triggers",
        {"name": "bad", "type": "backpressure", "configs": {"destinations": "*"}},
    )
    assert status == 422 and "pending_count" in problem["errors"][0]["message"], problem
    status, problem = await api.call(
        "POST",
        "/v1/issue-triggers",
        {"name": "bad", "type": "delivery", "channels": {"email": {"url": "x"}}},
    )
    assert status == 422 and problem["errors"][0]["path"] == "channels.email"
    status, problem = await api.call(
        "POST",
        "/v1/issue-triggers",
        {"name": "bad", "type": "delivery", "configs": {"connections": ["con_nothere"]}},
    )
    assert status == 422 and problem["errors"][0]["path"] == "configs.connections[0]"
