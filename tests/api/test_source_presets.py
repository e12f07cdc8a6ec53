"""Provider presets through the API: the types are known (and documented in OpenAPI), defaults
are filled in, secrets are write-only and sealed at rest, and the source says which preset
verifies it."""

from __future__ import annotations

import base64
import json

import pytest

from api.openapi import openapi_document
from tests.api.test_validation import paths
from tests.support.kafka import read_topic

SW_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-secret-0123456").decode()
PRESETS = {
    "STRIPE": {"webhook_secret_key": "whsec_stripe-secret-71ab09"},
    "GITHUB": {"webhook_secret_key": "github-secret-5c4d3e2f"},
    "SHOPIFY": {"webhook_secret_key": "shopify-secret-9a8b7c6d"},
    "SLACK": {"signing_secret": "slack-signing-secret-1f2e3d"},
    "STANDARD_WEBHOOKS": {"webhook_secret_key": SW_SECRET},
}
TIMED = {"STRIPE", "SLACK", "STANDARD_WEBHOOKS"}


async def test_presets_are_created_with_defaults_and_write_only_sealed_secrets(
    api, settings, bootstrap
):
    responses = []
    for kind, auth in PRESETS.items():
        body = {"name": kind.lower(), "config": {"auth_type": kind, "auth": auth}}
        status, created = await api.call("POST", "/v1/sources", body)
        assert status == 201, created
        status, shown = await api.call("GET", f"/v1/sources/{created['id']}")
        assert status == 200
        assert shown["config"]["auth_type"] == kind
        assert shown["config"]["auth"] == ({"tolerance_s": 300} if kind in TIMED else {})
        responses += [created, shown]
    raw = await read_topic(bootstrap, settings.topics.config, raw=True)
    at_rest = b"".join((m.value or b"") for m in raw).decode("latin-1")
    for auth in PRESETS.values():
        (secret,) = auth.values()
        assert secret not in json.dumps(responses)
        assert secret not in at_rest


@pytest.mark.parametrize(
    ("auth_type", "auth", "path"),
    [
        ("STRIPE", {}, "config.auth.webhook_secret_key"),
        ("STRIPE", {"webhook_secret_key": "k", "tolerance_s": 0}, "config.auth.tolerance_s"),
        ("SLACK", {"webhook_secret_key": "k"}, "config.auth.signing_secret"),
        ("GITHUB", {"webhook_secret_key": "k", "tolerance_s": 300}, "config.auth.tolerance_s"),
        (
            "STANDARD_WEBHOOKS",
            {"webhook_secret_key": "whsec_not base64!"},
            "config.auth.webhook_secret_key",
        ),
        ("STANDARD_WEBHOOKS", {"webhook_secret_key": "whsec_"}, "config.auth.webhook_secret_key"),
    ],
)
async def test_preset_config_errors_point_at_the_field(api, auth_type, auth, path):
    body = {"name": "x", "config": {"auth_type": auth_type, "auth": auth}}
    status, problem = await api.call("POST", "/v1/sources", body)
    assert status == 422, problem
    assert path in paths(problem), problem


def test_the_openapi_document_knows_the_presets():
    schema = openapi_document()["components"]["schemas"]["SourceConfig"]["properties"]
    kinds = json.dumps(schema["auth_type"])
    for kind in PRESETS:
        assert f'"{kind}"' in kinds
        assert kind in schema["auth"]["description"]
