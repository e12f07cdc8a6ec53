"""`fasthook listen` as a developer runs it: a subprocess against the real stack (the API as its
own process), forwarding to a real local aiohttp server."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import pexpect
import pytest
from twilio.request_validator import RequestValidator

from deliverer.signatures import verify
from fasthook.embedded import free_port
from projections.clickhouse import Engine
from runtime.settings import Settings
from tests.api.test_guide import GUIDE_BODY
from tests.support.listen import ListenStack, listen_stack, until_delivered
from tests.support.poll import eventually
from tests.support.receiver import Received, Receiver
from tests.support.stack import stack_settings

TOKEN = "0123456789abcdef0123456789abcdef"
FORM = [("Content-Type", "application/x-www-form-urlencoded")]


def fails_first_time() -> tuple[Counter[str], object]:
    """An answer: 500 to an event's first arrival, 200 after."""
    seen: Counter[str] = Counter()

    def answer(_: int, got: Received) -> tuple[int, dict[str, str]]:
        seen[got.header("x-fasthook-event-id") or ""] += 1
        return (500 if seen[got.header("x-fasthook-event-id") or ""] == 1 else 200), {}

    return seen, answer


@pytest.fixture
async def stack(settings: Settings, engine: Engine, tmp_path) -> AsyncIterator[ListenStack]:
    _, answer = fails_first_time()
    local = Receiver(answer=answer)  # type: ignore[arg-type]
    await local.start()
    async with listen_stack(stack_settings(settings, engine), engine, tmp_path, local) as s:
        yield s


async def twilio_source(stack: ListenStack, name: str) -> dict:
    status, source = await stack.call(
        "POST",
        "/v1/sources",
        {"name": name, "config": {"auth_type": "TWILIO", "auth": {"auth_token": TOKEN}}},
    )
    assert status == 201, source
    return source


def signed(url: str, body: bytes = GUIDE_BODY) -> list[tuple[str, str | bytes]]:
    params = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    return [*FORM, ("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(url, params))]


async def test_twilio_callback_reaches_the_local_server_exactly_and_is_retried(stack):
    source = await twilio_source(stack, "twilio")
    cli = stack.start_cli(
        str(stack.local.port), "--source", "twilio", "--output", "json", "--path", "/hooks"
    )
    try:
        await cli.wait_stderr("connected")
        url = source["url"] + "/twilio/status?tenant=a%20b"
        request_id = await until_delivered(stack, url, signed(url), GUIDE_BODY)

        # Byte-identical, both signatures valid, at the session's path + the request's path.
        first = next(
            r for r in stack.local.received if r.header("x-fasthook-request-id") == request_id
        )
        assert first.body == GUIDE_BODY
        assert first.path_qs == "/hooks/twilio/status?tenant=a%20b"
        assert first.header("x-fasthook-source-url") == url
        params = {k: v[0] for k, v in parse_qs(first.body.decode(), keep_blank_values=True).items()}
        assert RequestValidator(TOKEN).validate(url, params, first.header("X-Twilio-Signature"))
        _, team = await stack.call("GET", "/v1/team")
        assert verify(
            first.header("x-fasthook-signature"), team["signing_secret"]["current"], first.body
        )
        assert first.header("x-fasthook-relay-token") is None

        # 500, then the connection's retry rule (the session's default) brings a 200.
        event_id = first.header("x-fasthook-event-id")
        attempts = await stack.attempts(event_id, 2)
        assert [
            (a["attempt_number"], a["trigger"], a["status"], a["response_status"])
            for a in attempts[:2]
        ] == [(1, "INITIAL", "FAILED", 500), (2, "AUTOMATIC", "SUCCESSFUL", 200)]
        assert attempts[0]["requested_url"].endswith("/hooks/twilio/status?tenant=a%20b")
        second = [r for r in stack.local.received if r.header("x-fasthook-event-id") == event_id]
        assert second[1].body == GUIDE_BODY and second[1].header("x-fasthook-attempt") == "2"

        # The session's own JSON lines, one per forward.
        async def lines() -> list[dict]:
            return [x for x in cli.json_lines() if x["event_id"] == event_id]

        shown = await eventually(lines, 30, "two JSON lines")
        assert len(shown) >= 2
        assert {k: shown[0][k] for k in ("request_id", "method", "path", "local_status")} == {
            "request_id": request_id,
            "method": "POST",
            "path": "/hooks/twilio/status?tenant=a%20b",
            "local_status": 500,
        }
        assert isinstance(shown[0]["latency_ms"], int)
        assert shown[1]["local_status"] == 200

        # The session's destination and connection, as the API shows them.
        _, destinations = await stack.call("GET", "/v1/destinations")
        [mine] = [d for d in destinations["models"] if d["type"] == "CLI"]
        assert mine["config"]["path"] == "/hooks"
    finally:
        assert await cli.stop() == 0
    assert "Traceback" not in cli.stderr()


async def test_sessions_of_one_team_each_get_their_own_events(stack, tmp_path):
    await twilio_source(stack, "twilio")
    second = await twilio_source(stack, "twilio-eu")
    other = Receiver()
    await other.start()
    mine = stack.start_cli(
        str(stack.local.port),
        "--source",
        "twilio",
        "--source",
        second["id"],
        "--output",
        "json",
        "--name",
        "ada",
        name="ada",
    )
    theirs = stack.start_cli(
        str(other.port), "--source", "twilio", "--output", "json", "--name", "bob", name="bob"
    )
    try:
        await mine.wait_stderr("connected")
        await theirs.wait_stderr("connected")
        _, source = await stack.call("GET", "/v1/sources?name=twilio")
        url = source["models"][0]["url"] + "/status"

        async def both() -> bool:
            await stack.post(url, signed(url), GUIDE_BODY)
            await asyncio.sleep(0.5)
            return bool(stack.local.received) and bool(other.received)

        await eventually(both, 60, "both sessions forwarded an event")
        assert not set(stack.local.event_ids()) & set(other.event_ids())

        # One session, several sources: the second source's events reach ada alone.
        second_url = second["url"] + "/eu"
        request_id = await until_delivered(stack, second_url, signed(second_url), GUIDE_BODY)
        assert request_id not in {r.header("x-fasthook-request-id") for r in other.received}
        _, connections = await stack.call("GET", "/v1/connections")
        assert {c["name"] for c in connections["models"]} == {
            "twilio to ada",
            "twilio-eu to ada",
            "twilio to bob",
        }
    finally:
        await mine.stop()
        await theirs.stop()
        await other.stop()


async def test_local_server_down_at_start_waits_for_it(stack):
    source = await twilio_source(stack, "twilio")
    port = free_port()
    cli = stack.start_cli(str(port), "--source", "twilio", "--output", "compact")
    try:
        await cli.wait_stderr("nothing answers at http://localhost:")
        await cli.wait_stderr("connected")
        assert cli.process.poll() is None  # it waits, as documented
        assert "Traceback" not in cli.stderr()
        down_lines = [line for line in cli.stderr().splitlines() if "nothing answers" in line]
        assert len(down_lines) == 1 and "connection refused" in down_lines[0]

        local = Receiver(port=port)
        await local.start()
        try:
            await cli.wait_stderr("answers now")
            url = source["url"] + "/status"

            async def arrived() -> bool:
                await stack.post(url, signed(url), GUIDE_BODY)
                await asyncio.sleep(1)
                return bool(local.received)

            await eventually(arrived, 60, "an event forwarded once the server is up")
        finally:
            await local.stop()
    finally:
        assert await cli.stop() == 0
    assert "POST /status → 204" in cli.stdout()


async def test_usage_and_not_found_exit_codes(stack):
    missing = stack.start_cli("3000", "--source", "no-such-source", name="missing")
    assert await asyncio.to_thread(missing.process.wait, 60) == 4
    assert "no source named 'no-such-source'" in missing.stderr()
    bad = stack.start_cli("3000", "--source", "x", "--filter-body", "[1", name="bad")
    assert await asyncio.to_thread(bad.process.wait, 60) == 2
    assert "--filter-body is not JSON" in bad.stderr()
    assert "Traceback" not in missing.stderr() + bad.stderr()


async def test_the_session_reconnects_after_the_api_restarts_and_gets_what_it_missed(stack):
    source = await twilio_source(stack, "twilio")
    cli = stack.start_cli(str(stack.local.port), "--source", "twilio", "--output", "json")
    try:
        await cli.wait_stderr("connected")
        url = source["url"] + "/status"
        await until_delivered(stack, url, signed(url), GUIDE_BODY)
        # No retry rule: what the session misses comes back only by its catch-up on reconnect.
        _, connections = await stack.call("GET", "/v1/connections")
        [connection] = connections["models"]
        status, _ = await stack.call(
            "PUT",
            f"/v1/connections/{connection['id']}",
            {
                "name": connection["name"],
                "source_id": connection["source_id"],
                "destination_id": connection["destination_id"],
                "rules": [],
            },
        )
        assert status == 200
        await asyncio.sleep(1)  # lets the deliverer's view take the new rules

        stack.api.kill()  # SIGKILL: the socket drops as a network failure would drop it
        missed = [await stack.post(url, signed(url), GUIDE_BODY) for _ in range(3)]
        await cli.wait_stderr("reconnecting")

        async def failed_meanwhile() -> bool:
            page = await stack.query("/v1/events?error_code=CLI_DISCONNECTED&status=FAILED")
            return set(missed) <= {e["request_id"] for e in page["models"]}

        await eventually(failed_meanwhile, 60, "the events failed as CLI_DISCONNECTED", 0.3)
        await stack.start_api()
        await cli.wait_stderr("reconnected")

        async def all_arrived() -> bool:
            got = {r.header("x-fasthook-request-id") for r in stack.local.received}
            return set(missed) <= got

        await eventually(all_arrived, 120, "the events sent while the API was down", 0.5)
        # Each failed as CLI_DISCONNECTED and came back by the session's catch-up (a bulk retry).
        event_id = next(
            r.header("x-fasthook-event-id")
            for r in stack.local.received
            if r.header("x-fasthook-request-id") == missed[0]
        )
        attempts = await stack.attempts(event_id, 2)
        assert (attempts[0]["error_code"], attempts[0]["trigger"]) == (
            "CLI_DISCONNECTED",
            "INITIAL",
        )
        assert attempts[-1]["trigger"] == "BULK_RETRY"
    finally:
        assert await cli.stop() == 0
    assert "Traceback" not in cli.stderr()


async def test_interactive_mode_shows_each_event_and_retries_the_selected_one(stack):
    source = await twilio_source(stack, "twilio")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "fasthook", "listen", str(stack.local.port), "--source", "twilio"],
        env={**stack.cli_env(), "TERM": "xterm-256color"},
        dimensions=(30, 200),
        timeout=60,
    )

    async def expect(pattern: str) -> None:
        await asyncio.to_thread(child.expect, pattern)

    def row(*cells: str) -> str:
        # Cells apart by spaces, and by the terminal's colour codes around some of them.
        return r"(?:\x1b\[[0-9;]*m|\s)+".join(cells)

    try:
        await expect("connected")
        url = source["url"] + "/twilio/status"
        request_id = await until_delivered(stack, url, signed(url), GUIDE_BODY)
        event_id = next(
            r.header("x-fasthook-event-id")
            for r in stack.local.received
            if r.header("x-fasthook-request-id") == request_id
        )
        # The event's line: status, method, path, local status, latency, id.
        await expect(row("FAIL", "POST", "/twilio/status", "500", r"\d+ ms", event_id + " #1"))
        await expect(row("OK", "POST", "/twilio/status", "200", r"\d+ ms", event_id + " #2"))

        child.send("r")  # retries the selected (newest) event
        await expect("retry of " + event_id + " requested")
        attempts = await stack.attempts(event_id, 3)
        assert "MANUAL" in {a["trigger"] for a in attempts}

        child.send("d")  # its data
        await expect("x-fasthook-signature")
        child.send("o")
        await expect(f"open \\S+/events/{event_id}")
        child.send("q")
        await asyncio.to_thread(child.expect, pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
