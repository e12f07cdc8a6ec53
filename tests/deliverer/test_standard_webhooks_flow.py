"""A STANDARD_WEBHOOKS destination behind the real deliverer: the receiver verifies every
delivery with the `standardwebhooks` library, before and after a secret rotation."""

from __future__ import annotations

import base64
import json

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from api.config_log import publish_entity
from api.entities import rotate_signing_secret
from deliverer.keys import VIEW
from runtime.secrets import SecretBox
from tests.support.deliverer import attempts_for, declare_pipe, make_event, publish_events
from tests.support.poll import eventually
from tests.support.receiver import Received, Receiver

RETRY = {
    "type": "retry",
    "strategy": "linear",
    "count": 3,
    "interval": 100,
    "response_status_codes": ["500"],
}
# A secret as issued before `whsec_` + standard base64: unpadded base64url.
OLD_SECRET = "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode().rstrip("=")


def verifier(secret: str) -> Webhook:
    # What the docs tell a receiver holding an old-format secret: its bytes are the raw key.
    return Webhook(secret.encode() if secret == OLD_SECRET else secret)


class VerifyingReceiver:
    """Answers 204 only when every secret it holds verifies the delivery, else 401; fails the
    first call after the rotation with a 500 once, so a retry is verified too."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.refusals: list[str] = []
        self.fail_once_at: int | None = None

    def answer(self, n: int, got: Received) -> tuple[int, dict[str, str]]:
        names = [name.lower() for name, _ in got.headers]
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            if names.count(name) != 1:
                self.refusals.append(f"call {n}: {names.count(name)} {name} headers")
                return 401, {}
        for secret in self.secrets:
            try:
                verifier(secret).verify(got.body, dict(got.headers))
            except WebhookVerificationError as exc:
                self.refusals.append(f"call {n}, secret {secret[:10]}…: {exc}")
                return 401, {}
        if n == self.fail_once_at:
            return 500, {}
        return 204, {}


@pytest.mark.parametrize("first_secret", ["issued now", "issued before"])
async def test_receiver_verifies_every_delivery_across_a_rotation(
    deliverer, producer, settings, bootstrap, first_secret
):
    verifying = VerifyingReceiver()
    receiver = await Receiver(answer=verifying.answer).start()
    try:
        pipe = await declare_pipe(
            producer, settings, receiver.url + "/hook", [RETRY], auth_type="STANDARD_WEBHOOKS"
        )
        box = SecretBox(settings.secret_key)
        team = pipe.team
        if first_secret == "issued before":
            team = {
                **team,
                "signing_secret": {**team["signing_secret"], "current": box.seal(OLD_SECRET)},
            }
            await publish_entity(producer, settings.topics.config, "team", team, version=2)
        old = box.open(team["signing_secret"]["current"])
        view = deliverer.app[VIEW]

        async def team_holds(secrets: list[str]) -> bool:
            return view.signing_secrets(team["id"]) == secrets

        await eventually(lambda: team_holds([old]), 10, "the team's secret in the view")
        verifying.secrets = [old]
        body = json.dumps({"type": "message.status", "status": "délivré"}).encode()
        before = [
            make_event(pipe, body, headers=[("Content-Type", "application/json")]) for _ in range(2)
        ]
        await publish_events(producer, settings, before)
        await attempts_for(bootstrap, settings, [e["event_id"] for e in before], 2)

        rotated = rotate_signing_secret(team, box, grace_s=3600)
        await publish_entity(producer, settings.topics.config, "team", rotated, version=3)
        new = box.open(rotated["signing_secret"]["current"])
        await eventually(lambda: team_holds([new, old]), 10, "the rotated secret in the view")
        # Inside the grace period a receiver holding either secret verifies every delivery.
        verifying.secrets = [new, old]
        verifying.fail_once_at = len(receiver.received) + 1
        after = [
            make_event(pipe, body, headers=[("Content-Type", "application/json")]) for _ in range(2)
        ]
        await publish_events(producer, settings, after)
        events = before + after
        attempts = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 4)

        assert verifying.refusals == []
        assert [attempts[e["event_id"]][-1]["event_status"] for e in events] == ["SUCCESSFUL"] * 4
        assert sum(len(a) for a in attempts.values()) == 5  # one retry, verified as well
        assert len(receiver.received) == 5
        for got in receiver.received:
            assert got.header("webhook-id") == got.header("x-fasthook-event-id")
            assert got.header("x-fasthook-signature") is None
        assert len(set(receiver.event_ids())) == 4
        # The attempt keeps what was signed: a signature is evidence, not a credential.
        first = attempts[after[0]["event_id"]][0]
        stored = {h["name"]: h["value"] for h in first["request_headers"]}
        assert stored["webhook-id"] == after[0]["event_id"]
        assert stored["webhook-signature"].count("v1,") == 2
        assert new.startswith("whsec_") and len(base64.b64decode(new[6:], validate=True)) == 32
    finally:
        await receiver.stop()
