"""Provider presets on the real ingress and broker: requests signed by the provider's own
library are accepted; a changed body byte, a wrong secret and an expired timestamp are answered
401 and recorded as VERIFICATION_FAILED with a detail; the signature headers are stored byte for
byte (evidence a receiver verifies again), accepted or not."""

from __future__ import annotations

import time

import pytest

from tests.ingress.test_provider_presets import BODY, PRESETS, TIMED
from tests.support.http import send_raw
from tests.support.ingress import declare_source
from tests.support.kafka import read_topic

# Over VERIFY_ON_LOOP_MAX_BYTES: verified in a worker thread, with the same verdicts.
BIG_BODY = b'{"data":"' + b"x" * (200 * 1024) + b'"}'


def stored_headers(record: dict) -> list[tuple[str, str]]:
    return [(h["name"], h["value"]) for h in record["headers"]]


@pytest.mark.parametrize("kind", PRESETS)
async def test_preset_verdicts_are_answered_and_recorded(
    kind, ingress, producer, settings, bootstrap
):
    auth, sign, wrong = PRESETS[kind]
    source = await declare_source(
        producer, settings, name=kind.lower(), config={"auth_type": kind, "auth": auth}
    )
    await ingress.wait_for_source(source)
    now = int(time.time())
    stamp = {"stamp": now} if kind in TIMED else {}
    cases = {
        "signed": (sign(BODY, **stamp), BODY),
        "big": (sign(BIG_BODY, **stamp), BIG_BODY),
        "changed byte": (sign(BODY, **stamp), BODY.replace(b"2000", b"2001")),
        "changed byte, big": (sign(BIG_BODY, **stamp), BIG_BODY[:-3] + b'y"}'),
        "wrong secret": (sign(BODY, **wrong, **stamp), BODY),
    }
    if kind in TIMED:
        cases["expired"] = (sign(BODY, stamp=now - 3600), BODY)
    answers = {
        name: await send_raw(ingress.source_url(source), "POST", headers, body)
        for name, (headers, body) in cases.items()
    }

    assert {name: a.status for name, a in answers.items()} == {
        name: 200 if name in ("signed", "big") else 401 for name in cases
    }
    records = await read_topic(bootstrap, settings.topics.requests, expect=len(cases))
    by_id = {r["request_id"]: r for r in records}
    for name, answer in answers.items():
        record = by_id[answer.header("x-fasthook-request-id")]
        headers, _ = cases[name]
        for header in headers:  # the provider's signature, as sent
            assert header in stored_headers(record), (name, header)
        if name in ("signed", "big"):
            assert (record["status"], record["rejection_cause"]) == ("accepted", None)
            assert record["verification"] == {"method": kind, "verified": True, "detail": None}
            assert record["body"] == cases[name][1]
        else:
            assert (record["status"], record["rejection_cause"]) == (
                "rejected",
                "VERIFICATION_FAILED",
            ), name
            verification = record["verification"]
            assert (verification["method"], verification["verified"]) == (kind, False)
            expected = "tolerance" if name == "expired" else "signature mismatch"
            assert expected in verification["detail"], (name, verification)
