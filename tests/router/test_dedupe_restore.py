"""The router's dedupe state outlives its worker: restored from `router.dedupe.seen` when the
candidates' partitions are assigned again, so a repeat after a restart is still dropped."""

from __future__ import annotations

import signal

from tests.api.test_guide import GUIDE_BODY
from tests.router.test_routing_flow import FORM, outcomes, setup_connection
from tests.router.test_rules_flow import post
from tests.support.kafka import read_topic


async def test_a_repeat_after_a_sigkill_and_restart_is_still_a_duplicate(
    router, ingress, producer, settings, bootstrap
):
    rules = [
        {
            "type": "deduplicate",
            "window": 600_000,  # far longer than the test: only the restart may forget it
            "include_fields": ["headers.i-twilio-idempotency-token"],
        }
    ]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    token = [FORM, ("I-Twilio-Idempotency-Token", "9a1c0d7e-restart")]
    first = await post(ingress, source, GUIDE_BODY, token)
    found = await outcomes(bootstrap, settings, [first])
    assert found[first][0] == "EVENT"
    state = await read_topic(bootstrap, settings.topics.router_dedupe_seen, raw=True)
    assert state, "the first candidate's state was stored"

    router.signal(signal.SIGKILL)
    await router.wait_exit(10)
    router.start()
    await router.wait_ready(f"http://127.0.0.1:{settings.router_port}/readyz", 60)

    repeat = await post(ingress, source, GUIDE_BODY, token)
    other = await post(ingress, source, GUIDE_BODY, [FORM, ("I-Twilio-Idempotency-Token", "y")])
    found = await outcomes(bootstrap, settings, [first, repeat, other], timeout_s=60)
    assert found[repeat][0] == "DUPLICATE", found[repeat]
    assert found[first][1]["event_id"] in found[repeat][1]["detail"]
    assert found[other][0] == "EVENT"
