"""The product guide's curl calls, against FastHook, changing only the host and the key."""

from __future__ import annotations

from tests.support.http import send_raw
from tests.support.ingress import start_ingress

TWILIO_SOURCE = {
    "name": "Twilio status callbacks",
    "description": "Twilio messaging and voice status callback source",
    "type": "WEBHOOK",
    "status": "enabled",
    "config": {
        "auth_type": None,
        "auth": None,
        "allowed_http_methods": ["POST", "GET"],
        "custom_response": {"content_type": "json", "body": '{"queued":true}'},
    },
}
TWIML_SOURCE = {
    "name": "Twilio static TwiML",
    "description": "Only for callbacks where one static TwiML response is enough",
    "type": "WEBHOOK",
    "status": "enabled",
    "config": {
        "auth_type": None,
        "auth": None,
        "allowed_http_methods": ["POST", "GET"],
        "custom_response": {
            "content_type": "xml",
            "body": "<Response><Message>Thanks, we received your message.</Message></Response>",
        },
    },
}
RECEIVER = {
    "name": "Twilio callback receiver",
    "type": "HTTP",
    "config": {
        "url": "https://api.example.com/webhooks/twilio/status",
        "http_method": "POST",
        "auth_type": "FASTHOOK_SIGNATURE",
        "auth": {},
    },
}


def guide_connection(source_id: str, destination_id: str) -> dict:
    return {
        "name": "twilio-status-to-receiver",
        "source_id": source_id,
        "destination_id": destination_id,
        "rules": [
            {
                "type": "filter",
                "headers": {"x-twilio-signature": {"$exists": True}},
                "path": {"$in": ["/twilio/status", "/messages/status"]},
            },
            {
                "type": "retry",
                "strategy": "exponential",
                "count": 5,
                "interval": 60000,
                "response_status_codes": ["429", "500-599"],
            },
        ],
    }


GUIDE_BODY = (
    b"MessageSid=SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&MessageStatus=delivered&SmsStatus=delivered"
    b"&To=%2B18005551212&From=%2B18005550199&AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    b"&ErrorCode="
)


async def test_guide_calls_create_a_working_setup(api, settings):
    team = api.team["id"]
    status, source = await api.call("POST", "/v1/sources", TWILIO_SOURCE, team_id=team)
    assert status == 201, source
    assert source["id"].startswith("src_") and source["url"].startswith(settings.public_base_url)
    assert source["config"]["custom_response"] == TWILIO_SOURCE["config"]["custom_response"]
    status, twiml = await api.call("POST", "/v1/sources", TWIML_SOURCE, team_id=team)
    assert status == 201, twiml
    status, destination = await api.call("POST", "/v1/destinations", RECEIVER, team_id=team)
    assert status == 201, destination
    assert destination["config"]["auth_type"] == "FASTHOOK_SIGNATURE"
    status, connection = await api.call(
        "POST", "/v1/connections", guide_connection(source["id"], destination["id"]), team_id=team
    )
    assert status == 201, connection
    assert connection["rules"][1]["response_status_codes"] == ["429", "500-599"]

    ingress = await start_ingress(settings.with_(public_url=""))
    try:
        # The API printed URLs on its own public base; the ingress here listens elsewhere.
        json_url = f"{ingress.base_url}/{source['url'].rsplit('/', 1)[1]}/twilio/status"
        xml_url = f"{ingress.base_url}/{twiml['url'].rsplit('/', 1)[1]}/twilio/status"
        form = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Twilio-Signature", "Np1nax6uFoY6qpfT5l9jWwJeit0="),
            ("I-Twilio-Idempotency-Token", "20d7190c-25a7-4f2a-a137-1f7d68f7c1d4"),
        ]
        for _ in range(100):
            answer = await send_raw(json_url, "POST", form, GUIDE_BODY)
            if answer.status != 404:
                break
        assert (answer.status, answer.header("Content-Type"), answer.body) == (
            200,
            "application/json",
            b'{"queued":true}',
        )
        answer = await send_raw(xml_url, "POST", form, GUIDE_BODY)
        assert (answer.status, answer.header("Content-Type")) == (200, "text/xml")
        assert answer.body == TWIML_SOURCE["config"]["custom_response"]["body"].encode()
    finally:
        await ingress.runner.cleanup()
