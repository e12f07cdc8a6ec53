"""`fasthook bulk retry` as a real process against a running stack: many failed events, the
plan's count and progress on stderr, the job ends COMPLETED and every event SUCCESSFUL; and
in a terminal, Ctrl-C mid-job cancels the job through the API."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator

import pexpect
import pytest

from projections.keys import BULK
from runtime.settings import Settings
from tests.support.cli import Cli
from tests.support.http import send_raw
from tests.support.poll import eventually
from tests.support.receiver import Receiver
from tests.support.stack import Stack, running_stack, stack_settings

# The issue asks for 500; a loaded 2-core machine does it in about a minute.
COUNT = 500
PROGRESS = re.compile(r"bulk retry (blk_\w+): (\d+)/(\d+) events")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@pytest.fixture
def settings(settings: Settings, engine) -> Settings:
    return stack_settings(settings, engine)


class Outage:
    """The receiver's answer: 500 while `down`, then 200."""

    def __init__(self) -> None:
        self.down = True

    def __call__(self, n: int, received: object) -> tuple[int, dict[str, str]]:
        return (500, {}) if self.down else (200, {})


@pytest.fixture
async def outage() -> Outage:
    return Outage()


@pytest.fixture
async def stack(settings: Settings, engine, tmp_path, outage: Outage) -> AsyncIterator[Stack]:
    async with running_stack(settings, engine, tmp_path, Receiver(answer=outage)) as running:
        yield running


async def failed_events(stack: Stack, fasthook: Cli, count: int) -> str:
    """`count` events that failed (no retry rule: one attempt each); their source's id."""
    await fasthook("sources", "create", "--name", "sms")
    await fasthook("destinations", "create", "--name", "app", "--url", stack.receiver.url + "/hook")
    await fasthook(
        "connections", "create", "--name", "sms-to-app", "--source", "sms", "--destination", "app"
    )
    source = (await fasthook("sources", "get", "sms", "-o", "json")).json()

    async def served() -> bool:
        return (await send_raw(source["url"], "POST", [], b"warm-up")).status == 200

    await eventually(served, 10, "the source served")
    gate = asyncio.Semaphore(20)

    async def post(i: int) -> None:
        async with gate:
            answer = await send_raw(
                source["url"] + "/twilio/status",
                "POST",
                [("Content-Type", "application/x-www-form-urlencoded")],
                f"MessageStatus=failed&n={i}".encode(),
            )
            assert answer.status == 200

    await asyncio.gather(*(post(i) for i in range(count - 1)))

    plan = {"query": {"source_id": source["id"], "status": "FAILED"}}

    async def planned() -> bool:
        status, body = await stack.api.call("POST", "/v1/bulk/events/retry/plan", plan)
        assert status == 200, body
        return body["estimated_count"] == count

    await eventually(planned, 240, f"{count} failed events", 0.5)
    return source["id"]


async def start(fasthook: Cli, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fasthook",
        *args,
        env={**os.environ, **fasthook.env()},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_bulk_retry_shows_progress_and_ends_successful(
    stack: Stack, outage: Outage, tmp_path
):
    fasthook = Cli(stack.api.url, stack.api.key, tmp_path / "config.json")
    source_id = await failed_events(stack, fasthook, COUNT)
    outage.down = False
    # Smaller pages, so the job takes several steps a watcher can see.
    stack.projections.app[BULK].page_size = 50
    stack.projections.app[BULK].pause_s = 0.1

    # Without --yes and without a terminal to ask on: a usage error, nothing started.
    refused = await fasthook.process(
        "bulk", "retry", "events", "--filter", f"source_id={source_id}", "--filter", "status=FAILED"
    )
    assert refused.code == 2 and f"{COUNT} events match" in refused.stderr

    done = await fasthook.process(
        "bulk",
        "retry",
        "events",
        "--filter",
        f"source_id={source_id}",
        "--filter",
        "status=FAILED",
        "--yes",
        "--output",
        "json",
        timeout_s=300,
    )
    assert done.code == 0, done.stderr
    job = json.loads(done.stdout)
    assert (job["status"], job["processed_count"]) == ("COMPLETED", COUNT)
    counts = [int(m.group(2)) for m in PROGRESS.finditer(done.stderr)]
    assert len(counts) >= 3 and counts == sorted(counts) and counts[-1] == COUNT, done.stderr
    assert done.stderr.index(f"{COUNT} events match") < done.stderr.index("started bulk retry")

    async def all_successful() -> bool:
        # Paged through by the CLI (250 a page): every one of them, delivered.
        events = (
            await fasthook("events", "list", "--source", source_id, "--limit", "1000", "-o", "json")
        ).lines()
        assert len(events) == COUNT
        return all(e["status"] == "SUCCESSFUL" for e in events)

    await eventually(all_successful, 240, "every event SUCCESSFUL", 1)


async def test_ctrl_c_in_a_terminal_cancels_the_bulk_job(stack: Stack, outage: Outage, tmp_path):
    """In a pseudo-terminal, as a person runs it: rich's live bar moves, Ctrl-C (the
    terminal's SIGINT) cancels the job through the API, and the command exits 130 cleanly."""
    fasthook = Cli(stack.api.url, stack.api.key, tmp_path / "config.json")
    count = 200
    source_id = await failed_events(stack, fasthook, count)
    # Slow pages: the job is still running when the user presses Ctrl-C.
    stack.projections.app[BULK].page_size = 5
    stack.projections.app[BULK].pause_s = 0.5
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "fasthook",
            "bulk",
            "retry",
            "events",
            "--filter",
            f"source_id={source_id}",
            "--yes",
            "--output",
            "json",
        ],
        env={**os.environ, **fasthook.env()},
        encoding="utf-8",
        dimensions=(40, 160),
        timeout=120,
    )
    try:
        # The blocking pexpect calls run in threads: this loop serves the API meanwhile.
        await asyncio.to_thread(child.expect, f"{count} events match")
        await asyncio.to_thread(child.expect, rf"retrying events.*?\b([1-9]\d*)/{count}")
        child.sendintr()
        await asyncio.to_thread(child.expect, pexpect.EOF, 60)
        screen = ANSI.sub("", child.before)
        child.close()
        assert child.exitstatus == 130, screen
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)
    assert "Traceback" not in screen and "cancelling bulk retry" in screen
    job = json.loads(next(line for line in screen.splitlines() if line.startswith('{"id"')))
    assert job["status"] == "CANCELLED" and job["processed_count"] < count
    stored = (await fasthook("bulk", "get", "events", job["id"], "-o", "json")).json()
    assert stored["status"] == "CANCELLED"
    again = await fasthook("bulk", "cancel", "events", job["id"], "-o", "json")
    assert again.json()["status"] == "CANCELLED"  # cancelling twice is harmless
    later = (await fasthook("bulk", "get", "events", job["id"], "-o", "json")).json()
    assert later["processed_count"] == stored["processed_count"]  # it stopped for good
