"""The config entities' shapes are what the API writes, and a ConfigChanged record carries
an entity through the codec unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from api.entities import new_analyst, new_api_key, new_entity, new_team
from api.issue_triggers import IssueTriggerIn, companions
from api.models import ConnectionIn, DestinationIn, SourceIn
from runtime.secrets import SecretBox, generate_key
from schemas.codec import decode, encode
from schemas.entities import (
    Analyst,
    ApiKey,
    Connection,
    Destination,
    IssueTrigger,
    Source,
    Team,
    config_record,
    entity_of,
)

BOX = SecretBox(generate_key())


def keys_fit(entity: dict[str, Any], shape: Any) -> None:
    assert shape.__required_keys__ <= set(entity), shape.__required_keys__ - set(entity)
    assert set(entity) <= shape.__required_keys__ | shape.__optional_keys__, (
        set(entity) - shape.__required_keys__ - shape.__optional_keys__
    )


def written(kind: str, model: Any, body: dict[str, Any]) -> dict[str, Any]:
    return new_entity(kind, "tm_1", model.model_validate(body).model_dump(mode="json"), BOX)


@pytest.mark.parametrize(
    ("kind", "model", "body", "shape"),
    [
        (
            "source",
            SourceIn,
            {"name": "s", "config": {"auth_type": "TWILIO", "auth": {"auth_token": "t"}}},
            Source,
        ),
        (
            "destination",
            DestinationIn,
            {"name": "d", "config": {"url": "https://x.example"}},
            Destination,
        ),
        (
            "connection",
            ConnectionIn,
            {
                "name": "c",
                "source_id": "src_1",
                "destination_id": "des_1",
                "rules": [{"type": "delay", "delay": 5}],
            },
            Connection,
        ),
        ("issue_trigger", IssueTriggerIn, {"name": "t", "type": "delivery"}, IssueTrigger),
    ],
)
def test_a_team_entity_has_the_shape_the_api_writes(
    kind: str, model: Any, body: dict[str, Any], shape: Any
) -> None:
    keys_fit(written(kind, model, body), shape)


def test_teams_keys_analysts_and_companions_have_their_shapes() -> None:
    keys_fit(new_team("t", BOX), Team)
    keys_fit(new_api_key("k", ["tm_1"])[1], ApiKey)
    keys_fit(new_analyst("a", None)[1], Analyst)
    trigger = written(
        "issue_trigger",
        IssueTriggerIn,
        {
            "name": "t",
            "type": "delivery",
            "channels": {"webhook": {"url": "https://hooks.example/x"}},
        },
    )
    made = companions(trigger)
    assert {kind for kind, _ in made} == {"destination", "connection"}
    for kind, entity in made:
        keys_fit(entity, Destination if kind == "destination" else Connection)


def test_an_entity_travels_through_its_record_unchanged() -> None:
    entity = written("source", SourceIn, {"name": "s"})
    record = config_record("source", entity, version=3, now_ms=1_700_000_000_000)
    back = decode(encode("ConfigChanged", record), "ConfigChanged")
    assert (back["entity_id"], back["team_id"], back["version"]) == (entity["id"], "tm_1", 3)
    assert entity_of(back) == entity
