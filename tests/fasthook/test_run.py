"""`fasthook run` (what `make run` starts): embedded broker, topics, ingress, API, banner,
Ctrl-C — and a second run on the same data rebuilds every view from the topics."""

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
from tests.api.test_guide import RECEIVER, guide_connection
from tests.support.kafka import read_topic
from tests.support.poll import eventually


class Stack:
    def __init__(self, tmp_path) -> None:
        self.ports = {"kafka": free_port(), "ingress": free_port(),
                      "ingress_metrics": free_port(), "api": free_port(),
                      "router": free_port(), "deliverer": free_port(),
                      "projections": free_port()}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FASTHOOK_")}
        self.env.update(FASTHOOK_DATA_DIR=str(tmp_path / "data"), FASTHOOK_LOG_FORMAT="text",
                        FASTHOOK_INGRESS_PORT=str(self.ports["ingress"]),
                        FASTHOOK_INGRESS_METRICS_PORT=str(self.ports["ingress_metrics"]),
                        FASTHOOK_API_PORT=str(self.ports["api"]),
                        FASTHOOK_ROUTER_PORT=str(self.ports["router"]),
                        FASTHOOK_DELIVERER_PORT=str(self.ports["deliverer"]),
                        FASTHOOK_PROJECTIONS_PORT=str(self.ports["projections"]))
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> dict[str, str]:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fasthook", "run", "--kafka-port", str(self.ports["kafka"])],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        output = b""
        deadline = time.monotonic() + 90
        while b"Ctrl-C stops everything" not in output:
            assert time.monotonic() < deadline and self.process.poll() is None, output.decode()
            output += await asyncio.to_thread(self.process.stdout.readline)
        text = output.decode()
        found = {
            "api": re.search(r"API:\s+(http://\S+)/v1", text),
            "key": re.search(r"API key:\s+(fhp_\S+)", text),
            "source_url": re.search(r"Demo source:\s+(http://\S+)", text),
            "source_id": re.search(r"Demo source:.*\((src_\w+)\)", text),
            "metrics": re.search(r"Ingress metrics:\s+(http://\S+)", text),
        }
        assert all(found.values()), text
        return {name: match.group(1) for name, match in found.items()}

    async def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(self.process.wait, 30) == 0
        for port in self.ports.values():
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def test_fasthook_run_serves_and_survives_a_full_restart(tmp_path):
    stack = Stack(tmp_path)
    try:
        first = await stack.start()
        auth = {"Authorization": f"Bearer {first['key']}"}
        async with aiohttp.ClientSession() as http:
            callback = {"MessageStatus": "sent"}
            async with http.post(first["source_url"] + "/twilio/status", data=callback) as r:
                assert r.status == 200 and await r.json() == {"queued": True}
                request_id = r.headers["x-fasthook-request-id"]
            async with http.post(first["api"] + "/v1/destinations", json=RECEIVER,
                                 headers=auth) as r:
                assert r.status == 201
                destination = await r.json()
            connection = guide_connection(first["source_id"], destination["id"])
            async with http.post(first["api"] + "/v1/connections", json=connection,
                                 headers=auth) as r:
                assert r.status == 201
            # The ingress's metrics (they name every source) only on its private port.
            async with http.get(first["metrics"]) as r:
                assert r.status == 200 and first["source_id"] in await r.text()
            public_root = first["source_url"].rsplit("/", 1)[0]
            async with http.get(public_root + "/metrics") as r:
                assert r.status == 404
        records = await read_topic(f"127.0.0.1:{stack.ports['kafka']}", "fasthook.requests",
                                   expect=1)
        assert records[0]["request_id"] == request_id

        # The router is part of the stack: a callback through the guide's connection is routed.
        async def routed() -> bool:
            async with aiohttp.ClientSession() as http, http.post(
                first["source_url"] + "/twilio/status", data=callback,
                headers={"X-Twilio-Signature": "sig"},
            ) as r:
                routed_id = r.headers["x-fasthook-request-id"]
            events = await read_topic(f"127.0.0.1:{stack.ports['kafka']}", "fasthook.events")
            return any(e["request_id"] == routed_id for e in events)
        await eventually(routed, 30, "a callback routed to an event", 0.5)

        # And the request is searchable through the API (projections run in the stack).
        async def searchable() -> bool:
            async with aiohttp.ClientSession() as http, http.get(
                f"{first['api']}/v1/requests?q={request_id}", headers=auth
            ) as r:
                return r.status == 200 and (await r.json())["count"] == 1
        await eventually(searchable, 30, "the request searchable through the API", 0.2)
        await stack.stop()

        second = await stack.start()
        assert second == first  # same key, same demo source id and URL
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{second['api']}/v1/destinations/{destination['id']}",
                                headers=auth) as r:
                assert r.status == 200 and await r.json() == destination
            async with http.post(second["source_url"] + "/twilio/status", data=callback) as r:
                assert r.status == 200
        await stack.stop()
    finally:
        stack.kill()
