"""Issue triggers: what opens an issue (delivery failures, transformation errors, backpressure),
who is told (channels) and what is done (notify, or pause the connection).

A trigger is a config entity like a connection. Each channel of a trigger is delivered as an
event by the deliverer, so it needs a destination and a connection the deliverer knows: the
trigger's *companions*, system entities written with the trigger and deleted with it, with ids
derived from the trigger's (the issues job computes the same ids). They are hidden from the
destination and connection routes; the trigger's channels name them, so the notifications can
be found with `GET /v1/events?connection_id=…`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, HttpUrl, ValidationError, model_validator

from api.fields import INTEGRAL, field_problems
from api.models import Name, Strict, Version, id_pattern
from schemas.entities import EntityType
from schemas.issues import MIN_TRIGGER_MS, channel_ids
from schemas.status_codes import parse_status_code_expression

ConnectionIds = (
    Literal["*"]
    | Annotated[
        list[Annotated[str, Field(pattern=id_pattern("con"))]], Field(min_length=1, max_length=100)
    ]
)
DestinationIds = (
    Literal["*"]
    | Annotated[
        list[Annotated[str, Field(pattern=id_pattern("des"))]], Field(min_length=1, max_length=100)
    ]
)


def _status_codes(expression: str) -> str:
    parse_status_code_expression(expression)  # a ValueError says what is wrong
    return expression


StatusCodes = Annotated[str, AfterValidator(_status_codes)]
Millis = Annotated[int, Field(ge=MIN_TRIGGER_MS, le=30 * 24 * 3_600_000), INTEGRAL]

# Defaults of what the contract leaves open (docs/api.md says them).
RESOLVE_AFTER_MS = 5 * 60_000
NOTIFY_INTERVAL_MS = 60 * 60_000
ESCALATE_AT = [10, 100, 1_000, 10_000]
CONSECUTIVE_COUNT = 5
# Notifications are retried like any event: 6 tries over about 5 minutes.
NOTIFICATION_RETRY = {
    "type": "retry",
    "strategy": "exponential",
    "count": 5,
    "interval": 10_000,
    "response_status_codes": None,
}
CHANNELS = ("webhook", "slack")
SYSTEM = "issue_trigger"


class _Timing(Strict):
    resolve_after_ms: Millis = Field(
        RESOLVE_AFTER_MS,
        description="An open issue resolves once deliveries succeed again "
        "and no failure was seen for this long",
    )
    notify_interval_ms: Millis = Field(
        NOTIFY_INTERVAL_MS,
        description="At most one escalation notification per issue per "
        "interval (open and resolve always notify)",
    )
    escalate_at: Annotated[list[Annotated[int, Field(ge=2), INTEGRAL]], Field(max_length=20)] = (
        Field(
            default_factory=lambda: list(ESCALATE_AT),
            description="Counts whose crossing notifies again (issue.updated)",
        )
    )


class DeliveryConfigs(_Timing):
    connections: ConnectionIds = "*"
    strategy: Literal["first_attempt", "final_attempt", "consecutive"] = "final_attempt"
    count: Annotated[int, Field(ge=1, le=10_000), INTEGRAL] | None = Field(
        None, description=f"consecutive: failed attempts in a row (default {CONSECUTIVE_COUNT})"
    )
    response_status_codes: Annotated[list[StatusCodes], Field(max_length=50)] | None = None
    error_codes: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=50)]
        | None
    ) = None

    @model_validator(mode="after")
    def _count(self) -> DeliveryConfigs:
        if self.count is not None and self.strategy != "consecutive":
            raise ValueError("count goes with strategy consecutive")
        return self


class TransformationConfigs(_Timing):
    connections: ConnectionIds = "*"


class BackpressureConfigs(_Timing):
    destinations: DestinationIds = "*"
    pending_count: Annotated[int, Field(ge=1), INTEGRAL] | None = None
    oldest_pending_ms: Millis | None = None

    @model_validator(mode="after")
    def _threshold(self) -> BackpressureConfigs:
        if self.pending_count is None and self.oldest_pending_ms is None:
            raise ValueError("needs pending_count or oldest_pending_ms (or both)")
        return self


CONFIGS: dict[str, type[Strict]] = {
    "delivery": DeliveryConfigs,
    "transformation": TransformationConfigs,
    "backpressure": BackpressureConfigs,
}


class Channel(Strict):
    url: HttpUrl


class Channels(Strict):
    webhook: Channel | None = None
    slack: Channel | None = None


class IssueTriggerIn(Strict):
    name: Name
    type: Literal["delivery", "transformation", "backpressure"]
    configs: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "delivery {connections: '*' | [con_…], strategy: first_attempt|final_attempt|"
            "consecutive, count?, response_status_codes?, error_codes?} | transformation "
            "{connections} | backpressure {destinations, pending_count?, oldest_pending_ms?}; "
            "each also {resolve_after_ms, notify_interval_ms, escalate_at}"
        ),
    )
    channels: Channels = Field(default_factory=Channels)
    action: Literal["notify", "pause"] = "notify"
    status: Literal["enabled", "disabled"] = "enabled"

    def problems(self) -> list[tuple[str, str]]:
        try:
            checked = CONFIGS[self.type].model_validate(self.configs)
        except ValidationError as exc:
            return field_problems(exc.errors(), "configs")
        self.configs = checked.model_dump(mode="json")
        return []


class ChannelOut(BaseModel):
    url: str
    destination_id: str
    connection_id: str = Field(description="Notifications are events of this connection")


class IssueTriggerOut(BaseModel):
    id: str
    team_id: str
    name: str
    type: str
    configs: dict[str, Any]
    channels: dict[str, ChannelOut | None]
    action: str
    status: str
    disabled_at: str | None
    created_at: str
    updated_at: str
    version: Version


def check_trigger(view: Any, team_id: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """The connections and destinations a trigger names are the team's own."""
    errors = []
    for field, kind in (("connections", "connection"), ("destinations", "destination")):
        named = body["configs"].get(field)
        for i, entity_id in enumerate(named if isinstance(named, list) else ()):
            held = view.get(kind, entity_id, team_id)
            if held is None or held.entity.get("system"):
                errors.append((f"configs.{field}[{i}]", f"no {kind} {entity_id} in this team"))
    return errors


def default_trigger() -> dict[str, Any]:
    """What a new team gets: delivery failures on every connection, final attempts, notify."""
    model = IssueTriggerIn(
        name="delivery failures",
        type="delivery",
        configs={"connections": "*", "strategy": "final_attempt"},
    )
    model.problems()
    return model.model_dump(mode="json")


# --- companions: a channel's system destination and connection ----------------------------
def companions(trigger: dict[str, Any]) -> list[tuple[EntityType, dict[str, Any]]]:
    """The system entities that deliver the trigger's channels, as (kind, entity)."""
    found: list[tuple[EntityType, dict[str, Any]]] = []
    stamp = {k: trigger[k] for k in ("team_id", "created_at", "updated_at")}
    for channel in CHANNELS:
        spec = (trigger.get("channels") or {}).get(channel)
        if not spec:
            continue
        destination_id, connection_id = channel_ids(trigger["id"], channel)
        system = {"system": SYSTEM, "issue_trigger_id": trigger["id"], "channel": channel}
        signed = channel == "webhook"  # Slack authenticates by its URL; it ignores ours
        found.append(
            (
                "destination",
                {
                    "id": destination_id,
                    **stamp,
                    **system,
                    "name": f"{trigger['name']} ({channel})",
                    "description": None,
                    "type": "HTTP",
                    "status": "enabled",
                    "disabled_at": None,
                    "config": {
                        "url": spec["url"],
                        "http_method": "POST",
                        "auth_type": "FASTHOOK_SIGNATURE" if signed else None,
                        "auth": {} if signed else None,
                        "rate_limit": None,
                        "rate_limit_period": None,
                        "path_forwarding": False,
                        "timeout_ms": 10_000,
                    },
                },
            )
        )
        found.append(
            (
                "connection",
                {
                    "id": connection_id,
                    **stamp,
                    **system,
                    "name": f"{trigger['name']} ({channel})",
                    "description": None,
                    "source_id": "",
                    "destination_id": destination_id,
                    "status": "enabled",
                    "disabled_at": None,
                    "paused_at": None,
                    "rules": [NOTIFICATION_RETRY],
                },
            )
        )
    return found


def trigger_view(trigger: dict[str, Any]) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for channel in CHANNELS:
        spec = (trigger.get("channels") or {}).get(channel)
        if spec:
            destination_id, connection_id = channel_ids(trigger["id"], channel)
            channels[channel] = {
                "url": spec["url"],
                "destination_id": destination_id,
                "connection_id": connection_id,
            }
        else:
            channels[channel] = None
    return {**trigger, "channels": channels}
