"""`fasthook run` (what `make run` starts): embedded broker, topics, ingress, banner, Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time

import aiohttp

from fasthook.embedded import free_port
from tests.support.kafka import read_topic


async def test_fasthook_run_serves_the_demo_source_and_stops_cleanly(tmp_path):
    kafka_port, ingress_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTHOOK_")}
    env.update(FASTHOOK_DATA_DIR=str(tmp_path / "data"), FASTHOOK_INGRESS_PORT=str(ingress_port),
               FASTHOOK_LOG_FORMAT="text")
    process = subprocess.Popen(
        [sys.executable, "-m", "fasthook", "run", "--kafka-port", str(kafka_port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    output = b""
    try:
        deadline = time.monotonic() + 60
        while b"Ctrl-C stops everything" not in output:
            assert time.monotonic() < deadline and process.poll() is None, output.decode()
            output += await asyncio.to_thread(process.stdout.readline)
        text = output.decode()
        match = re.search(r"Demo source:\s+(http://\S+)", text)
        assert match, text
        source_url = match.group(1)

        callback = {"MessageStatus": "sent"}
        async with aiohttp.ClientSession() as http:
            async with http.post(source_url + "/twilio/status", data=callback) as r:
                assert r.status == 200
                assert await r.json() == {"queued": True}
                request_id = r.headers["x-fasthook-request-id"]
        records = await read_topic(f"127.0.0.1:{kafka_port}", "fasthook.requests", expect=1)
        assert records[0]["request_id"] == request_id

        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 30) == 0
        assert not _listening(ingress_port) and not _listening(kafka_port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
