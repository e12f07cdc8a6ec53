"""The deliverer's view opens a team's signing secrets once, not per delivery, and a rotation
(or deletion) is seen at once."""

from __future__ import annotations

import json
import time

import pytest

from api.entities import new_team, rotate_signing_secret
from deliverer.view import DeliveryView
from runtime.errors import SettingsError
from runtime.secrets import SecretBox, generate_key


class CountingBox(SecretBox):
    """A real box that counts how often it decrypts."""

    opened = 0

    def open(self, sealed: dict[str, str]) -> str:
        self.opened += 1
        return super().open(sealed)


def team_record(team: dict) -> dict:
    return {"entity_type": "team", "entity": json.dumps(team)}


def test_secrets_are_opened_once_and_rotations_seen_at_once():
    box = CountingBox(generate_key())
    view = DeliveryView(box)
    team = new_team("t", box)
    view.apply(team["id"], team_record(team))
    current = box.open(team["signing_secret"]["current"])
    box.opened = 0
    assert all(view.signing_secrets(team["id"]) == [current] for _ in range(1000))
    assert box.opened == 1

    rotated = rotate_signing_secret(team, box, grace_s=3600)
    view.apply(team["id"], team_record(rotated))
    new = box.open(rotated["signing_secret"]["current"])
    assert view.signing_secrets(team["id"]) == [new, current]  # the old one during its grace
    assert view.signing_secrets(team["id"], now_s=time.time() + 7200) == [new]

    view.apply(team["id"], None)  # deleted
    assert view.signing_secrets(team["id"]) == []


def test_a_secret_that_does_not_open_still_fails_the_delivery_that_needs_it():
    box = SecretBox(generate_key())
    team = new_team("t", SecretBox(generate_key()))  # sealed under another key
    view = DeliveryView(box)
    view.apply(team["id"], team_record(team))
    for _ in range(2):  # every time, not only the first
        with pytest.raises(SettingsError):
            view.signing_secrets(team["id"])
